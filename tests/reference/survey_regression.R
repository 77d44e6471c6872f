# Reference numbers from R's survey package (Lumley) for tests/test_regression.py:
# design-based regression, svyglm (gaussian, quasibinomial, quasipoisson).
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite
#   Rscript tests/reference/survey_regression.R   # writes tests/reference/survey_regression.json
#
# Data: the California API samples shipped with survey (apistrat: stratified with FPC; apiclus1:
# one-stage cluster sample with FPC), written to tests/reference/data/regression_*.csv so that the
# tests read exactly what R used. sch.wide is recoded 0/1 (1 = "Yes").
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)

keep <- c("cds", "stype", "dnum", "snum", "api00", "ell", "meals", "mobility", "enroll", "acs.k3",
          "sch.wide", "pw", "fpc")
apistrat$sch.wide <- as.numeric(apistrat$sch.wide == "Yes")
apiclus1$sch.wide <- as.numeric(apiclus1$sch.wide == "Yes")
write.csv(apistrat[, keep], file.path(here, "data", "regression_apistrat.csv"), row.names = FALSE)
write.csv(apiclus1[, keep], file.path(here, "data", "regression_apiclus1.csv"), row.names = FALSE)

strat_fpc <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
clus_fpc <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
# post-stratified on school type (population counts of the API population)
ps_clus <- postStratify(clus_fpc, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
# replicate designs (deterministic jackknives)
jk1 <- as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1), type = "JK1")
jkn <- as.svrepdesign(svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat), type = "JKn")

record <- function(fit) {
  s <- summary(fit)
  ci <- confint(fit)
  disp <- s$dispersion
  list(names = names(coef(fit)),
       coef = unname(coef(fit)),
       vcov = unname(as.vector(vcov(fit))),        # column-major, p x p
       se = unname(sqrt(diag(vcov(fit)))),
       t = unname(s$coefficients[, 3]),
       p = unname(s$coefficients[, 4]),
       ci_low = unname(ci[, 1]), ci_high = unname(ci[, 2]),
       df_residual = fit$df.residual,
       dispersion = unname(as.numeric(disp)[1]),
       nobs = length(fit$y),
       design_rows = nrow(fit$survey.design))
}

models <- list(
  gaussian = list(f = api00 ~ ell + meals + mobility, family = gaussian()),
  factor = list(f = api00 ~ ell + stype, family = gaussian()),
  interaction = list(f = api00 ~ ell * stype, family = gaussian()),
  quasibinomial = list(f = sch.wide ~ ell + meals, family = quasibinomial()),
  quasipoisson = list(f = enroll ~ ell + meals, family = quasipoisson()),
  missing = list(f = api00 ~ acs.k3 + meals, family = gaussian())     # acs.k3 has NAs
)
designs <- list(strat_fpc = strat_fpc, clus_fpc = clus_fpc, ps_clus = ps_clus, jk1 = jk1, jkn = jkn)

out <- list(meta = list(survey = as.character(packageVersion("survey")), R = R.version.string))
for (dn in names(designs)) {
  d <- designs[[dn]]
  res <- list()
  for (mn in names(models)) {
    m <- models[[mn]]
    res[[mn]] <- record(svyglm(m$f, design = d, family = m$family))
  }
  # domain estimation: the model within elementary schools
  dE <- subset(d, stype == "E")
  res$subset_gaussian <- record(svyglm(api00 ~ ell + meals + mobility, design = dE))
  res$subset_quasibinomial <- record(svyglm(sch.wide ~ ell + meals, design = dE, family = quasibinomial()))
  out[[dn]] <- res
}

# confint at another level, and predictions (fitted means and their SEs) for the first rows
fit_g <- svyglm(api00 ~ ell + meals + mobility, design = strat_fpc)
fit_b <- svyglm(sch.wide ~ ell + meals, design = clus_fpc, family = quasibinomial())
fit_bj <- svyglm(sch.wide ~ ell + meals, design = jk1, family = quasibinomial())
ci90 <- confint(fit_b, level = 0.9)
out$confint90_clus_quasibinomial <- list(ci_low = unname(ci90[, 1]), ci_high = unname(ci90[, 2]))
pred <- function(fit, newdata, type) {
  p <- predict(fit, newdata = newdata, type = type)
  # the variances themselves: SE() of a replicate fit's predictions (svrepstat) returns one value
  list(fit = unname(as.vector(coef(p))), se = unname(sqrt(as.vector(attr(p, "var")))))
}
out$predict <- list(
  strat_gaussian = pred(fit_g, apistrat[1:6, ], "response"),
  clus_quasibinomial_response = pred(fit_b, apiclus1[1:6, ], "response"),
  clus_quasibinomial_link = pred(fit_b, apiclus1[1:6, ], "link"),
  jk1_quasibinomial_response = pred(fit_bj, apiclus1[1:6, ], "response"))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "survey_regression.json"))
