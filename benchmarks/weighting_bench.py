"""National-scale weighting and replicate estimation, ours against R's survey, in one run.

The work: 100 cities × 2,000 respondents × 30 items; rake within each city to sex × age,
education and residence margins; B = 1,000 Rao–Wu bootstrap replicates, every replicate re-raked;
every item's mean per city with its replicate standard error. Both sides compute the same
estimator: each item's weighted mean over the city's respondents who answered *that* item (R's
``svymean(~Qj, na.rm=TRUE)`` item by item), not over those who answered every item (which
``svyby(~Q01+…+Q30, na.rm=TRUE)`` would give). R does it with ``as.svrepdesign(type="subbootstrap")``
+ ``rake`` + ``withReplicates`` (survey's way of taking any statistic over every replicate: here
all the cities' item means at once); ``svyby(~Qj, ~city, svymean, na.rm=TRUE)`` item by item gives
the same means and SEs but took over 100 times as long (570 s against 4.7 s at 5 cities).

    python benchmarks/weighting_bench.py                 # full size, with R if Rscript is found
    python benchmarks/weighting_bench.py --cities 10     # smaller
    python benchmarks/weighting_bench.py --no-r          # ours only

Prints both times and the ratio. Data loading is not timed on either side.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from _rside import run_r as _run_r
from satisfaction import estimate as est
from satisfaction import weighting as wt
from satisfaction.design import SurveyDesign, bootstrap_weights


def national_survey(cities: int, per_city: int, items: int, seed: int = 1,
                    city_effect: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Respondents (city, the margin variables, items Q01… on 1–5 with ~4 % missing each) and the
    cities' population margins. ``city_effect``: the SD of a per-city shift of the latent
    satisfaction (0: cities differ only by chance), drawn from a stream of its own so that the
    rest of the data does not depend on it."""
    rng = np.random.default_rng(seed)
    n = cities * per_city
    city = np.repeat([f"C{c:03d}" for c in range(cities)], per_city)
    sex = rng.integers(1, 3, n)
    age = rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]) + 1
    edu = rng.choice(4, n, p=[0.15, 0.25, 0.3, 0.3]) + 1
    res = rng.choice(2, n, p=[0.7, 0.3]) + 1
    latent = rng.normal(0, 1, n) + 0.1 * age - 0.1 * edu
    if city_effect:
        latent += np.repeat(np.random.default_rng([seed, 2]).normal(0, city_effect, cities), per_city)
    data = {"city": city, "sex_age": [f"{s}_{a}" for s, a in zip(sex, age)], "education": edu.astype(str),
            "residence": res.astype(str)}
    for j in range(items):
        y = np.clip(np.round(3.7 + 0.8 * latent + rng.normal(0, 0.9, n)), 1, 5)
        y[rng.random(n) < 0.04] = np.nan
        data[f"Q{j + 1:02d}"] = y
    df = pd.DataFrame(data)
    rows = []
    for c in range(cities):
        total = float(rng.integers(500_000, 5_000_000))
        sa = rng.dirichlet(np.full(10, 8.0))
        rows += [(f"C{c:03d}", "sex_age", f"{s}_{a}", total * sa[(s - 1) * 5 + a - 1]) for s in (1, 2) for a in range(1, 6)]
        rows += [(f"C{c:03d}", "education", str(e), total * p) for e, p in zip(range(1, 5), rng.dirichlet(np.full(4, 8.0)))]
        rows += [(f"C{c:03d}", "residence", str(r), total * p) for r, p in zip((1, 2), rng.dirichlet(np.full(2, 8.0)))]
    return df, pd.DataFrame(rows, columns=["city", "variable", "category", "target"])


def ours(df: pd.DataFrame, margins: pd.DataFrame, replicates: int, items: list[str]) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    design = wt.rake_design(SurveyDesign(df, strata="city"), margins, by="city", tol=1e-8)
    design = bootstrap_weights(design, replicates, seed=7)   # every replicate re-raked, as the design was
    result = est.mean(design, items, by="city", method="replicate")
    return time.perf_counter() - start, result


#: What both sides compute, printed with the results.
ESTIMATOR = ("each item's mean per city over the respondents who answered that item "
             "(svymean(~Qj, na.rm=TRUE) item by item), with its replicate SE")

R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], colClasses = c(city = "character", sex_age = "character", education = "character", residence = "character"))
m <- read.csv(args[2], colClasses = c(category = "character"))
B <- as.integer(args[3]); items <- strsplit(args[4], ",")[[1]]; out <- args[5]
pop <- function(v) { x <- m[m$variable == v, c("city", "category", "target")]; names(x) <- c("city", v, "Freq"); x }
# item means per city, each item over its own respondents, as a function of one weight vector
cities <- sort(unique(df$city)); city <- factor(df$city, levels = cities)
Y <- as.matrix(df[, items]); A <- 1 * !is.na(Y); Y0 <- Y; Y0[is.na(Y0)] <- 0
item_means <- function(w, data) as.vector(t(rowsum(Y0 * w, city) / rowsum(A * w, city)))
t0 <- proc.time()[["elapsed"]]
des <- svydesign(ids = ~1, strata = ~city, data = df, weights = ~rep(1, nrow(df)))
set.seed(7)
reps <- as.svrepdesign(des, type = "subbootstrap", replicates = B)
margins <- list(~city + sex_age, ~city + education, ~city + residence)
reps <- rake(reps, margins, list(pop("sex_age"), pop("education"), pop("residence")), control = list(maxit = 100, epsilon = 1e-8))
res <- withReplicates(reps, item_means)
seconds <- proc.time()[["elapsed"]] - t0
write.csv(data.frame(city = rep(cities, each = length(items)), variable = rep(items, length(cities)),
                     estimate = as.vector(coef(res)), se = as.vector(SE(res))), out, row.names = FALSE)
cat(sprintf('{"seconds": %.3f}\n', seconds))
"""


def run_r(df: pd.DataFrame, margins: pd.DataFrame, replicates: int, items: list[str]) -> dict | None:
    return _run_r(R_SCRIPT, {"data.csv": df, "margins.csv": margins}, [str(replicates), ",".join(items)],
                  "r-cran-survey", outputs=("means.csv",))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--no-r", action="store_true", help="time our code only")
    args = parser.parse_args(argv)
    df, margins = national_survey(args.cities, args.per_city, args.items)
    items = [c for c in df.columns if c.startswith("Q")]
    print(f"{args.cities} cities × {args.per_city} respondents × {args.items} items, B = {args.replicates} re-raked bootstrap replicates")
    print(f"both sides compute {ESTIMATOR}")
    ours_s, result = ours(df, margins, args.replicates, items)
    print(f"satisfaction: {ours_s:8.2f} s  ({len(result)} city × item means with replicate SEs)")
    r = None if args.no_r else run_r(df, margins, args.replicates, items)
    if r is not None:
        print(f"R survey:     {r['seconds']:8.2f} s")
        print(f"ratio (R / satisfaction): {r['seconds'] / ours_s:.1f}×")
        theirs = r["outputs"].get("means.csv")
        if theirs is not None:
            both = result.merge(theirs.astype({"city": str}), on=["city", "variable"], suffixes=("", "_r"))
            ratio = both["se_r"] / both["se"]
            print(f"same estimates: {len(both)} city × item means, max |difference| "
                  f"{(both['estimate'] - both['estimate_r']).abs().max():.1e}; SEs (different random replicates) "
                  f"R / ours {ratio.min():.2f}–{ratio.max():.2f}, median {ratio.median():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
