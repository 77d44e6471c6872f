"""Simultaneous two-sided stepdown confidence sets for the ranks of 300 units, 1,000 draws.

Ours (``satisfaction.ranking.rank_sets``: draws processed in blocks of units) against the csranks
algorithm: R's ``csranks::csranks(x, Sigma, simul = TRUE, stepdown = TRUE, R = 1000)`` when Rscript
finds the package (CRAN only, not packaged for Debian), otherwise a straightforward NumPy
implementation of the same algorithm (the full draws × units × units statistic array at every step).
Prints time and peak memory of each side, the ratio, and whether the sets agree.

    python benchmarks/ranking_bench.py              # 300 units
    python benchmarks/ranking_bench.py --units 150

Targets: ≤ 2 s and ≤ 1 GB peak memory for 300 units.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from _rside import time_r

R_SCRIPT = """
suppressMessages({library(csranks); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
start <- Sys.time()
cs <- csranks(d$estimate, diag(d$variance), coverage = 0.95, simul = TRUE, stepdown = TRUE, R = as.integer(args[2]))
cat(toJSON(list(seconds = as.numeric(difftime(Sys.time(), start, units = "secs"))), auto_unbox = TRUE), "\n")
"""


def csranks_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('csranks', quietly = TRUE))"],
                           capture_output=True)
    return check.returncode == 0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def straightforward(est, var, n_draws, seed, coverage=0.95):
    """The csranks algorithm without blocking: all T*_jk for all draws at once."""
    from satisfaction.ranking import _normal_draws

    p = est.size
    se = np.sqrt(var[:, None] + var[None, :])
    np.fill_diagonal(se, 1.0)
    z = _normal_draws(np.diag(var), n_draws, seed)
    t_obs = (est[:, None] - est[None, :]) / se
    active = ~np.eye(p, dtype=bool)
    rejected = np.zeros((p, p), dtype=bool)
    while True:
        t = (z[:, :, None] - z[:, None, :]) / se
        crit = np.quantile(np.where(active, t, -np.inf).max(axis=(1, 2)), coverage)
        new = active & (t_obs > crit)
        if not new.any():
            break
        rejected |= new
        active &= ~new
    return 1 + rejected.sum(axis=0), p - rejected.sum(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    est = np.sort(rng.normal(75, 3, args.units))[::-1].copy()
    var = rng.uniform(0.3, 1.5, args.units) ** 2
    if args.side == "ours":
        from satisfaction.ranking import rank_sets

        start = time.perf_counter()
        out = rank_sets(est, var, simultaneous=True, stepdown=True, n_draws=args.draws, seed=1)
        print(time.perf_counter() - start, peak_mb(), ",".join(map(str, out["lower"])), ",".join(map(str, out["upper"])))
        return
    if args.side == "reference":
        start = time.perf_counter()
        lower, upper = straightforward(est, var, args.draws, 1)
        print(time.perf_counter() - start, peak_mb(), ",".join(map(str, lower)), ",".join(map(str, upper)))
        return
    # each side in its own process, so that peak memory is its own
    runs = {}
    for side in ("ours", "reference"):
        proc = subprocess.run([sys.executable, __file__, "--units", str(args.units), "--draws", str(args.draws),
                               "--side", side], capture_output=True, text=True, check=True)
        seconds, mb, lower, upper = proc.stdout.split()
        runs[side] = (float(seconds), float(mb), lower, upper)
    ours, ref = runs["ours"], runs["reference"]
    print(f"{args.units} units, {args.draws} draws, simultaneous two-sided stepdown sets")
    print(f"  ours:                      {ours[0]:7.2f} s  peak {ours[1]:7.0f} MB   (targets ≤ 2 s, ≤ 1024 MB)")
    print(f"  straightforward NumPy:     {ref[0]:7.2f} s  peak {ref[1]:7.0f} MB")
    print(f"  ratio: {ref[0] / ours[0]:.1f}× faster, {ref[1] / ours[1]:.1f}× less memory; "
          f"same sets: {ours[2:] == ref[2:]}")
    if csranks_available():
        seconds = time_r(R_SCRIPT, {"units.csv": pd.DataFrame({"estimate": est, "variance": var})}, [str(args.draws)],
                         "csranks (CRAN)")
        if seconds is not None:
            print(f"  R csranks:                 {seconds:7.2f} s   ratio {seconds / ours[0]:.1f}× faster")
    else:
        print("  R csranks not found (CRAN only, not packaged for Debian): timed against the NumPy version only")


if __name__ == "__main__":
    main()
