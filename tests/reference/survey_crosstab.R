# Reference numbers from R's survey package (Lumley) for tests/test_crosstab.py:
# svytable, svymean(~interaction(a, b)), svyby(~b, ~a, svymean) and svychisq (statistics F, Chisq,
# Wald, adjWald, saddlepoint) on the API samples shipped with survey.
#
#   apt-get install r-base-core r-cran-survey r-cran-jsonlite
#   Rscript tests/reference/survey_crosstab.R   # writes tests/reference/survey_crosstab.json
#
# Designs: apistrat (stratified by school type, with FPC), apiclus1 (one-stage cluster sample of
# school districts, with FPC), the JK1 jackknife of apiclus1 (without FPC) and apistrat
# post-stratified on awards.
# Tables: sch.wide × comp.imp (2 × 2) and apicat × stype (4 × 3), apicat a 4-level cut of api00;
# apicat_na is apicat with every 7th school (by snum) set to missing.
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)

# ---- the data as CSV; R reads back what it wrote, so both sides use the same values --------------
prepare <- function(d) {
  d$apicat <- as.character(cut(d$api00, c(0, 550, 650, 750, 1000),
                               labels = c("a1_low", "a2_midlow", "a3_midhigh", "a4_high")))
  d$apicat_na <- ifelse(d$snum %% 7 == 0, NA, d$apicat)
  d[, c("cds", "stype", "dnum", "snum", "api00", "apicat", "apicat_na", "sch.wide", "comp.imp",
        "awards", "pw", "fpc")]
}
write.csv(prepare(apistrat), file.path(here, "data", "crosstab_apistrat.csv"), row.names = FALSE)
write.csv(prepare(apiclus1), file.path(here, "data", "crosstab_apiclus1.csv"), row.names = FALSE)
strat_data <- read.csv(file.path(here, "data", "crosstab_apistrat.csv"), stringsAsFactors = TRUE)
clus_data <- read.csv(file.path(here, "data", "crosstab_apiclus1.csv"), stringsAsFactors = TRUE)

designs <- list(
  strat_fpc = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat_data),
  clus_fpc = svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = clus_data),
  jk1 = as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = clus_data), type = "JK1")
)
tables <- list(t22 = c("sch.wide", "comp.imp"), t43 = c("apicat", "stype"),
               t43na = c("apicat_na", "stype"), t34 = c("stype", "apicat"))

# The Rao-Scott design-effect matrix Delta, computed exactly as svychisq does (R/surveychisq.R).
rao_scott_delta <- function(a, b, design) {
  v <- design$variables
  nr <- length(unique(na.omit(v[[a]]))); nc <- length(unique(na.omit(v[[b]])))
  fsat <- as.formula(sprintf("~interaction(factor(%s), factor(%s)) - 1", a, b))
  mm <- model.matrix(fsat, model.frame(fsat, v, na.action = na.pass))
  N <- nrow(mm)
  mf1 <- expand.grid(rows = 1:nr, cols = 1:nc)
  X1 <- model.matrix(~factor(rows) + factor(cols), mf1)
  X12 <- model.matrix(~factor(rows) * factor(cols), mf1)
  mean2 <- svymean(mm, design, na.rm = TRUE)
  Cmat <- qr.resid(qr(X1), X12[, -(1:(nr + nc - 1)), drop = FALSE])
  iDmat <- diag(ifelse(mean2 == 0, 0, 1 / mean2))
  V <- attr(mean2, "var")
  denom <- t(Cmat) %*% (iDmat / N) %*% Cmat
  numr <- t(Cmat) %*% iDmat %*% V %*% iDmat %*% Cmat
  solve(denom, numr)
}

test_result <- function(f, design, statistic) {
  t <- suppressWarnings(svychisq(f, design, statistic = statistic))
  list(statistic = unname(as.numeric(t$statistic)), parameter = as.list(t$parameter),
       p_value = unname(as.numeric(t$p.value)))
}

chisq_all <- function(a, b, design) {
  f <- as.formula(sprintf("~%s + %s", a, b))
  v <- design$variables
  N <- nrow(v)
  pearson <- suppressWarnings(chisq.test(svytable(f, design, Ntotal = N), correct = FALSE))
  delta <- rao_scott_delta(a, b, design)
  res <- list(pearson = unname(pearson$statistic), pearson_df = unname(pearson$parameter),
              pearson_p = unname(pearson$p.value), N = N,
              eigenvalues = sort(Re(eigen(delta, only.values = TRUE)$values), decreasing = TRUE))
  for (s in c("F", "Chisq", "Wald", "adjWald", "saddlepoint")) res[[s]] <- test_result(f, design, s)
  res
}

by_props <- function(x) list(
  names = as.character(rownames(x)), estimate = unname(as.vector(as.matrix(coef(x)))),
  se = unname(as.vector(as.matrix(SE(x)))), deff = unname(as.vector(as.matrix(deff(x)))))

out <- list(meta = list(survey = as.character(packageVersion("survey")), R = R.version.string))
for (dn in names(designs)) {
  d <- designs[[dn]]
  for (tn in names(tables)) {
    a <- tables[[tn]][1]; b <- tables[[tn]][2]
    key <- paste(dn, tn, sep = "_")
    f <- as.formula(sprintf("~%s + %s", a, b))
    tbl <- svytable(f, d)
    cells <- svymean(as.formula(sprintf("~interaction(%s, %s)", a, b)), d, na.rm = TRUE, deff = TRUE)
    rows <- svyby(as.formula(paste0("~", b)), as.formula(paste0("~", a)), d, svymean, na.rm = TRUE,
                  deff = TRUE)
    cols <- svyby(as.formula(paste0("~", a)), as.formula(paste0("~", b)), d, svymean, na.rm = TRUE,
                  deff = TRUE)
    out[[key]] <- list(
      row_levels = rownames(tbl), column_levels = colnames(tbl),
      table = unname(as.vector(tbl)),             # column-major: the row variable varies fastest
      cell = list(estimate = unname(as.vector(coef(cells))), se = unname(as.vector(SE(cells))),
                  deff = unname(as.vector(deff(cells)))),
      row = by_props(rows), column = by_props(cols),
      chisq = chisq_all(a, b, d))
  }
}

# ---- tests within domains (R: svychisq on subset(design, awards == level)) ------------------------
for (dn in c("strat_fpc", "jk1")) {
  for (lev in c("No", "Yes")) {
    sub <- subset(designs[[dn]], awards == lev)
    out[[paste(dn, "by_awards", lev, sep = "_")]] <- list(
      N = nrow(sub$variables), degf = degf(sub), chisq = chisq_all("apicat_na", "stype", sub))
  }
}
# ---- a post-stratified design (calibrated: R's subset keeps every row, with zero weight) -----------
ps <- postStratify(designs$strat_fpc, ~awards, data.frame(awards = c("No", "Yes"), Freq = c(2600, 3594)))
out$ps_t43 <- list(chisq = chisq_all("apicat", "stype", ps))
for (lev in c("No", "Yes")) {
  sub <- subset(ps, comp.imp == lev)
  out[[paste("ps_by_comp.imp", lev, sep = "_")]] <- list(N = nrow(sub$variables),
                                                          chisq = chisq_all("apicat", "stype", sub))
}

out$by_awards_table <- list(
  strat_fpc = unname(as.vector(svytable(~apicat + stype + awards, designs$strat_fpc))),
  jk1 = unname(as.vector(svytable(~apicat_na + stype + awards, designs$jk1))))
out$degf <- lapply(designs, degf)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "survey_crosstab.json"))
cat("wrote", file.path(here, "survey_crosstab.json"), "\n")
