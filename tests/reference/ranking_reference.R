# Reference numbers for pairwise comparisons (tests/test_ranking.py): survey + multcomp.
#
#   Rscript tests/reference/ranking_reference.R   # writes tests/reference/ranking_reference.json
#
# API 2000 stratified sample (survey's apistrat): mean api00 by county for the six counties with the
# most schools in the sample, design-based covariance from svyby(covmat = TRUE), all pairwise
# differences with single-step (max-t) simultaneous 95 % intervals from multcomp::glht.
suppressMessages({library(survey); library(multcomp); library(jsonlite)})
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
counties <- names(sort(table(apistrat$cname), decreasing = TRUE))[1:6]
sub <- subset(dstrat, cname %in% counties)
by_county <- svyby(~api00, ~cname, sub, svymean, covmat = TRUE)
est <- coef(by_county); v <- vcov(by_county)
names(est) <- rownames(v) <- colnames(v) <- as.character(by_county$cname)
K <- contrMat(setNames(rep(1, length(est)), names(est)), type = "Tukey")
set.seed(1)
g <- glht(parm(est, v), linfct = K)
ci <- confint(g, level = 0.95, calpha = univariate_calpha())
set.seed(1)
ci_sim <- confint(g, level = 0.95)
out <- list(units = names(est), estimate = unname(est), cov = unname(v), contrasts = rownames(K),
            difference = unname(ci_sim$confint[, "Estimate"]), lower = unname(ci_sim$confint[, "lwr"]),
            upper = unname(ci_sim$confint[, "upr"]), critical = attr(ci_sim$confint, "calpha"),
            unadjusted_lower = unname(ci$confint[, "lwr"]))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "ranking_reference.json"))
cat("wrote", file.path(here, "ranking_reference.json"), "\n")
