"""The full reliability table for a national survey, ours against R's psych, in one run.

The work: 100 cities × 2,000 respondents × 27 items (3 first-level indicators of 9 items); for every
city and indicator: Cronbach's alpha (raw and standardised), lambda-6, the item analysis (r.drop,
alpha if deleted …) and a 1,000-replicate bootstrap confidence interval for alpha. R does the same
with ``psych::alpha(x, n.iter = 1000)`` per city and indicator.

    python benchmarks/reliability_bench.py               # full size, with R if Rscript and psych are found
    python benchmarks/reliability_bench.py --cities 5    # smaller
    python benchmarks/reliability_bench.py --no-r        # ours only

Prints both times and the ratio. Data loading is not timed on either side.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from _rside import time_r
from satisfaction import reliability as rel

DIMENSIONS = 3
PER_DIMENSION = 9


def national_items(cities: int, per_city: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = cities * per_city
    general = rng.normal(0, np.sqrt(0.6), n)
    cols = {"city": np.repeat([f"C{c:03d}" for c in range(cities)], per_city)}
    for d in range(DIMENSIONS):
        eta = general + rng.normal(0, np.sqrt(0.4), n)
        for j in range(PER_DIMENSION):
            y = np.clip(np.round(3.7 + 0.9 * (eta + rng.normal(0, 1.25, n))), 1, 5)
            y[rng.random(n) < 0.03] = np.nan
            cols[f"D{d + 1}_{j + 1}"] = y
    return pd.DataFrame(cols)


def ours(df: pd.DataFrame, replicates: int) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    rows = []
    for city, block in df.groupby("city", sort=True):
        for d in range(DIMENSIONS):
            items = block[[f"D{d + 1}_{j + 1}" for j in range(PER_DIMENSION)]]
            a = rel.cronbach_alpha(items)
            table = rel.item_analysis(items)
            boot = rel.bootstrap_alpha(items, replicates=replicates, seed=d)
            rows.append({"city": city, "dimension": d + 1, "alpha": a["alpha"], "std_alpha": a["std_alpha"],
                         "lambda6": a["lambda6"], "min_r_drop": table["r_drop"].min(),
                         "boot_low": boot["ci_low"], "boot_high": boot["ci_high"]})
    return time.perf_counter() - start, pd.DataFrame(rows)


R_SCRIPT = r"""
suppressMessages(library(psych))
args <- commandArgs(TRUE)
df <- read.csv(args[1]); B <- as.integer(args[2])
set.seed(1)
t0 <- proc.time()[["elapsed"]]
for (city in sort(unique(df$city))) {
  block <- df[df$city == city, ]
  for (d in 1:3) {
    items <- na.omit(block[, paste0("D", d, "_", 1:9)])
    a <- suppressWarnings(alpha(items, n.iter = B, check.keys = FALSE, warnings = FALSE))
  }
}
cat(sprintf('{"seconds": %.3f}\n', proc.time()[["elapsed"]] - t0))
"""


def run_r(df: pd.DataFrame, replicates: int) -> float | None:
    return time_r(R_SCRIPT, {"items.csv": df}, [str(replicates)], "r-cran-psych")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--no-r", action="store_true", help="time our code only")
    args = parser.parse_args(argv)
    df = national_items(args.cities, args.per_city)
    print(f"{args.cities} cities × {args.per_city} respondents × {DIMENSIONS * PER_DIMENSION} items; alpha, item "
          f"analysis and a {args.replicates}-replicate bootstrap CI for every city × indicator")
    ours_s, table = ours(df, args.replicates)
    print(f"satisfaction: {ours_s:8.2f} s  ({len(table)} city × indicator reliability rows)")
    r_s = None if args.no_r else run_r(df, args.replicates)
    if r_s is not None:
        print(f"R psych:      {r_s:8.2f} s")
        print(f"ratio (R / satisfaction): {r_s / ours_s:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
