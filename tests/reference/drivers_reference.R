# Reference numbers for driver analysis (tests/test_drivers.py), in base R.
#
#   Rscript tests/reference/drivers_reference.R   # writes tests/reference/drivers_reference.json
#
# relaimpo (LMG) and rwa are not packaged for Debian, so both statistics are computed here from
# their definitions with lm(): the Shapley/LMG share of every predictor as the mean R² gain over all
# p! orders of entry, and Johnson's relative weights from eigen() of the predictors' correlations.
# Data: mtcars (R datasets), mpg on cyl, disp, hp, wt, qsec; and swiss (Fertility on the other five),
# with and without case weights.
suppressMessages(library(jsonlite))
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))

perms <- function(v) if (length(v) <= 1) list(v) else do.call(c, lapply(seq_along(v), function(i) lapply(perms(v[-i]), function(p) c(v[i], p))))

r2 <- function(d, y, xs, w) if (length(xs) == 0) 0 else summary(lm(reformulate(xs, y), data = d, weights = w))$r.squared

shapley <- function(d, y, xs, w) {
  gains <- setNames(numeric(length(xs)), xs)
  orders <- perms(xs)
  cache <- new.env()
  subset_r2 <- function(s) { key <- paste0("k:", paste(sort(s), collapse = "+")); if (is.null(cache[[key]])) cache[[key]] <- r2(d, y, s, w); cache[[key]] }
  for (o in orders) for (i in seq_along(o)) gains[o[i]] <- gains[o[i]] + subset_r2(o[1:i]) - subset_r2(o[seq_len(i - 1)])
  gains / length(orders)
}

relweights <- function(d, y, xs, w) {
  if (is.null(w)) w <- rep(1, nrow(d))
  r <- cov.wt(d[, c(xs, y)], wt = w / sum(w), cor = TRUE)$cor
  rxx <- r[xs, xs]; rxy <- r[xs, y]
  e <- eigen(rxx, symmetric = TRUE)
  lam <- e$vectors %*% diag(sqrt(e$values)) %*% t(e$vectors)
  beta <- solve(lam, rxy)
  setNames(as.vector((lam^2) %*% (beta^2)), xs)
}

case <- function(d, y, xs, w = NULL) {
  write.csv(d[, c(xs, y)], file.path(here, "data", paste0(deparse(substitute(d)), ".csv")), row.names = FALSE)
  list(predictors = xs, outcome = y, r2 = r2(d, y, xs, w), shapley = as.list(shapley(d, y, xs, w)),
       relative_weights = as.list(relweights(d, y, xs, w)))
}
data(mtcars); data(swiss)
w <- 1 + (seq_len(nrow(swiss)) %% 3)
out <- list(
  mtcars = case(mtcars, "mpg", c("cyl", "disp", "hp", "wt", "qsec")),
  swiss = case(swiss, "Fertility", c("Agriculture", "Examination", "Education", "Catholic", "Infant.Mortality")),
  swiss_weighted = c(case(swiss, "Fertility", c("Agriculture", "Examination", "Education", "Catholic", "Infant.Mortality"), w),
                     list(weights = w))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "drivers_reference.json"))
cat("wrote", file.path(here, "drivers_reference.json"), "\n")
