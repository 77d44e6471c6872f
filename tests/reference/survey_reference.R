# Reference numbers from R's survey package (Lumley) for tests/test_survey_reference.py.
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite
#   python tests/reference/make_inputs.py      # demo extract, margins, bootstrap draws
#   Rscript tests/reference/survey_reference.R # writes tests/reference/survey_reference.json
#
# Data: the California API samples shipped with survey (apistrat: stratified, apiclus1: one-stage
# cluster sample) and an extract of our demo survey (3 cities, raked within city).
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)

out <- list(meta = list(survey = as.character(packageVersion("survey")), R = R.version.string))
stat <- function(x) {
  est <- coef(x); v <- vcov(x)
  list(names = names(est), estimate = unname(as.vector(est)), se = unname(sqrt(diag(as.matrix(v)))))
}
stat_deff <- function(x) c(stat(x), list(deff = unname(as.vector(deff(x)))))
by_stat <- function(x) list(names = as.character(rownames(x)), estimate = unname(as.vector(coef(x))),
                            se = unname(as.vector(SE(x))))

# ---- the API data as CSV, so the tests read exactly what R used -------------------------------
keep <- c("cds", "stype", "dnum", "snum", "api00", "api99", "enroll", "acs.k3", "pw", "fpc")
write.csv(apistrat[, keep], file.path(here, "data", "apistrat.csv"), row.names = FALSE)
write.csv(apiclus1[, keep], file.path(here, "data", "apiclus1.csv"), row.names = FALSE)

strat_fpc <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
clus_fpc <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
clus <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)

for (nm in c("strat_fpc", "strat", "clus_fpc", "clus")) {
  d <- get(nm)
  out[[paste0(nm, "_mean")]] <- stat_deff(svymean(~api00 + enroll, d, deff = TRUE))
  out[[paste0(nm, "_mean_na")]] <- stat_deff(svymean(~acs.k3, d, na.rm = TRUE, deff = TRUE))
  out[[paste0(nm, "_total")]] <- stat_deff(svytotal(~enroll, d, deff = TRUE))
  out[[paste0(nm, "_ratio")]] <- stat(svyratio(~api00, ~api99, d))
  out[[paste0(nm, "_by_stype")]] <- by_stat(svyby(~api00, ~stype, d, svymean))
  out[[paste0(nm, "_prop")]] <- stat(svymean(~I(api00 >= 700), d))
}

# ---- jackknife replicate designs (deterministic, so ours must match exactly) --------------------
out$jkn_mean <- stat(svymean(~api00 + enroll, as.svrepdesign(strat, type = "JKn")))
out$jk1_mean <- stat(svymean(~api00 + enroll, as.svrepdesign(clus, type = "JK1")))
out$jk1_by <- by_stat(svyby(~api00, ~stype, as.svrepdesign(clus, type = "JK1"), svymean))

# ---- the demo extract: raking, calibration, post-stratification, trimming -----------------------
demo <- read.csv(file.path(here, "data", "demo_extract.csv"), stringsAsFactors = TRUE)
margins <- read.csv(file.path(here, "data", "demo_margins.csv"), stringsAsFactors = FALSE)
pop <- function(var) {
  m <- margins[margins$variable == var, c("city", "category", "count")]
  names(m) <- c("city", var, "Freq")
  m
}
pops <- list(pop("sex_age"), pop("education"), pop("residence"))
sample_margins <- list(~city + sex_age, ~city + education, ~city + residence)
demo$w0 <- 1
base <- svydesign(id = ~1, strata = ~city, weights = ~w0, data = demo)
ctrl <- list(maxit = 1000, epsilon = 1e-13)
raked <- rake(base, sample_margins, pops, control = ctrl)
out$rake_weights <- unname(weights(raked))
out$rake_by_city <- by_stat(svyby(~S1a + E1b, ~city, raked, svymean, na.rm = TRUE))
out$rake_mean_na <- stat(svymean(~R3a, raked, na.rm = TRUE))
out$rake_total <- stat(svytotal(~S1a, raked, na.rm = TRUE))

clustered <- svydesign(id = ~interviewer, strata = ~city, weights = ~w0, data = demo)
raked_clus <- rake(clustered, sample_margins, pops, control = ctrl)
out$rake_clus_by_city <- by_stat(svyby(~S1a, ~city, raked_clus, svymean, na.rm = TRUE))
out$clus_demo_by_city <- by_stat(svyby(~S1a, ~city, clustered, svymean, na.rm = TRUE))

# a linear combination of domain means (how the index is built from item means), via svycontrast
complete <- subset(raked, !is.na(S1a) & !is.na(E1b) & !is.na(R3a))
combo <- lapply(levels(demo$city), function(cty) {
  m <- svymean(~S1a + E1b + R3a, subset(complete, city == cty), na.rm = TRUE)
  stat(svycontrast(m, c(S1a = 0.5, E1b = 0.3, R3a = 0.2)))
})
out$rake_combination <- list(names = levels(demo$city), estimate = sapply(combo, `[[`, "estimate"),
                             se = sapply(combo, `[[`, "se"))

totals_list <- lapply(pops, function(p) {
  names(p)[3] <- "Freq"
  xtabs(as.formula(paste("Freq ~ city +", names(p)[2])), data = p)
})
lin <- calibrate(base, sample_margins, totals_list, calfun = "linear")
out$calibrate_linear_weights <- unname(weights(lin))
out$calibrate_linear_by_city <- by_stat(svyby(~S1a + E1b, ~city, lin, svymean, na.rm = TRUE))
rak <- calibrate(base, sample_margins, totals_list, calfun = "raking", epsilon = 1e-12, maxit = 100)
out$calibrate_raking_weights <- unname(weights(rak))
out$calibrate_raking_by_city <- by_stat(svyby(~S1a + E1b, ~city, rak, svymean, na.rm = TRUE))

ps_pop <- pop("sex_age")
ps <- postStratify(base, ~city + sex_age, ps_pop)
out$poststratify_weights <- unname(weights(ps))
out$poststratify_by_city <- by_stat(svyby(~S1a, ~city, ps, svymean, na.rm = TRUE))

trimmed <- trimWeights(raked, lower = 300, upper = 30000, strict = TRUE)
out$trim_weights <- unname(weights(trimmed))

# ---- bootstrap replicates drawn by our code, used as they are by svrepdesign ----------------------
counts <- as.matrix(read.csv(file.path(here, "data", "demo_bootstrap_counts.csv")))
n_h <- ave(rep(1, nrow(demo)), demo$city, FUN = sum)
repw <- counts * (n_h / (n_h - 1))
boot <- svrepdesign(data = demo, repweights = repw, weights = ~w0, type = "bootstrap", combined.weights = TRUE)
out$boot_by_city <- by_stat(svyby(~S1a + E1b, ~city, boot, svymean, na.rm = TRUE))
boot_raked <- rake(boot, sample_margins, pops, control = ctrl)
out$boot_raked_by_city <- by_stat(svyby(~S1a + E1b, ~city, boot_raked, svymean, na.rm = TRUE))
out$boot_raked_mean <- stat(svymean(~S1a, boot_raked, na.rm = TRUE))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "survey_reference.json"))
cat("wrote", file.path(here, "survey_reference.json"), "\n")
