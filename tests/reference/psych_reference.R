# Reference numbers from R's psych package (Revelle) for tests/test_reliability.py.
#
#   apt-get install r-base-core r-cran-psych r-cran-semtools r-cran-jsonlite
#   Rscript tests/reference/psych_reference.R   # writes tests/reference/psych_reference.json
#
# Data: `attitude` (R datasets, complete), psych's `bfi` agreeableness and conscientiousness items
# (with missing values), and the first-level indicator 消费供给 of the 2024 demo survey
# (tests/reference/data/demo_supply_items.csv, written by tests/reference/make_inputs.py).
suppressMessages({library(psych); library(jsonlite)})
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))

data(bfi, package = "psych")
bfi_items <- bfi[, c("A2", "A3", "A4", "A5", "C1", "C2", "C3")]
write.csv(bfi_items, file.path(here, "data", "bfi_items.csv"), row.names = FALSE)
write.csv(attitude, file.path(here, "data", "attitude.csv"), row.names = FALSE)
demo <- read.csv(file.path(here, "data", "demo_supply_items.csv"))

summarise <- function(x) {
  a <- suppressWarnings(alpha(x, check.keys = FALSE, warnings = FALSE))
  r <- cor(x, use = "pairwise")
  k <- KMO(r)
  b <- cortest.bartlett(r, n = nrow(x))
  list(
    raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha, g6 = a$total[["G6(smc)"]],
    average_r = a$total$average_r, feldt_lower = a$feldt$lower.ci[[1]], feldt_upper = a$feldt$upper.ci[[1]],
    items = as.list(rownames(a$item.stats)),
    raw_r = a$item.stats$raw.r, std_r = a$item.stats$std.r, r_drop = a$item.stats$r.drop,
    mean = a$item.stats$mean, sd = a$item.stats$sd, n = a$item.stats$n,
    alpha_drop = a$alpha.drop$raw_alpha, std_alpha_drop = a$alpha.drop$std.alpha,
    g6_drop = a$alpha.drop[["G6(smc)"]],
    kmo = k$MSA, kmo_items = unname(k$MSAi),
    bartlett_chisq = b$chisq, bartlett_df = b$df, bartlett_p = b$p.value, n_obs = nrow(x)
  )
}

out <- list(meta = list(psych = as.character(packageVersion("psych")), R = R.version.string))
out$attitude <- summarise(attitude)
out$bfi_pairwise <- summarise(bfi_items)
out$bfi_listwise <- summarise(na.omit(bfi_items))
out$demo_pairwise <- summarise(demo)
out$demo_listwise <- summarise(na.omit(demo))

# split-half reliabilities (Guttman / Flanagan–Rulon, all splits); even numbers of items, where
# psych's enumeration covers every distinct split (for odd k it evaluates only part of them)
halves <- function(x) {
  sh <- splitHalf(x, check.keys = FALSE)
  list(maxrb = sh$maxrb, minrb = sh$minrb, meanr = sh$meanr, lambda2 = sh$lambda2, lambda6 = sh$lambda6,
       alpha = sh$alpha, items = as.list(colnames(x)))
}
out$split_attitude6 <- halves(attitude[, 1:6])
out$split_bfi6 <- halves(bfi_items[, 1:6])
out$split_demo8 <- halves(demo[, 1:8])
out$split_attitude7 <- halves(attitude)

# omega total from a one-factor (minres) model
omega_t <- function(x) suppressWarnings(suppressMessages(omega(x, nfactors = 1, plot = FALSE)))$omega.tot
out$omega <- list(attitude = omega_t(attitude), bfi = omega_t(bfi_items), demo = omega_t(demo),
                  bfi_loadings = unname(unclass(fa(bfi_items, 1, fm = "minres")$loadings)[, 1]))

# HTMT (Henseler, Ringle & Sarstedt 2015) and HTMT2 (Roemer, Schuberth & Henseler 2021) from semTools;
# Dillon-Goldstein rho and AVE with the loadings on each block's first principal component (the
# convention of plspm), computed here from eigen() as plspm itself is not packaged for Debian.
suppressMessages(library(semTools))
demo_all <- read.csv(file.path(here, "data", "demo_index_items.csv"))
blocks <- list(
  bfi = list(data = bfi_items, blocks = list(A = c("A2", "A3", "A4", "A5"), C = c("C1", "C2", "C3"))),
  demo = list(data = demo_all, blocks = list(
    S = c("S1a", "S1b", "S2a", "S2b", "S3a", "S3b", "S4a", "S4b", "S5a", "S6a"),
    E = c("E1a", "E1b", "E1c", "E2a", "E3a", "E3b", "E4a", "E5a"),
    R = c("R1a", "R2a", "R2b", "R3a", "R3b", "R4a", "R5a"))))
for (nm in names(blocks)) {
  b <- blocks[[nm]]
  model <- paste(sapply(names(b$blocks), function(f) paste(f, "=~", paste(b$blocks[[f]], collapse = " + "))), collapse = "\n")
  h1 <- htmt(model, b$data, htmt2 = FALSE)
  h2 <- htmt(model, b$data, htmt2 = TRUE)
  x <- na.omit(b$data[, unlist(b$blocks)])
  pca <- lapply(b$blocks, function(items) {
    e <- eigen(cor(x[, items]))
    l <- abs(e$vectors[, 1]) * sqrt(e$values[1])
    c(rho = sum(l)^2 / (sum(l)^2 + sum(1 - l^2)), ave = mean(l^2))
  })
  out[[paste0("htmt_", nm)]] <- list(names = rownames(h1), htmt = unname(h1[lower.tri(h1)]),
                                     htmt2 = unname(h2[lower.tri(h2)]),
                                     dg_rho = unname(sapply(pca, `[[`, "rho")), ave = unname(sapply(pca, `[[`, "ave")))
}

# omega hierarchical (Schmid-Leiman: minres, varimax then oblimin, general factor from Phi), on
# correlation matrices shipped with R (Thurstone's 9 ability tests, Harman's 24 tests) and the demo
suppressMessages(library(GPArotation))
omega_h <- function(x, nf) {
  o <- suppressWarnings(suppressMessages(omega(x, nfactors = nf, plot = FALSE)))
  list(omega_h = o$omega_h, omega_total = o$omega.tot, ecv = unname(o$ECV))
}
data(Thurstone, package = "psych")
harman <- cov2cor(datasets::Harman74.cor$cov)
write.csv(Thurstone, file.path(here, "data", "thurstone.csv"))
write.csv(harman, file.path(here, "data", "harman74.csv"))
out$omega_hierarchical <- list(thurstone_3 = omega_h(Thurstone, 3), harman_4 = omega_h(harman, 4),
                               harman_3 = omega_h(harman, 3), demo_3 = omega_h(demo, 3))

# KMO and Bartlett with survey weights: psych on the weighted correlation matrix (cov.wt) of the
# complete rows, n = complete rows; weights 1 + (row %% 4) / 2 by original row number
weighted_validity <- function(x) {
  w <- 1 + (seq_len(nrow(x)) %% 4) / 2
  keep <- complete.cases(x)
  r <- cov.wt(x[keep, ], wt = w[keep] / sum(w[keep]), cor = TRUE)$cor
  r <- (r + t(r)) / 2; diag(r) <- 1  # exactly symmetric, or psych takes it for raw data
  k <- KMO(r)
  b <- cortest.bartlett(r, n = sum(keep))
  list(kmo = k$MSA, kmo_items = unname(k$MSAi), chi2 = b$chisq, df = b$df, p = b$p.value, n = sum(keep))
}
out$weighted_validity <- list(attitude = weighted_validity(attitude), demo = weighted_validity(demo))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "psych_reference.json"))
cat("wrote", file.path(here, "psych_reference.json"), "\n")
