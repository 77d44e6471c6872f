"""Cross-table tests and satisfaction rates per city, ours against R's survey, in one run.

The work, on a synthetic provincial survey (14 cities × ~2,000 respondents by default; ``--cities
100`` for a national-size run), stratified by city and clustered by interviewer:

1. per city, the Rao–Scott test of independence (F, R's default) of a 5-point satisfaction item ×
   age group (5 × 3): ours ``tables.chisq(design, "x", "age", by="city")``, R a loop of
   ``svychisq(~x + age, subset(d, city == c))`` over the cities;
2. per city, the share satisfied (x ≥ 4) with a logit interval: ours
   ``proportion.ciprop(design, "x", by="city", at_least=4, interval="logit")``, R
   ``svyby(~I(x >= 4), ~city, d, svyciprop, method = "logit", vartype = "ci")``.

    python benchmarks/crosstab_bench.py                 # 14 cities, with R if Rscript is found
    python benchmarks/crosstab_bench.py --cities 100    # national size
    python benchmarks/crosstab_bench.py --no-r          # ours only

Prints both times, their ratio and the largest relative difference between the two sides'
numbers. Data loading is not timed on either side; building the design is, on both.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _rside import time_r
from satisfaction.design import SurveyDesign
from satisfaction.survey import tables as ct

AGES = ("18-34", "35-59", "60+")


def provincial_survey(cities: int, per_city: int = 2000, per_interviewer: int = 100, seed: int = 1) -> pd.DataFrame:
    """Respondents with a city, an interviewer (nested in city), a weight, an age group and a
    5-point satisfaction item whose level depends on age, city and interviewer."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(int(per_city * 0.9), int(per_city * 1.1) + 1, cities)
    city = np.repeat([f"C{c:03d}" for c in range(cities)], sizes)
    n = len(city)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    within = np.arange(n) - np.repeat(first, sizes)
    interviewer = np.char.add(np.char.add(city.astype(str), "_I"), (within // per_interviewer).astype(str))
    age = rng.choice(3, n, p=[0.35, 0.4, 0.25])
    population = np.repeat(rng.integers(500_000, 5_000_000, cities) / sizes, sizes)
    weight = population * rng.uniform(0.6, 1.4, n) * np.array([1.1, 0.95, 0.95])[age]
    city_effect = np.repeat(rng.normal(0, 0.3, cities), sizes)
    _, iv_codes = np.unique(interviewer, return_inverse=True)
    iv_effect = rng.normal(0, 0.25, iv_codes.max() + 1)[iv_codes]
    latent = 3.6 + city_effect + iv_effect + np.array([-0.15, 0.0, 0.25])[age] + rng.normal(0, 0.9, n)
    x = np.clip(np.round(latent), 1, 5).astype(int)
    return pd.DataFrame({"city": city, "interviewer": interviewer, "w": weight,
                         "age": np.array(AGES, dtype=object)[age], "x": x})


def design_of(df: pd.DataFrame) -> SurveyDesign:
    return SurveyDesign(df, weights="w", strata="city", cluster="interviewer")


def ours(df: pd.DataFrame) -> tuple[float, pd.DataFrame, float | None, pd.DataFrame | None]:
    start = time.perf_counter()
    tests = ct.chisq(design_of(df), "x", "age", by="city")
    chisq_s = time.perf_counter() - start
    try:
        from satisfaction.survey.proportion import ciprop
    except ImportError as exc:   # written by a colleague at the same time as this benchmark
        print(f"satisfaction.survey.proportion.ciprop not available ({exc}): share-satisfied part skipped")
        return chisq_s, tests, None, None
    start = time.perf_counter()
    shares = ciprop(design_of(df), "x", by="city", at_least=4, interval="logit")
    return chisq_s, tests, time.perf_counter() - start, shares


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], colClasses = c(city = "character", interviewer = "character", age = "character"))
out_chisq <- args[2]; out_prop <- args[3]; out_time <- args[4]
t0 <- proc.time()[["elapsed"]]
d <- svydesign(ids = ~interviewer, strata = ~city, weights = ~w, data = df, nest = TRUE)
cities <- sort(unique(df$city))
tests <- lapply(cities, function(cc) svychisq(~x + age, subset(d, city == cc)))
t1 <- proc.time()[["elapsed"]]
d <- svydesign(ids = ~interviewer, strata = ~city, weights = ~w, data = df, nest = TRUE)
shares <- svyby(~I(x >= 4), ~city, d, svyciprop, method = "logit", vartype = "ci")
t2 <- proc.time()[["elapsed"]]
write.csv(data.frame(city = cities, statistic = sapply(tests, function(t) unname(t$statistic)),
                     ndf = sapply(tests, function(t) unname(t$parameter[1])),
                     ddf = sapply(tests, function(t) unname(t$parameter[2])),
                     p_value = sapply(tests, function(t) t$p.value)), out_chisq, row.names = FALSE)
write.csv(data.frame(city = shares$city, estimate = unname(coef(shares)), ci_low = shares$ci_l,
                     ci_high = shares$ci_u), out_prop, row.names = FALSE)
writeLines(sprintf("%.6f", t1 - t0), out_time)   # the chi-square loop's time
cat(sprintf('{"seconds": %.3f}\n', t2 - t1))     # time_r reads this one: svyby(svyciprop)
"""


def run_r(df: pd.DataFrame) -> tuple[float | None, float | None, pd.DataFrame | None, pd.DataFrame | None]:
    """R's times for the two parts (chi-square loop, svyby of svyciprop) and its numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        out_chisq, out_prop, out_time = (str(Path(tmp) / name) for name in ("chisq.csv", "prop.csv", "chisq.time"))
        prop_s = time_r(R_SCRIPT, {"data.csv": df}, [out_chisq, out_prop, out_time], "r-cran-survey")
        if prop_s is None:
            return None, None, None, None
        return float(Path(out_time).read_text()), prop_s, pd.read_csv(out_chisq), pd.read_csv(out_prop)


def max_rel(ours_values, r_values) -> float:
    a, b = np.asarray(ours_values, float), np.asarray(r_values, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=14)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--no-r", action="store_true", help="time our code only")
    args = parser.parse_args(argv)
    df = provincial_survey(args.cities, args.per_city)
    print(f"{args.cities} cities, {len(df):,} respondents, {df.interviewer.nunique()} interviewers "
          "(strata = city, PSU = interviewer)")
    chisq_s, tests, prop_s, shares = ours(df)
    print(f"Rao–Scott F test of x (5) × age (3), one per city: satisfaction {chisq_s:8.3f} s")
    if prop_s is not None:
        print(f"share satisfied per city, logit interval:        satisfaction {prop_s:8.3f} s")
    if args.no_r:
        return 0
    r_chisq_s, r_prop_s, r_tests, r_shares = run_r(df)
    if r_chisq_s is None:
        return 0
    print(f"R survey, loop of svychisq over subsets:  {r_chisq_s:8.3f} s   ratio (R / satisfaction): "
          f"{r_chisq_s / chisq_s:.1f}×")
    worst = max(max_rel(tests[c], r_tests[c]) for c in ("statistic", "ndf", "ddf", "p_value"))
    print(f"  max relative difference (statistic, ndf, ddf, p-value): {worst:.2e}")
    print(f"R survey, svyby(svyciprop, method = 'logit'): {r_prop_s:8.3f} s", end="")
    if prop_s is not None:
        print(f"   ratio (R / satisfaction): {r_prop_s / prop_s:.1f}×")
        worst = max(max_rel(shares[c], r_shares[c]) for c in ("estimate", "ci_low", "ci_high"))
        print(f"  max relative difference (estimate, ci_low, ci_high): {worst:.2e}")
    else:
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
