# Reference numbers from R's survey package for tests/test_proportion.py: svyciprop with every
# interval method (whole sample and svyby domains), svymean(~factor(x)) and svyby(..., covmat=TRUE).
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite
#   Rscript tests/reference/survey_proportion.R   # writes tests/reference/survey_proportion.json
#                                                  # and tests/reference/data/proportion_*.csv
#
# Data: the California API samples shipped with survey (data(api)). `sat5` is a 5-point "score"
# cut from api00, missing for every ninth school (snum %% 9 == 0), so that sat5 >= 4 is a common
# share (~85 %) and sat5 == 1 a rare one (~3 %). Domains: stype (E large; H, M a few dozen
# schools) and top (api00 >= 700: there sat5 >= 4 is 1 and sat5 == 1 is 0).
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)

prepare <- function(d, cuts) {
  d$sat5 <- as.integer(cut(d$api00, cuts, right = FALSE))
  d$sat5[d$snum %% 9 == 0] <- NA
  d$top <- ifelse(d$api00 >= 700, "yes", "no")
  d[, c("snum", "stype", "dnum", "pw", "fpc", "api00", "sat5", "top")]
}
strat_data <- prepare(apistrat, c(-Inf, 430, 480, 515, 700, Inf))
clus_data <- prepare(apiclus1, c(-Inf, 470, 495, 515, 700, Inf))
write.csv(strat_data, file.path(here, "data", "proportion_apistrat.csv"), row.names = FALSE, na = "")
write.csv(clus_data, file.path(here, "data", "proportion_apiclus1.csv"), row.names = FALSE, na = "")

designs <- list(
  strat = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat_data),
  clus = svydesign(id = ~dnum, weights = ~pw, data = clus_data)
)
designs$jk1 <- as.svrepdesign(designs$clus, type = "JK1")
# a calibrated design: post-stratified on school type (its subsets keep all rows with weight 0)
designs$ps <- postStratify(designs$clus, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))

indicators <- list(common = quote(I(sat5 >= 4)), rare = quote(I(sat5 == 1)))
methods <- c("logit", "likelihood", "asin", "beta", "mean", "xlogit")

num <- function(x) { x <- unname(as.numeric(x)); x[is.na(x)] <- NA; x }
whole <- function(r) list(estimate = num(coef(r)), se = num(SE(r)), ci = num(confint(r)))
domains <- function(r) list(names = as.character(r[[1]]), estimate = num(r[[2]]), se = num(r[[3]]),
                            ci_low = num(r$ci_l), ci_high = num(r$ci_u))
attempt <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

out <- list(meta = list(survey = as.character(packageVersion("survey")), R = R.version.string))
ciprop <- list()
for (dn in names(designs)) {
  d <- designs[[dn]]
  for (ind in names(indicators)) {
    f <- eval(bquote(~.(indicators[[ind]])))
    fm <- eval(bquote(~as.numeric(.(indicators[[ind]]))))
    m <- svymean(fm, d, na.rm = TRUE, deff = TRUE)
    entry <- list(deff = num(deff(m)), n = sum(!is.na(model.frame(d)$sat5)))  # every weight is positive
    bm <- svyby(fm, ~stype, d, svymean, na.rm = TRUE, deff = TRUE)
    entry$by_stype_deff <- num(bm[[4]])
    for (meth in methods) {
      entry[[meth]] <- list(
        whole = attempt(whole(svyciprop(f, d, method = meth, na.rm = TRUE))),
        by_stype = attempt(domains(svyby(f, ~stype, d, svyciprop, method = meth, na.rm = TRUE,
                                         vartype = c("se", "ci")))),
        by_top = attempt(domains(svyby(f, ~top, d, svyciprop, method = meth, na.rm = TRUE,
                                       vartype = c("se", "ci"))))
      )
    }
    ciprop[[dn]][[ind]] <- entry
  }
}
out$ciprop <- ciprop

# other levels and df
out$level90 <- lapply(setNames(methods, methods), function(meth)
  whole(svyciprop(~I(sat5 >= 4), designs$clus, method = meth, level = 0.9, na.rm = TRUE)))
out$df_inf <- lapply(setNames(methods[methods != "beta"], methods[methods != "beta"]), function(meth)
  whole(svyciprop(~I(sat5 == 1), designs$clus, method = meth, df = Inf, na.rm = TRUE)))

# R 4.1.1's likelihood interval on replicate weights is NA: summary.svrepglm takes the dispersion
# as sum(w~) (about n), so the profile never reaches the cutoff. The same computation with the
# dispersion of summary.svyglm (svyvar of the Pearson residuals, n/(n-1) here):
orig_summary <- survey:::summary.svrepglm
fixed_summary <- function(object, ...) {
  s <- orig_summary(object, ...)
  # svyvar() of the Pearson residuals, as residuals.svyglm and summary.svyglm compute them
  mu <- object$fitted.values
  pw <- as.numeric(unlist(object$survey.design$pweights))
  r <- (object$y - mu) * sqrt(object$prior.weights / (pw / mean(pw))) / sqrt(object$family$variance(mu))
  n <- length(r)
  s$dispersion <- n / (n - 1) * sum(pw * (r - sum(pw * r) / sum(pw))^2) / sum(pw)
  s
}
set_summary <- function(f) {  # MASS's profile calls summary() from inside the namespace
  ns <- asNamespace("survey")
  unlockBinding("summary.svrepglm", ns)
  assign("summary.svrepglm", f, envir = ns)
  lockBinding("summary.svrepglm", ns)
  registerS3method("summary", "svrepglm", f, envir = ns)
}
set_summary(fixed_summary)
out$jk1_likelihood_fixed <- list(
  common = whole(svyciprop(~I(sat5 >= 4), designs$jk1, method = "likelihood", na.rm = TRUE)),
  rare = whole(svyciprop(~I(sat5 == 1), designs$jk1, method = "likelihood", na.rm = TRUE)),
  common_by_stype = domains(svyby(~I(sat5 >= 4), ~stype, designs$jk1, svyciprop, method = "likelihood",
                                  na.rm = TRUE, vartype = c("se", "ci"))),
  rare_by_stype_E = whole(svyciprop(~I(sat5 == 1), subset(designs$jk1, stype == "E"), method = "likelihood",
                                    na.rm = TRUE))
)
set_summary(orig_summary)

# all categories at once
cats <- list()
for (dn in names(designs)) {
  d <- designs[[dn]]
  m <- svymean(~factor(sat5), d, na.rm = TRUE, deff = TRUE)
  entry <- list(estimate = num(coef(m)), se = num(SE(m)), vcov = unname(as.matrix(vcov(m))),
                deff = num(deff(m)))
  # svyby(covmat = TRUE) cannot assemble the influence functions when na.rm drops rows, so the
  # non-respondents are dropped first: subset() keeps the design whole (domain estimation).
  # The factor gets fixed levels, so that a domain without some answer still has all five columns.
  d5 <- update(subset(d, !is.na(sat5)), fsat5 = factor(sat5, levels = 1:5))
  # (R 4.1.1's svyby cannot assemble influence functions of calibrated designs either: no
  # covariance across domains for the post-stratified design.)
  calibrated <- dn == "ps"
  b <- svyby(~fsat5, ~stype, d5, svymean, na.rm = TRUE, covmat = !calibrated, deff = TRUE)
  k <- (ncol(b) - 1) / 3
  by_cat <- function(cols) num(t(as.matrix(b[, cols])))  # domain by domain, categories within
  entry$by_stype <- list(names = as.character(b[[1]]), levels = sub("fsat5", "", names(b)[1 + 1:k]),
                         estimate = by_cat(1 + 1:k), se = by_cat(1 + k + 1:k), deff = by_cat(1 + 2 * k + 1:k))
  if (!calibrated) entry$by_stype$vcov <- unname(as.matrix(vcov(b)))
  cats[[dn]] <- entry
}
out$categories <- cats

# R's spline(method = "fmm") on a profile-like set of points, and with ties
sx <- c(-2.1, -1.7, -1.2, -0.9, -0.2, 0, 0.4, 0.7, 1.5, 2.2)
sy <- c(-3.2, -2.4, -1.8, -1.1, -0.3, 0, 0.6, 1.3, 2.0, 3.7)
sp <- spline(sx, sy)
sp4 <- spline(sx[1:4], sy[1:4])
sp3 <- spline(sx[1:3], sy[1:3], n = 7)
out$spline <- list(x = sx, y = sy, xout = sp$x, yout = sp$y, yout4 = sp4$y, xout3 = sp3$x, yout3 = sp3$y)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(here, "survey_proportion.json"))
cat("wrote", file.path(here, "survey_proportion.json"), "\n")
