# Reference numbers for tests/test_quantile.py: R survey's svyquantile (the new implementation in
# R/newsvyquantile.R, survey >= 4.1) and svyvar.
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite
#   Rscript tests/reference/survey_quantile.R   # writes tests/reference/survey_quantile.json
#
# Data: the API samples shipped with survey (data(api)): apistrat (stratified, FPC), apiclus1
# (one-stage cluster sample, FPC; also as a JK1 replicate design) and apiclus2 (two-stage, fpc1 +
# fpc2). They are written to tests/reference/data/quantile_*.csv and read back, so that R and the
# Python tests use the very same numbers.
#
# Three deliberate departures from survey 4.1.1 are computed here with R's own code, changed
# where marked:
#  * replicate designs: svyquantile.svyrep.design in 4.1.1 ignores interval.type for "beta",
#    "xlogit" and "asin" (it always calls woodruffCI(method = "mean"); fixed in survey 4.5). The
#    reference for those is survey:::woodruffCI(..., method = interval.type) on the replicate design,
#    which is what survey 4.5 computes.
#  * interval.type = "score" (ffullerCI) maps the score-test roots back to the data with the
#    UNWEIGHTED empirical CDF, mean(x <= root), then applies the WEIGHTED quantile rule. With unequal
#    weights that returns a data value that is not the root's neighbour. The "score_weighted"
#    references below repeat ffullerCI with the weighted CDF; svyquantile's own "score" results are
#    kept for apiclus1 (equal weights) and for apistrat/apiclus2 with qrule = "math".
#  * qrule "math"/"school" for p below the first weight share return the second smallest value in
#    4.1.1 (see the svyby section); the domain tables use the rules with that case fixed. The
#    whole-sample tables never meet it and are stock 4.1.1.
# Runs in about 4 minutes (the score intervals' root searches).
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)

keep <- c("stype", "dnum", "snum", "api00", "enroll", "acs.k3", "pw")
write.csv(apistrat[, c(keep, "fpc")], file.path(here, "data", "quantile_apistrat.csv"), row.names = FALSE)
write.csv(apiclus1[, c(keep, "fpc")], file.path(here, "data", "quantile_apiclus1.csv"), row.names = FALSE)
clus2 <- apiclus2[, c(keep, "fpc1", "fpc2")]
clus2$fpc2 <- as.vector(clus2$fpc2)
write.csv(clus2, file.path(here, "data", "quantile_apiclus2.csv"), row.names = FALSE)
rd <- function(name) read.csv(file.path(here, "data", paste0("quantile_", name, ".csv")), stringsAsFactors = TRUE)
apistrat_ <- rd("apistrat"); apiclus1_ <- rd("apiclus1"); apiclus2_ <- rd("apiclus2")

designs <- list(
  strat = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat_),
  clus1 = svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1_),
  clus2 = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2_),
  jk1 = as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1_), type = "JK1")
)
probs <- c(0.1, 0.25, 0.5, 0.9)
variables <- c("api00", "enroll")
qrules <- c("math", "school", "hf1", "hf2", "hf3", "hf4", "hf5", "hf6", "hf7", "hf8", "hf9")

out <- list(meta = list(survey = as.character(packageVersion("survey")), R = R.version.string,
                        quantiles = probs, variables = variables))
out$clus2_weights <- unname(weights(designs$clus2))

# one row per (variable, quantile); NA where R gives NaN or fails (e.g. no sign change for uniroot)
tidy <- function(rows) {
  rows <- do.call(rbind, rows)
  list(variable = rows$variable, quantile = rows$quantile, estimate = rows$estimate, se = rows$se,
       ci_low = rows$ci_low, ci_high = rows$ci_high)
}
one <- function(design, v, p, ...) {
  res <- tryCatch(suppressWarnings(svyquantile(as.formula(paste0("~", v)), design, p, ci = TRUE,
                                               na.rm = TRUE, ...)),
                  error = function(e) NULL)
  if (is.null(res)) return(data.frame(variable = v, quantile = p, estimate = NA, se = NA, ci_low = NA, ci_high = NA))
  m <- res[[1]]
  data.frame(variable = v, quantile = p, estimate = m[, 1], ci_low = m[, 2], ci_high = m[, 3], se = m[, 4])
}
table_of <- function(design, vars = variables, p = probs, ...) {
  tidy(unlist(lapply(vars, function(v) lapply(p, function(pp) one(design, v, pp, ...))), recursive = FALSE))
}

# ---- svyquantile: every interval type and quantile rule R offers for the design -------------------
for (dn in c("strat", "clus1", "clus2")) {
  for (it in c("mean", "beta", "xlogit", "asin", "score")) for (qr in qrules) {
    if (it == "score" && dn != "clus1" && qr != "math") next   # unequal weights: see score_weighted
    out[[paste("quantile", dn, it, qr, sep = "_")]] <- table_of(designs[[dn]], interval.type = it, qrule = qr)
  }
}
for (it in c("mean", "quantile")) for (qr in qrules) {
  out[[paste("quantile_jk1", it, qr, sep = "_")]] <- table_of(designs$jk1, interval.type = it, qrule = qr)
}
# the call as a user writes it, both variables at once (no missing values: same as one at a time)
joint <- svyquantile(~api00 + enroll, designs$strat, probs, ci = TRUE)
out$quantile_strat_joint <- list(estimate = unname(coef(joint)), se = unname(SE(joint)),
                                 ci_low = unname(confint(joint)[, 1]), ci_high = unname(confint(joint)[, 2]))

# replicate designs, interval types that 4.1.1 does not pass on (see the header): woodruffCI itself
woodruff_rep <- function(design, it, qr, vars = variables, p = probs) {
  rows <- list()
  w <- weights(design, "sampling")
  rule <- get(paste0("qrule_", qr), envir = asNamespace("survey"))
  df <- degf(design)
  for (v in vars) for (pp in p) {
    x <- design$variables[[v]]
    qhat <- rule(x, w, pp)
    ci <- survey:::woodruffCI(x, qhat, pp, design, rule, 0.05, df, method = it)
    rows[[length(rows) + 1]] <- data.frame(variable = v, quantile = pp, estimate = qhat, ci_low = ci[1],
                                           ci_high = ci[2], se = unname(diff(ci)) / (2 * qt(0.975, df)))
  }
  tidy(rows)
}
for (it in c("beta", "xlogit", "asin")) for (qr in c("math", "school", "hf7")) {
  out[[paste("quantile_jk1", it, qr, sep = "_")]] <- woodruff_rep(designs$jk1, it, qr)
}

# the score interval with the weighted CDF to map the roots back to the data (see the header)
ffuller_weighted <- function(x, qhat, p, design, qrule, alpha, df) {
  qcrit <- if (df == Inf) qnorm else function(...) qt(..., df = df)
  U <- function(theta) ((x > theta) - (1 - p))
  scoretest <- function(theta, qlimit) {
    umean <- svymean(U(theta), design)
    umean / SE(umean) - qlimit
  }
  iqr <- IQR(x)
  lowerT <- min(x) + iqr / 100
  upperT <- max(x) - iqr / 100
  tol <- 1 / (100 * sqrt(nrow(design)))
  qlow <- uniroot(scoretest, interval = c(lowerT, upperT), qlimit = qcrit(alpha / 2, lower.tail = FALSE), tol = tol)$root
  qup <- uniroot(scoretest, interval = c(lowerT, upperT), qlimit = qcrit(alpha / 2, lower.tail = TRUE), tol = tol)$root
  w <- weights(design)
  c(qrule(x, w, sum(w * (x <= qlow)) / sum(w)), qrule(x, w, sum(w * (x <= qup)) / sum(w)),
    qlow, qup)
}
score_weighted <- function(design, qr, vars = variables, p = probs) {
  rows <- list()
  rule <- get(paste0("qrule_", qr), envir = asNamespace("survey"))
  for (v in vars) {
    sub <- design[!is.na(design$variables[[v]]), ]
    x <- sub$variables[[v]]
    w <- weights(sub)
    df <- degf(sub)
    for (pp in p) {
      qhat <- rule(x, w, pp)
      ci <- tryCatch(ffuller_weighted(x, qhat, pp, sub, rule, 0.05, df), error = function(e) rep(NA, 4))
      rows[[length(rows) + 1]] <- data.frame(variable = v, quantile = pp, estimate = qhat, ci_low = ci[1],
                                             ci_high = ci[2], se = (ci[2] - ci[1]) / (2 * qt(0.975, df)),
                                             root_low = ci[3], root_high = ci[4])
    }
  }
  r <- do.call(rbind, rows)
  c(tidy(rows), list(root_low = r$root_low, root_high = r$root_high))
}
for (dn in c("strat", "clus1", "clus2")) for (qr in qrules) {
  if (dn == "clus1" && !(qr %in% c("math", "school", "hf2", "hf3", "hf7"))) next
  out[[paste("quantile", dn, "score_weighted", qr, sep = "_")]] <- score_weighted(designs[[dn]], qr)
}

# ---- missing values (na.rm = TRUE), other confidence levels ---------------------------------------
for (dn in names(designs)) {
  out[[paste0("quantile_", dn, "_na")]] <- table_of(designs[[dn]], vars = "acs.k3", p = c(0.25, 0.5, 0.75))
  out[[paste0("quantile_", dn, "_level90")]] <- table_of(designs[[dn]], vars = "api00", p = c(0.25, 0.5), alpha = 0.1)
}
out$quantile_strat_df_inf <- table_of(designs$strat, vars = "api00", p = c(0.25, 0.5), df = Inf)

# ---- svyby(…, svyquantile) ------------------------------------------------------------------------
# Small domains meet a bug of survey 4.1.1's qrule_math / qrule_school: for p below the first
# weight share (e.g. the lower end of a Woodruff interval in a domain of 14 schools) `qs` falls back
# to position 1 with w_lo < 0, and `w_lo == 0` then picks the SECOND smallest value (survey 4.2
# changed the test to `w_lo <= 0`). The domain references below use the rules with that case fixed
# (the smallest value); everything else is R's code. `by_clus1_mean_math_stock` keeps stock 4.1.1.
by_table <- function(res) {
  list(stype = as.character(res$stype), estimate = unname(res[[2]]), se = unname(res$se),
       ci_low = unname(res$ci_l), ci_high = unname(res$ci_u))
}
svyby_q <- function(design, it, qr) {
  suppressWarnings(svyby(~api00, ~stype, design, svyquantile, quantiles = 0.5, ci = TRUE,
                         vartype = c("se", "ci"), interval.type = it, qrule = qr))
}
out$by_clus1_mean_math_stock <- by_table(svyby_q(designs$clus1, "mean", "math"))

below_first <- function(x, w, p) !any(cumsum(w[order(x)]) <= p * sum(w))
fixed_math <- function(x, w, p) {
  if (any(zero <- w == 0)) { w <- w[!zero]; x <- x[!zero] }
  qdata <- survey:::qs(x, w, p)
  if (below_first(x, w, p) || qdata$wlow == 0) qdata$qlow else qdata$qup
}
fixed_school <- function(x, w, p) {
  if (any(zero <- w == 0)) { w <- w[!zero]; x <- x[!zero] }
  qdata <- survey:::qs(x, w, p)
  if (below_first(x, w, p)) qdata$qlow else if (qdata$wlow == 0) (qdata$qlow + qdata$qup) / 2 else qdata$qup
}
for (nm in c("qrule_math", "qrule_hf1")) assignInNamespace(nm, fixed_math, "survey")
for (nm in c("qrule_school", "qrule_hf2")) assignInNamespace(nm, fixed_school, "survey")

levels_of <- levels(apiclus1_$stype)
for (dn in names(designs)) {
  its <- if (dn == "jk1") c("mean", "quantile") else c("mean", "beta", "xlogit")
  for (it in its) for (qr in c("math", "hf7")) {
    out[[paste("by", dn, it, qr, sep = "_")]] <- by_table(svyby_q(designs[[dn]], it, qr))
  }
}
# per domain, as svyby hands each domain's design to svyquantile: the score interval (weighted
# mapping, see the header) and, for the replicate design, woodruffCI with method = "beta"
by_rows <- function(tables) {
  list(stype = levels_of, estimate = sapply(tables, function(t) t$estimate),
       se = sapply(tables, function(t) t$se), ci_low = sapply(tables, function(t) t$ci_low),
       ci_high = sapply(tables, function(t) t$ci_high))
}
for (dn in c("strat", "clus1", "clus2")) for (qr in c("math", "hf7")) {
  d <- designs[[dn]]
  out[[paste("by", dn, "score", qr, sep = "_")]] <- by_rows(lapply(levels_of, function(s)
    score_weighted(d[d$variables$stype == s, ], qr, vars = "api00", p = 0.5)))
}
for (qr in c("math", "hf7")) {
  d <- designs$jk1
  out[[paste("by_jk1_beta", qr, sep = "_")]] <- by_rows(lapply(levels_of, function(s)
    woodruff_rep(d[d$variables$stype == s, ], "beta", qr, vars = "api00", p = 0.5)))
}

# ---- svyvar ---------------------------------------------------------------------------------------
var_stat <- function(v) {
  m <- as.matrix(v)
  vv <- attr(v, "var")
  list(cov = unname(as.vector(m[1:nrow(m), 1:ncol(m)])), estimate = unname(diag(m)),
       se = unname(sqrt(diag(as.matrix(vv))))[seq(1, length(m), by = ncol(m) + 1)])
}
for (dn in names(designs)) {
  d <- designs[[dn]]
  if (dn == "clus2") d <- subset(d, !is.na(enroll))   # svyvar(na.rm=TRUE) would count the NA rows in n
  out[[paste0("var_", dn)]] <- var_stat(svyvar(~api00 + enroll, d))
  out[[paste0("var_", dn, "_na")]] <- var_stat(svyvar(~acs.k3, subset(designs[[dn]], !is.na(acs.k3))))
  res <- svyby(~api00, ~stype, designs[[dn]], svyvar)
  out[[paste0("var_by_", dn)]] <- list(stype = as.character(res$stype), estimate = unname(res[[2]]),
                                       se = unname(res$se))
}

# numbers written with 17 significant digits, so that every double round-trips (jsonlite keeps 15)
exact <- function(x) {
  if (is.list(x)) return(lapply(x, exact))
  if (!is.numeric(x)) return(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  structure(if (length(s) == 1) s else paste0("[", paste(s, collapse = ","), "]"), class = "json")
}
writeLines(toJSON(exact(out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = FALSE),
           file.path(here, "survey_quantile.json"))
cat("wrote", file.path(here, "survey_quantile.json"), "\n")
