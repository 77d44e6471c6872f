# psych::omega reverses items that load negatively on the general factor (flip = TRUE, its default)
# and reports them in $key; reference numbers for tests/test_reliability.py.
#
#   Rscript tests/reference/psych_omega_reversed.R   # writes tests/reference/psych_omega_reversed.json
#
# Data: psych's bfi agreeableness items with the reverse-keyed A1 (written to data/bfi_agree.csv),
# and `attitude` with `critical` reversed (100 − critical; the test reverses it the same way).
suppressMessages({library(psych); library(jsonlite)})
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
data(bfi, package = "psych")
agree <- bfi[, c("A1", "A2", "A3", "A4", "A5")]
write.csv(agree, file.path(here, "data", "bfi_agree.csv"), row.names = FALSE)
att <- attitude
att$critical <- 100 - att$critical
case <- function(x) {
  flipped <- suppressWarnings(suppressMessages(omega(x, nfactors = 1, plot = FALSE)))
  kept <- suppressWarnings(suppressMessages(omega(x, nfactors = 1, plot = FALSE, flip = FALSE)))
  list(omega_total = flipped$omega.tot, omega_total_unflipped = kept$omega.tot,
       reversed = names(x)[unname(flipped$key) < 0])
}
out <- list(meta = list(psych = as.character(packageVersion("psych")), R = R.version.string),
            bfi_agree = case(agree), attitude_reversed = case(att))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "psych_omega_reversed.json"))
