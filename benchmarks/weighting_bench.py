"""National-scale weighting and replicate estimation, ours against R's survey, in one run.

The work: 100 cities × 2,000 respondents × 30 items; rake within each city to sex × age,
education and residence margins; B = 1,000 Rao–Wu bootstrap replicates, every replicate re-raked;
every item's mean per city with its replicate standard error. R does the same with
``as.svrepdesign(type="subbootstrap")`` + ``rake`` + ``svyby(svymean)``.

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

from _rside import time_r
from satisfaction import estimate as est
from satisfaction import weighting as wt
from satisfaction.design import SurveyDesign, bootstrap_weights


def national_survey(cities: int, per_city: int, items: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = cities * per_city
    city = np.repeat([f"C{c:03d}" for c in range(cities)], per_city)
    sex = rng.integers(1, 3, n)
    age = rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]) + 1
    edu = rng.choice(4, n, p=[0.15, 0.25, 0.3, 0.3]) + 1
    res = rng.choice(2, n, p=[0.7, 0.3]) + 1
    latent = rng.normal(0, 1, n) + 0.1 * age - 0.1 * edu
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


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], colClasses = c(city = "character", sex_age = "character", education = "character", residence = "character"))
m <- read.csv(args[2], colClasses = c(category = "character"))
B <- as.integer(args[3]); items <- strsplit(args[4], ",")[[1]]
pop <- function(v) { x <- m[m$variable == v, c("city", "category", "target")]; names(x) <- c("city", v, "Freq"); x }
t0 <- proc.time()[["elapsed"]]
des <- svydesign(ids = ~1, strata = ~city, data = df, weights = ~rep(1, nrow(df)))
set.seed(7)
rep <- as.svrepdesign(des, type = "subbootstrap", replicates = B)
margins <- list(~city + sex_age, ~city + education, ~city + residence)
rep <- rake(rep, margins, list(pop("sex_age"), pop("education"), pop("residence")), control = list(maxit = 100, epsilon = 1e-8))
res <- svyby(as.formula(paste("~", paste(items, collapse = "+"))), ~city, rep, svymean, na.rm = TRUE)
cat(sprintf('{"seconds": %.3f}\n', proc.time()[["elapsed"]] - t0))
"""


def run_r(df: pd.DataFrame, margins: pd.DataFrame, replicates: int, items: list[str]) -> float | None:
    return time_r(R_SCRIPT, {"data.csv": df, "margins.csv": margins}, [str(replicates), ",".join(items)], "r-cran-survey")


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
    ours_s, result = ours(df, margins, args.replicates, items)
    print(f"satisfaction: {ours_s:8.2f} s  ({len(result)} city × item means with replicate SEs)")
    r_s = None if args.no_r else run_r(df, margins, args.replicates, items)
    if r_s is not None:
        print(f"R survey:     {r_s:8.2f} s")
        print(f"ratio (R / satisfaction): {r_s / ours_s:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
