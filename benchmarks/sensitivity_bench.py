"""The full rank sensitivity analysis for a national evaluation: 100 cities, 1,000 Monte Carlo draws.

Uncertain inputs: weight scheme (fixed, equal, entropy, PCA, AHP), ±25 % weight perturbation,
arithmetic or geometric aggregation, missing-data rule — with Sobol indices, i.e. 1,000 × (4 + 2)
= 6,000 index builds and rankings of the 100 cities (the demo codebook's tree, 25 items).

    python benchmarks/sensitivity_bench.py                 # 100 cities, 1,000 draws
    python benchmarks/sensitivity_bench.py --cities 300

Target: under 30 s (an absolute target). R's COINr (``get_sensitivity``), the tool of reference
for this analysis, is on CRAN only and not packaged for Debian, so no reference side is timed; the
script says so in its output.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from satisfaction import load_codebook
from satisfaction.sensitivity import rank_sensitivity

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    cb = load_codebook(ROOT / "data" / "raw" / "codebook.yaml")
    rng = np.random.default_rng(1)
    items = cb.index_items
    city_level = rng.normal(0, 4, size=(args.cities, 1))
    scores = np.clip(70 + city_level + rng.normal(0, 3, size=(args.cities, len(items))), 1, 100)
    frame = pd.DataFrame(scores, columns=items, index=[f"C{i:03d}" for i in range(args.cities)])

    start = time.perf_counter()
    out = rank_sensitivity(frame, cb, n_draws=args.draws, seed=1)
    ours = time.perf_counter() - start
    runs = args.draws * (len(out.sobol) + 2)
    print(f"{args.cities} cities × {args.draws} draws ({runs} index builds): ours {ours:.2f} s   target < 30 s")
    print(out.sobol.round(3).to_string(index=False))
    print("no reference side: R's COINr is CRAN-only (not packaged for Debian)")


if __name__ == "__main__":
    main()
