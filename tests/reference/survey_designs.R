# Reference numbers from R's survey package (Lumley) for the survey designs being added to
# satisfaction.design: multistage designs with FPC, lonely PSUs, jackknife with FPC, BRR / Fay,
# calibration of replicate designs, domains empty in a replicate, covariance across domains,
# bootstrap replicate designs from fixed weights, degrees of freedom.
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite r-cran-multcomp
#   Rscript tests/reference/survey_designs.R   # writes tests/reference/survey_designs.json
#                                              # and tests/reference/data/designs_*.csv
#
# Every statistic in the JSON carries the exact R call that produced it under "call"; design objects
# are built by the code under "design_call" (data = the CSV named under "data"). Matrices are written
# row by row (a list of rows); an R NA / NaN is written as null. Options are set explicitly per case.
suppressMessages({library(survey); library(jsonlite); library(multcomp)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE, survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.drop.replicates = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
datadir <- file.path(here, "data")
data(api)

out <- list(meta = list(
  survey = as.character(packageVersion("survey")), R = R.version.string,
  multcomp = as.character(packageVersion("multcomp")),
  script = "tests/reference/survey_designs.R",
  conventions = I(c(
    "Every statistic: call (exact R code run), names (coef names), estimate, se, vcov (row-major list of rows), warnings (if R warned), error (if R stopped).",
    "svyby entries: domains (row names), names = names(coef(x)) ordered variable-major ('E:api00','H:api00',...,'E:api99',...), se = the SE column of the svyby table, vcov = vcov(x) when covmat = TRUE.",
    "For linearisation designs svyby(covmat = TRUE) computes vcov from influence functions on the FULL design (svyrecvar), but the se column from the subsetted design; the two agree except under lonely.psu = 'average' (nstrat counts only the strata present in the domain for the se column) and with survey.adjust.domain.lonely = TRUE (see lonely_note). For replicate designs se^2 and diag(vcov) differ only when a replicate is NA for some domain (tiny_jk1).",
    "Replicate designs: replicate.scale and rscales as in svrVar: V = scale * sum_r rscales_r (theta_r - mean(theta_r))^2 (mse = FALSE: centred on the replicate mean).",
    "data/*.csv: 'id' is the row id (1-based, in R's data order); weight columns named w_* are the full-sample weights R used/computed.",
    "null = NA in R."
  ))))

# ---- helpers -------------------------------------------------------------------------------------
run <- function(code) {
  warns <- character(0)
  value <- tryCatch(withCallingHandlers(eval(parse(text = code), envir = globalenv()),
                                        warning = function(w) {
                                          warns <<- c(warns, conditionMessage(w))
                                          invokeRestart("muffleWarning")
                                        }),
                    error = function(e) e)
  list(value = value, warnings = warns)
}
finish <- function(e, r) {
  if (length(r$warnings)) e$warnings <- I(r$warnings)
  e
}
stat <- function(code) {
  r <- run(code); x <- r$value
  if (inherits(x, "error")) return(finish(list(call = code, error = conditionMessage(x)), r))
  v <- as.matrix(vcov(x))
  finish(list(call = code, names = I(names(coef(x))), estimate = I(unname(as.vector(coef(x)))),
              se = I(unname(sqrt(diag(v)))), vcov = unname(v)), r)
}
by_stat <- function(code) {
  r <- run(code); x <- r$value
  if (inherits(x, "error")) return(finish(list(call = code, error = conditionMessage(x)), r))
  e <- list(call = code, domains = I(rownames(x)), names = I(names(coef(x))),
            estimate = I(unname(as.vector(coef(x)))), se = I(unname(as.vector(as.matrix(SE(x))))))
  if (!is.null(attr(x, "var"))) e$vcov <- unname(as.matrix(vcov(x)))
  finish(e, r)
}
# build a design: assign it in the global environment under `name`, return its description
design <- function(name, code, data_csv) {
  r <- run(code)
  if (inherits(r$value, "error")) stop(name, ": ", conditionMessage(r$value))
  assign(name, r$value, envir = globalenv())
  finish(list(design_call = paste(name, "<-", code), data = data_csv), r)
}
rep_info <- function(name) {
  d <- get(name)
  list(type = d$type, n_replicates = ncol(weights(d, "analysis")), scale = d$scale,
       rscales = I(unname(as.vector(d$rscales))), mse = d$mse, combined_weights = d$combined.weights)
}
# for jackknife designs: which PSU each replicate deletes (its rows have replication weight 0)
dropped_psu <- function(name, psu) {
  w <- weights(get(name), "replication")
  I(vapply(seq_len(ncol(w)), function(j) {
    z <- unique(psu[w[, j] == 0]); if (length(z) == 1) as.character(z) else NA_character_
  }, ""))
}
standard <- function(d, mean = "~api00 + api99", total = "~enroll", na = FALSE) {
  nr <- if (na) ", na.rm = TRUE" else ""
  list(mean = stat(sprintf("svymean(%s, %s)", mean, d)),
       total = stat(sprintf("svytotal(%s, %s%s)", total, d, nr)),
       by_stype = by_stat(sprintf("svyby(~api00, ~stype, %s, svymean, covmat = TRUE)", d)),
       degf = degf(get(d)))
}
set_opts <- function(...) {
  options(...)
  list(...)
}
write_data <- function(df, file) {
  write.csv(df, file.path(datadir, file), row.names = FALSE)
  file.path("data", file)
}

# ==== 1. multistage designs with FPC at both stages (apiclus2) =====================================
invisible(set_opts(survey.lonely.psu = "fail"))
clus2 <- apiclus2[, c("cds", "dnum", "snum", "stype", "sch.wide", "api00", "api99", "enroll", "fpc1", "pw")]
clus2$fpc2 <- as.vector(apiclus2$fpc2)
clus2 <- cbind(id = seq_len(nrow(clus2)), clus2)
# a stratified two-stage version: districts split at dnum 400; first-stage population sizes are the
# numbers of districts in the population (apipop) on each side of the cut
clus2$dstratum <- ifelse(clus2$dnum < 400, "low", "high")
n_low <- length(unique(apipop$dnum[apipop$dnum < 400])); n_high <- length(unique(apipop$dnum[apipop$dnum >= 400]))
clus2$fpc1_strat <- ifelse(clus2$dnum < 400, n_low, n_high)

out$two_stage_fpc <- c(
  list(options = set_opts(survey.lonely.psu = "fail")),
  design("two_stage_fpc", "svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = clus2)", "data/designs_apiclus2.csv"),
  standard("two_stage_fpc", na = TRUE))
out$two_stage_nofpc <- c(
  list(options = set_opts(survey.lonely.psu = "fail"),
       note = "no fpc: R uses the ultimate-cluster (with-replacement) variance from the first stage only"),
  design("two_stage_nofpc", "svydesign(id = ~dnum + snum, weights = ~pw, data = clus2)", "data/designs_apiclus2.csv"),
  standard("two_stage_nofpc", na = TRUE))
out$two_stage_strat <- c(
  list(options = set_opts(survey.lonely.psu = "fail"),
       note = "strata dstratum (dnum < 400 'low', else 'high'); fpc1_strat = districts in the population in the stratum (358 / 399), fpc2 = schools in the district"),
  design("two_stage_strat", "svydesign(id = ~dnum + snum, strata = ~dstratum, fpc = ~fpc1_strat + fpc2, data = clus2)",
         "data/designs_apiclus2.csv"),
  standard("two_stage_strat", na = TRUE))
clus2$w_two_stage_fpc <- weights(two_stage_fpc)
clus2$w_two_stage_strat <- weights(two_stage_strat)
# what as.svrepdesign does with the later-stage fpc
out$two_stage_fpc_jk1 <- c(
  list(options = set_opts(survey.lonely.psu = "fail")),
  design("two_stage_fpc_jk1", "as.svrepdesign(two_stage_fpc, type = \"JK1\")", "data/designs_apiclus2.csv"),
  list(replicates = rep_info("two_stage_fpc_jk1"), mean = stat("svymean(~api00 + api99, two_stage_fpc_jk1)"),
       degf = degf(two_stage_fpc_jk1)))
invisible(write_data(clus2, "designs_apiclus2.csv"))

# ==== 2. lonely PSUs ===============================================================================
# apiclus1 with strata stype and clusters dnum (nested): all E and M schools, and of the high schools
# only those of district 716, so stratum H has ONE PSU. Domain 'dom': "in" = every E school plus
# the M schools of district 716 (so within "in", stratum M, which has 12 PSUs, has ONE PSU), "out" =
# the rest.
lonely <- subset(apiclus1, stype != "H" | dnum == 716)
lonely <- data.frame(id = seq_len(nrow(lonely)), lonely[, c("cds", "dnum", "stype", "sch.wide", "api00", "api99", "enroll", "pw")])
lonely$dom <- ifelse(lonely$stype == "E" | (lonely$stype == "M" & lonely$dnum == 716), "in", "out")
lonely_csv <- write_data(lonely, "designs_lonely.csv")
lonely_code <- "svydesign(id = ~dnum, strata = ~stype, weights = ~pw, nest = TRUE, data = lonely)"
out$lonely_note <- I(c(
  "onestrat() in survey 4.1.1, per stratum with nPSU PSUs, PSU totals x_i of the influence values, f = 1 - n/N (1 without fpc):",
  "nPSU > 1: f nPSU/(nPSU-1) sum (x_i - mean x)^2 (a domain missing some PSUs: those PSUs count as x_i = 0).",
  "nPSU == 1: certainty and remove: 0 (identical results); adjust: f x_1^2 (not centred, i.e. deviation from the overall mean already in the influence values); average: the stratum is left out and the summed variance multiplied by nstrat/(nstrat - #lonely strata); fail: error.",
  "survey.adjust.domain.lonely = TRUE and a stratum with nPSU > 1 but ONE PSU inside the domain (subset design, i.e. the svyby se column only): warning 'Stratum (M) has only one PSU at stage 1'; adjust: f nPSU/(nPSU-1) x_1^2 (not centred); average: stratum left out, times nstrat/nokstrat.",
  "as.svrepdesign(type = 'JKn') (jknweights): certainty/remove/average: no replicate for the lonely stratum (average: scale = #PSU/#replicates); adjust: one extra replicate with weight 0 in the lonely stratum and nstrat/(nstrat-1) elsewhere, rscale (nstrat-1)/nstrat; fail: error 'StratumHhas only one PSU' (sic, no spaces).",
  "The lonely_* designs have 28 PSUs: stratum E 15, M 12, H 1 (district 716); numerical zeros such as 7.8e-14 (lonely_adjust by_stype H) are zero: compare them with an absolute tolerance."))
for (opt in c("certainty", "remove", "adjust", "average", "fail")) {
  set_opts(survey.lonely.psu = opt, survey.adjust.domain.lonely = FALSE)
  key <- paste0("lonely_", opt)
  e <- c(list(options = list(survey.lonely.psu = opt, survey.adjust.domain.lonely = FALSE)),
         design(key, lonely_code, lonely_csv), standard(key))
  e$by_dom <- by_stat(sprintf("svyby(~api00, ~dom, %s, svymean, covmat = TRUE)", key))
  # the jackknife built from the same design (jknweights handles lonely PSUs itself)
  jk <- run(sprintf("as.svrepdesign(%s, type = \"JKn\")", key))
  e$jkn <- list(design_call = sprintf("%s_jkn <- as.svrepdesign(%s, type = \"JKn\")", key, key))
  if (inherits(jk$value, "error")) {
    e$jkn$error <- conditionMessage(jk$value)
  } else {
    assign(paste0(key, "_jkn"), jk$value, envir = globalenv())
    e$jkn <- c(e$jkn, list(replicates = rep_info(paste0(key, "_jkn")),
                           dropped_psu = dropped_psu(paste0(key, "_jkn"), paste(lonely$stype, lonely$dnum)),
                           mean = stat(sprintf("svymean(~api00 + api99, %s_jkn)", key)),
                           by_dom = by_stat(sprintf("svyby(~api00, ~dom, %s_jkn, svymean, covmat = TRUE)", key)),
                           degf = degf(jk$value)))
  }
  out[[key]] <- e
}
for (opt in c("adjust", "average")) {
  set_opts(survey.lonely.psu = opt, survey.adjust.domain.lonely = TRUE)
  key <- paste0("lonely_", opt, "_domain")
  e <- c(list(options = list(survey.lonely.psu = opt, survey.adjust.domain.lonely = TRUE)),
         design(key, lonely_code, lonely_csv))
  e$mean <- stat(sprintf("svymean(~api00 + api99, %s)", key))
  e$by_dom <- by_stat(sprintf("svyby(~api00, ~dom, %s, svymean, covmat = TRUE)", key))
  e$by_dom_no_covmat <- by_stat(sprintf("svyby(~api00, ~dom, %s, svymean)", key))
  out[[key]] <- e
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

# ==== 3. jackknife with FPC ========================================================================
strat <- data.frame(id = seq_len(nrow(apistrat)),
                    apistrat[, c("cds", "stype", "dnum", "snum", "sch.wide", "api00", "api99", "enroll", "pw", "fpc")])
clus1 <- data.frame(id = seq_len(nrow(apiclus1)),
                    apiclus1[, c("cds", "stype", "dnum", "snum", "sch.wide", "api00", "api99", "enroll", "pw", "fpc")])
invisible(set_opts(survey.lonely.psu = "fail"))
out$strat_fpc <- c(list(options = list(survey.lonely.psu = "fail")),
                   design("strat_fpc", "svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat)",
                          "data/designs_apistrat.csv"),
                   standard("strat_fpc"))
out$jkn_fpc <- c(list(options = list(survey.lonely.psu = "fail")),
                 design("jkn_fpc", "as.svrepdesign(strat_fpc, type = \"JKn\")", "data/designs_apistrat.csv"),
                 list(replicates = rep_info("jkn_fpc"), dropped_psu = dropped_psu("jkn_fpc", strat$id)),
                 standard("jkn_fpc"))
out$clus_fpc <- c(list(options = list(survey.lonely.psu = "fail")),
                  design("clus_fpc", "svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = clus1)",
                         "data/designs_apiclus1.csv"),
                  standard("clus_fpc"))
out$jk1_fpc <- c(list(options = list(survey.lonely.psu = "fail")),
                 design("jk1_fpc", "as.svrepdesign(clus_fpc, type = \"JK1\")", "data/designs_apiclus1.csv"),
                 list(replicates = rep_info("jk1_fpc"), dropped_psu = dropped_psu("jk1_fpc", clus1$dnum),
                      analysis_weights_csv = "data/designs_jk1_fpc_apiclus1_weights.csv"),
                 standard("jk1_fpc"))
jkw <- weights(jk1_fpc, "analysis"); colnames(jkw) <- paste0("rep", seq_len(ncol(jkw)))
invisible(write_data(data.frame(id = clus1$id, jkw), "designs_jk1_fpc_apiclus1_weights.csv"))

# ==== 4. BRR and Fay: exactly two PSUs per stratum =================================================
# (a) clusters: the 15 apiclus1 districts in dnum order, the last (815) dropped, consecutive pairs
#     form 7 strata p1..p7; (b) elements: apistrat schools within each stype in snum order, consecutive
#     pairs form 100 strata (E01..E50, H01..H25, M01..M25).
dn <- sort(unique(apiclus1$dnum))[1:14]
brr1 <- subset(clus1, dnum %in% dn)
brr1$id <- seq_len(nrow(brr1))
brr1$pair <- paste0("p", (match(brr1$dnum, dn) + 1) %/% 2)
brr2 <- strat[order(strat$stype, strat$snum), ]
brr2$id <- seq_len(nrow(brr2))
brr2$pair <- paste0(brr2$stype, sprintf("%02d", ave(seq_len(nrow(brr2)), brr2$stype, FUN = function(i) (seq_along(i) + 1) %/% 2)))
out$brr_note <- paste(
  "R (brrweights): strata are taken in sort(as.character(strata)) order, stratum k uses row k+1 of H = survey:::hadamard(#strata)",
  "(0/1 matrix, one replicate per column); within a stratum the PSUs in data order are first/second; where H[k+1, r] == 0 the",
  "first PSU gets multiplier rho and the second 2 - rho, where it is 1 the reverse (rho = 0 for BRR, fay.rho for Fay).",
  "Replicate files hold the multipliers weights(d, 'replication'); analysis weights = multiplier * pw.",
  "scale = 1 / (R (1 - rho)^2), rscales = 1.")
for (spec in list(list(key = "brr_clus", data = "brr1", csv = "designs_brr_apiclus1.csv", id = "~dnum", psu = "dnum"),
                  list(key = "brr_strat", data = "brr2", csv = "designs_brr_apistrat.csv", id = "~1", psu = "id"))) {
  set_opts(survey.lonely.psu = "fail")
  base <- paste0(spec$key, "_lin")
  out[[base]] <- c(list(options = list(survey.lonely.psu = "fail")),
                   design(base, sprintf("svydesign(id = %s, strata = ~pair, weights = ~pw, data = %s)", spec$id, spec$data),
                          file.path("data", spec$csv)),
                   standard(base))
  for (type in c("BRR", "Fay")) {
    key <- if (type == "BRR") spec$key else sub("brr", "fay", spec$key)
    call <- if (type == "BRR") sprintf("as.svrepdesign(%s, type = \"BRR\")", base)
            else sprintf("as.svrepdesign(%s, type = \"Fay\", fay.rho = 0.3)", base)
    rw_csv <- sprintf("designs_%s_repweights.csv", key)
    out[[key]] <- c(list(options = list(survey.lonely.psu = "fail")),
                    design(key, call, file.path("data", spec$csv)),
                    list(replicates = rep_info(key), replication_weights_csv = file.path("data", rw_csv)),
                    standard(key))
    rw <- weights(get(key), "replication"); colnames(rw) <- paste0("rep", seq_len(ncol(rw)))
    write_data(data.frame(id = get(spec$data)$id, rw), rw_csv)
  }
  invisible(write_data(get(spec$data), spec$csv))
}
out$hadamard <- lapply(setNames(c(3, 5, 7, 11, 15, 27, 100), paste0("n", c(3, 5, 7, 11, 15, 27, 100))), function(n) {
  h <- survey:::hadamard(n)
  list(call = sprintf("survey:::hadamard(%d)", n), dim = I(dim(h)), matrix = unname(h))
})

# ==== 5. calibration of replicate designs ==========================================================
# population totals: apiclus1 uses the true apipop totals (stype counts, total enroll, sch.wide
# counts); for apistrat (whose weights already reproduce the stype counts) totals are moved a little.
invisible(set_opts(survey.lonely.psu = "fail"))
pop_clus <- list(N = 6194, stype = c(E = 4421, H = 755, M = 1018), enroll = 3811472, sch.wide = c(No = 1072, Yes = 5122))
pop_strat <- list(N = 6300, stype = c(E = 4500, H = 780, M = 1020), enroll = 3900000, sch.wide = c(No = 1100, Yes = 5200))
out$calibration_populations <- list(apiclus1 = pop_clus, apistrat = pop_strat)
invisible(set_opts(survey.lonely.psu = "fail"))
two_designs <- function(a, b) {
  b$design_call <- paste(a$design_call, b$design_call, sep = "; ")
  b
}
out$jkn_strat <- c(two_designs(design("strat_lin", "svydesign(id = ~1, strata = ~stype, weights = ~pw, data = strat)", "data/designs_apistrat.csv"),
                               design("jkn_strat", "as.svrepdesign(strat_lin, type = \"JKn\")", "data/designs_apistrat.csv")),
                   list(replicates = rep_info("jkn_strat")), standard("jkn_strat"))
out$jk1_clus <- c(two_designs(design("clus_lin", "svydesign(id = ~dnum, weights = ~pw, data = clus1)", "data/designs_apiclus1.csv"),
                              design("jk1_clus", "as.svrepdesign(clus_lin, type = \"JK1\")", "data/designs_apiclus1.csv")),
                  list(replicates = rep_info("jk1_clus")), standard("jk1_clus"))
for (spec in list(list(tag = "jkn", rep = "jkn_strat", pop = "pop_strat", df = "strat"),
                  list(tag = "jk1", rep = "jk1_clus", pop = "pop_clus", df = "clus1"))) {
  p <- get(spec$pop)
  assign(paste0(spec$tag, "_lin_pop"), c(`(Intercept)` = p$N, stypeH = p$stype[["H"]], stypeM = p$stype[["M"]], enroll = p$enroll))
  assign(paste0(spec$tag, "_stype_pop"), c(`(Intercept)` = p$N, stypeH = p$stype[["H"]], stypeM = p$stype[["M"]]))
  assign(paste0(spec$tag, "_ps_pop"), data.frame(stype = names(p$stype), Freq = unname(p$stype)))
  assign(paste0(spec$tag, "_sw_pop"), data.frame(sch.wide = names(p$sch.wide), Freq = unname(p$sch.wide)))
  calls <- list(
    cal_linear = sprintf("calibrate(%s, ~stype + enroll, %s_lin_pop)", spec$rep, spec$tag),
    cal_raking = sprintf("calibrate(%s, ~stype, %s_stype_pop, calfun = \"raking\", epsilon = 1e-12, maxit = 100)", spec$rep, spec$tag),
    poststrat = sprintf("postStratify(%s, ~stype, %s_ps_pop)", spec$rep, spec$tag),
    rake = sprintf("rake(%s, list(~stype, ~sch.wide), list(%s_ps_pop, %s_sw_pop), control = list(maxit = 100, epsilon = 1e-12))",
                   spec$rep, spec$tag, spec$tag))
  df <- get(spec$df)
  for (m in names(calls)) {
    key <- paste0(spec$tag, "_", m)
    pops <- regmatches(calls[[m]], gregexpr("\\w+_pop", calls[[m]]))[[1]]
    e <- c(list(options = list(survey.lonely.psu = "fail"),
                population = lapply(setNames(nm = pops), function(nm) paste(deparse(get(nm)), collapse = ""))),
           design(key, calls[[m]], sprintf("data/designs_%s.csv", if (spec$df == "strat") "apistrat" else "apiclus1")))
    d <- get(key)
    df[[paste0("w_", key)]] <- weights(d, "sampling")
    e$weights_column <- paste0("w_", key)
    e$weights <- I(unname(weights(d, "sampling")))
    e$replicates <- rep_info(key)
    e <- c(e, standard(key))
    if (spec$tag == "jk1") {
      aw <- weights(d, "analysis"); colnames(aw) <- paste0("rep", seq_len(ncol(aw)))
      e$analysis_weights_csv <- write_data(data.frame(id = df$id, aw), sprintf("designs_%s_weights.csv", key))
    }
    out[[key]] <- e
  }
  assign(spec$df, df)
}

# ==== 6. a domain empty in one replicate ===========================================================
tiny <- data.frame(id = 1:8, psu = rep(c("a", "b", "c", "d"), each = 2), y = 1:8,
                   w = c(1, 1, 1, 9, 1, 1, 4, 1), dom = rep(c("x", "z", "z", "z"), each = 2))
tiny_csv <- write_data(tiny, "designs_tiny_domain.csv")
out$tiny_lin <- c(list(options = set_opts(survey.lonely.psu = "fail")),
                  design("tiny_lin", "svydesign(id = ~psu, weights = ~w, data = tiny)", tiny_csv),
                  list(by_dom = by_stat("svyby(~y, ~dom, tiny_lin, svymean, covmat = TRUE)"),
                       mean = stat("svymean(~y, tiny_lin)"), degf = degf(tiny_lin)))
out$tiny_jk1 <- c(list(options = list(survey.lonely.psu = "fail"),
                       note = "replicate 1 deletes PSU a, the only PSU of domain x: the domain-x statistic is NaN there and svrVar drops that replicate (rscales shrink, scale unchanged). With covmat = TRUE the NA replicate is dropped for ALL domains in vcov, while the se column drops it only for x."),
                  design("tiny_jk1", "as.svrepdesign(tiny_lin, type = \"JK1\")", tiny_csv),
                  list(replicates = rep_info("tiny_jk1"),
                       by_dom = by_stat("svyby(~y, ~dom, tiny_jk1, svymean)"),
                       by_dom_covmat = by_stat("svyby(~y, ~dom, tiny_jk1, svymean, covmat = TRUE)"),
                       replicates_by_dom = {
                         r <- run("svyby(~y, ~dom, tiny_jk1, svymean, return.replicates = TRUE)")
                         list(call = "attr(svyby(~y, ~dom, tiny_jk1, svymean, return.replicates = TRUE), 'replicates')",
                              matrix = unname(attr(r$value, "replicates")))
                       },
                       mean = stat("svymean(~y, tiny_jk1)"), degf = degf(tiny_jk1)))

# ==== 7. covariance across domains and variables; contrasts; multiplicity ==========================
invisible(set_opts(survey.lonely.psu = "fail"))
pairs_code <- 'list("H - E" = c("E:api00" = -1, "H:api00" = 1), "M - E" = c("E:api00" = -1, "M:api00" = 1), "M - H" = c("H:api00" = -1, "M:api00" = 1))'
for (spec in list(c("strat_fpc", "by2_lin"), c("jkn_fpc", "by2_jkn"), c("clus_fpc", "by2_clus"))) {
  d <- spec[1]; key <- spec[2]
  bycall <- sprintf("svyby(~api00 + api99, ~stype, %s, svymean, covmat = TRUE)", d)
  e <- list(design = d, by = by_stat(bycall))
  assign(paste0(key, "_obj"), run(bycall)$value)
  e$contrasts <- stat(sprintf("svycontrast(%s_obj, %s)", key, pairs_code))
  z <- e$contrasts$estimate / e$contrasts$se
  p <- 2 * pnorm(-abs(z))
  e$pvalues <- list(call = "2 * pnorm(-abs(estimate / se)); p.adjust(p, 'holm'); p.adjust(p, 'BH')",
                    z = I(z), raw = I(p), holm = I(p.adjust(p, "holm")), BH = I(p.adjust(p, "BH")))
  b <- get(paste0(key, "_obj"))
  est <- coef(b)[1:3]; v <- vcov(b)[1:3, 1:3]
  names(est) <- rownames(v) <- colnames(v) <- c("E", "H", "M")
  K <- contrMat(setNames(rep(1, 3), names(est)), type = "Tukey")
  set.seed(1)
  g <- glht(parm(est, v), linfct = K)
  set.seed(1)
  sg <- summary(g)
  set.seed(1)
  ci <- confint(g, level = 0.95)
  e$glht <- list(call = "est <- coef(by)[1:3]; v <- vcov(by)[1:3, 1:3]; K <- contrMat(c(E = 1, H = 1, M = 1), type = 'Tukey'); set.seed(1); g <- glht(parm(est, v), linfct = K); set.seed(1); summary(g); set.seed(1); confint(g, level = 0.95)",
                 contrasts = I(rownames(K)), estimate = I(unname(sg$test$coefficients)),
                 se = I(unname(sg$test$sigma)), pvalues_single_step = I(unname(as.vector(sg$test$pvalues))),
                 critical = attr(ci$confint, "calpha"), lower = I(unname(ci$confint[, "lwr"])),
                 upper = I(unname(ci$confint[, "upr"])),
                 note = "single-step max-|z| over a normal (df = 0 in parm); critical value and p from mvtnorm (Genz), accurate to about 1e-4 only")
  out[[key]] <- e
}

# ==== 8. bootstrap replicate design from FIXED replicate weights ===================================
# Rao-Wu rescaled bootstrap drawn here once: in each stratum of apistrat draw n_h - 1 schools with
# replacement; multiplier = count * n_h / (n_h - 1); combined weights = pw * multiplier. B = 50.
set.seed(20240501)
B <- 50
mult <- matrix(0, nrow(strat), B)
for (h in levels(strat$stype)) {
  rows <- which(strat$stype == h); nh <- length(rows)
  for (b in seq_len(B)) {
    cnt <- tabulate(sample.int(nh, nh - 1, replace = TRUE), nh)
    mult[rows, b] <- cnt * nh / (nh - 1)
  }
}
boot_w <- mult * strat$pw
colnames(boot_w) <- paste0("rep", seq_len(B))
boot_csv <- write_data(data.frame(id = strat$id, boot_w), "designs_boot_apistrat_repweights.csv")
boot_repw <- unname(boot_w)
invisible(set_opts(survey.lonely.psu = "fail"))
out$boot <- c(list(options = list(survey.lonely.psu = "fail"), replicate_weights_csv = boot_csv,
                   note = "boot_repw = the matrix in the CSV (without id): combined (analysis) replicate weights"),
              design("boot", "svrepdesign(data = strat, repweights = boot_repw, weights = ~pw, type = \"bootstrap\", combined.weights = TRUE)",
                     "data/designs_apistrat.csv"),
              list(replicates = rep_info("boot")),
              standard("boot"),
              list(ratio = stat("svyratio(~api00, ~api99, boot)"),
                   by_stype_ratio = by_stat("svyby(~api00, ~stype, denominator = ~api99, design = boot, FUN = svyratio, covmat = TRUE)")))

invisible(write_data(strat, "designs_apistrat.csv"))
invisible(write_data(clus1, "designs_apiclus1.csv"))

# ==== 9. degrees of freedom ========================================================================
out$degf <- lapply(setNames(nm = c("two_stage_fpc", "two_stage_nofpc", "two_stage_strat", "two_stage_fpc_jk1",
                                    "lonely_certainty", "lonely_remove", "lonely_adjust", "lonely_average",
                                    "lonely_certainty_jkn", "lonely_remove_jkn", "lonely_adjust_jkn", "lonely_average_jkn",
                                    "strat_fpc", "jkn_fpc", "clus_fpc", "jk1_fpc",
                                    "brr_clus_lin", "brr_clus", "fay_clus", "brr_strat_lin", "brr_strat", "fay_strat",
                                    "strat_lin", "jkn_strat", "clus_lin", "jk1_clus",
                                    "jkn_cal_linear", "jkn_cal_raking", "jkn_poststrat", "jkn_rake",
                                    "jk1_cal_linear", "jk1_cal_raking", "jk1_poststrat", "jk1_rake",
                                    "tiny_lin", "tiny_jk1", "boot")),
                   function(nm) list(call = sprintf("degf(%s)", nm), value = degf(get(nm))))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", matrix = "rowmajor"),
           file.path(here, "survey_designs.json"))
cat("wrote", file.path(here, "survey_designs.json"), "\n")
