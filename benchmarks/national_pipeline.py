"""The national evaluation end to end, through the package's public API, against R's survey + psych
and PyPI's svy in one run.

The work: 100 cities × 2,000 respondents × 30 items (1–5, ~4 % missing per item); the weights
raked within each city to sex × age, education and residence margins; B = 1,000 Rao–Wu bootstrap
replicates, every replicate re-raked; then

  index  every node of the indicator tree (3 first-level indicators × 5 second-level × 2 items)
         per city, with replicate SEs             (sat.index.weighted_scores, method="replicate")
  alpha  Cronbach's alpha per city × first-level indicator with its replicate (re-raked
         bootstrap) SE and interval               (sat.reliability.replicate_alpha)
  ranks  simultaneous two-sided stepdown rank sets of the cities' index, from the index's
         replicate covariance                     (sat.ranking.rank_sets, 1,000 draws)

Each stage is timed on its own: wall time, CPU time of the process and peak resident memory
(sampled every 10 ms, and the process's high-water mark); the target for the whole job is a peak
below 1.5 GB. Data generation is not timed, on any side.

Reference sides, in the same run:
  R survey + psych  the same estimators (item means per city, each item over its own
                    respondents; the tree's nodes as linear combinations of them; alpha per city ×
                    indicator) on a re-raked subbootstrap design, through ``withReplicates``, at 5
                    and 10 cities (the full size would take R over 1,000 s), with the
                    extrapolation to the full size, and a cross-check of the numbers
  svy (PyPI)        what it can do of the same work at the full size: raking, re-raked bootstrap
                    replicates and item means with replicate SEs (pip install -r
                    benchmarks/requirements-svy.txt)

    python benchmarks/national_pipeline.py                              # full size, with R and svy when found
    python benchmarks/national_pipeline.py --cities 10 --replicates 200 # smaller
    python benchmarks/national_pipeline.py --no-r --no-svy              # ours only
    python benchmarks/national_pipeline.py --growth                     # how time and memory grow (several minutes)

Every growth point runs in a fresh process, so its peak memory is its own.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from _rside import run_r
from weighting_bench import national_survey

#: The SD of the cities' shifts in latent satisfaction: enough for the rank sets to separate cities.
CITY_EFFECT = 0.1
DIMENSIONS = 3
PER_INDICATOR = 2
TOLERANCE = 1e-8          # raking, every side: largest relative margin error
SEED, RANK_SEED, RANK_DRAWS = 7, 1, 1000
STAGES = ("rake", "replicates", "index", "alpha", "ranks")
TARGET_MB = 1536
GROWTH = {"cities": (10, 30, 100, 300), "per_city": (500, 1000, 2000, 5000), "replicates": (200, 500, 1000, 2000)}
BASE = {"cities": 100, "per_city": 2000, "replicates": 1000}
UNITS = {"cities": ("cities", "city", 1), "per_city": ("respondents per city", "1,000 respondents per city", 1000),
         "replicates": ("replicates B", "100 replicates", 100)}


# ---- the data and the codebook (not timed) ----------------------------------------------------------


def survey(cities: int, per_city: int, items: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return national_survey(cities, per_city, items, city_effect=CITY_EFFECT)


def codebook_dict(items: list[str], cities: list[str]) -> dict:
    """A minimal valid codebook: the items on one 1–5 scale, in 3 first-level indicators of
    second-level indicators of 2 items each (equal weights within a node), and the cities."""
    if len(items) < 2 * DIMENSIONS:
        raise SystemExit(f"need at least {2 * DIMENSIONS} items (two per first-level indicator)")
    tree = []
    top = [0.35, 0.35, 0.30]
    for d, part in enumerate(np.array_split(np.array(items), DIMENSIONS)):
        groups = [list(part[i:i + PER_INDICATOR]) for i in range(0, len(part), PER_INDICATOR)]
        tree.append({"code": f"D{d + 1}", "zh": f"维度{d + 1}", "en": f"Dimension {d + 1}", "weight": top[d],
                     "children": [{"code": f"D{d + 1}.{k + 1}", "zh": f"指标{d + 1}.{k + 1}",
                                   "en": f"Indicator {d + 1}.{k + 1}", "weight": 1 / len(groups),
                                   "items": {str(i): 1 / len(g) for i in g}} for k, g in enumerate(groups)]})
    return {
        "version": 1,
        "title": {"zh": "全国测评（基准）", "en": "National evaluation (benchmark)"},
        "fields": {"respondent_id": {"zh": "问卷编号", "en": "Respondent ID", "headers": ["respondent_id"],
                                     "required": True},
                   "city": {"zh": "城市", "en": "City", "headers": ["city"], "required": True}},
        "scales": {"agree5": {"zh": "五级满意度", "en": "5-point satisfaction", "min": 1, "max": 5}},
        "items": {i: {"zh": i, "en": i, "scale": "agree5", "headers": [i]} for i in items},
        "index": {"code": "IDX", "zh": "指数", "en": "Index", "aggregation": "arithmetic"},
        "tree": tree,
        "cities": [{"code": c, "zh": c, "en": c} for c in cities],
    }


def load_codebook(items: list[str], cities: list[str]):
    import satisfaction as sat

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codebook.yaml"
        path.write_text(yaml.safe_dump(codebook_dict(items, cities), allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        return sat.load_codebook(path)


def dimension_blocks(codebook) -> dict[str, list[str]]:
    return {dim.code: [i for ind in dim.children for i in ind.weights] for dim in codebook.dimensions}


# ---- measuring ------------------------------------------------------------------------------------


class Meter:
    """Wall time, CPU time (the process's, all threads) and peak resident memory of each stage.

    The peak of a stage is sampled from ``/proc/self/statm`` every 10 ms by a thread; the process's
    high-water mark (``ru_maxrss``) is read at the end of each stage."""

    def __init__(self):
        self.stages: dict[str, dict] = {}
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._proc = Path("/proc/self/statm").exists()
        self._peak = 0
        self._stop = threading.Event()
        if self._proc:
            threading.Thread(target=self._sample, daemon=True).start()

    def rss(self) -> int:
        if not self._proc:
            return 0
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _sample(self):
        while not self._stop.wait(0.01):
            self._peak = max(self._peak, self.rss())

    @staticmethod
    def high_water_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux

    @contextmanager
    def stage(self, name: str):
        self._peak = self.rss()
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = max(self._peak, self.rss()) / 2 ** 20
        self.stages[name] = {"wall": wall, "cpu": cpu, "peak_mb": peak or self.high_water_mb(),
                             "high_water_mb": self.high_water_mb()}

    def close(self):
        self._stop.set()


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def total(stages: dict, names=STAGES) -> dict:
    part = [stages[n] for n in names if n in stages]
    return {"wall": sum(s["wall"] for s in part), "cpu": sum(s["cpu"] for s in part),
            "peak_mb": max(s["peak_mb"] for s in part), "high_water_mb": max(s["high_water_mb"] for s in part)}


# ---- our side ---------------------------------------------------------------------------------------


def ours(df: pd.DataFrame, margins: pd.DataFrame, replicates: int, codebook, *, means: bool = False,
         dump: str | None = None) -> tuple[dict, dict]:
    """The national evaluation: ``(stage measurements, results)``. ``means``: also time every
    item's mean per city with its replicate SE (the work svy can do; not part of the job's total).
    ``dump``: write the full-sample and replicate weights there afterwards (untimed)."""
    import satisfaction as sat
    from satisfaction.design import SurveyDesign, bootstrap_weights

    items = codebook.index_items
    blocks = dimension_blocks(codebook)
    meter = Meter()
    try:
        with meter.stage("rake"):
            design = sat.weighting.rake_design(SurveyDesign(df, strata="city"), margins, by="city", tol=TOLERANCE)
        with meter.stage("replicates"):
            design = bootstrap_weights(design, replicates, seed=SEED)   # each replicate re-raked as the design was
        with meter.stage("index"):
            scores = sat.index.weighted_scores(design, codebook, by="city", method="replicate")
        with meter.stage("alpha"):
            alphas = sat.reliability.replicate_alpha(design, blocks, by="city", level=0.95)
        with meter.stage("ranks"):
            rows = scores[(scores["node"] == codebook.tree.code) & scores["estimate"].notna()].set_index("city")
            cov = sat.estimate.vcov(rows.reset_index()).to_numpy()
            ranks = sat.ranking.rank_sets(rows["estimate"], cov, n_draws=RANK_DRAWS, seed=RANK_SEED)
        item_means = None
        if means:
            with meter.stage("means"):
                item_means = sat.estimate.mean(design, items, by="city", method="replicate")
    finally:
        meter.close()
    if dump:
        w = design.replicates.materialize(design.n).weights
        np.column_stack([design.weights, w]).T.tofile(dump)        # R's column-major n × (1 + B)
    return meter.stages, {"scores": scores, "alphas": alphas, "ranks": ranks, "means": item_means}


def print_stages(stages: dict, title: str) -> None:
    print(title)
    print(f"  {'stage':<11}{'wall s':>9}{'CPU s':>9}{'CPU/wall':>10}{'peak MB':>10}{'process peak MB':>17}")
    rows = [(n, stages[n]) for n in STAGES if n in stages] + [("total", total(stages))]
    for name, s in rows:
        print(f"  {name:<11}{s['wall']:9.2f}{s['cpu']:9.2f}{s['cpu'] / max(s['wall'], 1e-9):10.2f}"
              f"{s['peak_mb']:10.0f}{s['high_water_mb']:17.0f}")
    if "means" in stages:
        s = stages["means"]
        print(f"  {'(item means':<11}{s['wall']:9.2f}{s['cpu']:9.2f}{s['cpu'] / max(s['wall'], 1e-9):10.2f}"
              f"{s['peak_mb']:10.0f}{s['high_water_mb']:17.0f}   every item's mean per city: the svy comparison, "
              "not in the total)")


def side_ours(args) -> None:
    """One run of our side in this process; prints its measurements (and, for a cross-check, its
    results) as JSON on the last line."""
    df, margins = survey(args.cities, args.per_city, args.items)
    items = [c for c in df.columns if c.startswith("Q")]
    codebook = load_codebook(items, sorted(df["city"].unique()))
    stages, res = ours(df, margins, args.replicates, codebook, means=args.means, dump=args.dump)
    out = {"stages": stages}
    if args.results:
        out["results"] = {k: v.to_dict(orient="list") for k, v in res.items() if v is not None and k != "ranks"}
    print(json.dumps(out))


def in_subprocess(side: str, cities: int, per_city: int, items: int, replicates: int, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "--cities", str(cities), "--per-city", str(per_city),
           "--items", str(items), "--replicates", str(replicates), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} side failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- R survey + psych -------------------------------------------------------------------------------

R_SCRIPT = r"""
suppressMessages({library(survey); library(psych)})
args <- commandArgs(TRUE)
df <- read.csv(args[1], colClasses = c(city = "character", sex_age = "character", education = "character", residence = "character"))
m <- read.csv(args[2], colClasses = c(category = "character"))
coef <- as.matrix(read.csv(args[3], row.names = 1, check.names = FALSE))       # tree node × item, on 0-100 scores
blk <- read.csv(args[4], colClasses = "character")
B <- as.integer(args[5]); lo <- as.numeric(args[6]); hi <- as.numeric(args[7]); ours_file <- args[8]; out <- args[9]
items <- colnames(coef); nodes <- rownames(coef); cities <- sort(unique(df$city)); C <- length(cities)
blocks <- split(blk$item, factor(blk$block, levels = unique(blk$block)))
pop <- function(v) { x <- m[m$variable == v, c("city", "category", "target")]; names(x) <- c("city", v, "Freq"); x }

# The estimators as one function of a weight vector; withReplicates (survey's way of taking any
# statistic over every replicate) calls it with the full-sample weights and each replicate's.
# Item means per city, each item over its own respondents (svyby(~Qj, ~city, svymean, na.rm=TRUE)
# item by item gives the same numbers, two orders of magnitude slower); every node of the tree as
# its linear combination of the 0-100 item means; alpha per city x block over the respondents who
# answered the whole block, from weighted first and second moments.
city <- factor(df$city, levels = cities)
Y <- as.matrix(df[, items]); A <- 1 * !is.na(Y); Y0 <- Y; Y0[is.na(Y0)] <- 0
K <- kronecker(diag(C), coef)
pre <- lapply(blocks, function(b) {
  X <- as.matrix(df[, b]); ok <- rowSums(is.na(X)) == 0; X <- X[ok, , drop = FALSE]; s <- rowSums(X)
  list(ok = ok, city = city[ok], M = cbind(X, X^2, s, s^2), k = length(b))
})
alpha_of <- function(p, w) {
  s <- rowsum(p$M * w[p$ok], p$city); s <- s / rowsum(w[p$ok], p$city)[, 1]; k <- p$k
  k / (k - 1) * (1 - rowSums(s[, (k + 1):(2 * k), drop = FALSE] - s[, 1:k, drop = FALSE]^2) / (s[, 2 * k + 2] - s[, 2 * k + 1]^2))
}
theta <- function(w, data) {
  means <- as.vector(t(rowsum(Y0 * w, city) / rowsum(A * w, city)))
  c(means, as.vector(K %*% ((means - lo) / (hi - lo) * 100)), unlist(lapply(pre, alpha_of, w = w)))
}
labels <- rbind(data.frame(kind = "mean", city = rep(cities, each = length(items)), name = rep(items, C)),
                data.frame(kind = "index", city = rep(cities, each = length(nodes)), name = rep(nodes, C)),
                data.frame(kind = "alpha", city = rep(cities, length(blocks)), name = rep(names(blocks), each = C)))
tidy <- function(r, source) {
  reps <- r$replicates; se <- sqrt(diag(attr(r$theta, "var")))
  q <- apply(reps, 2, quantile, probs = c(0.025, 0.975), na.rm = TRUE)
  data.frame(source = source, labels, estimate = as.vector(r$theta), se = se, ci_low = q[1, ], ci_high = q[2, ])
}

t0 <- proc.time()[["elapsed"]]
des <- svydesign(ids = ~1, strata = ~city, data = df, weights = ~rep(1, nrow(df)))
set.seed(7)
reps <- as.svrepdesign(des, type = "subbootstrap", replicates = B)
reps <- rake(reps, list(~city + sex_age, ~city + education, ~city + residence),
             list(pop("sex_age"), pop("education"), pop("residence")), control = list(maxit = 100, epsilon = 1e-8))
t1 <- proc.time()[["elapsed"]]
res <- withReplicates(reps, theta, return.replicates = TRUE)
t2 <- proc.time()[["elapsed"]]

table <- tidy(res, "R")
# psych::alpha for the unweighted point alpha, and the same formula with equal weights
ones <- unlist(lapply(pre, alpha_of, w = rep(1, nrow(df))))
ps <- unlist(lapply(names(blocks), function(b) sapply(cities, function(c) {
  x <- na.omit(df[df$city == c, blocks[[b]]])
  suppressWarnings(alpha(x, check.keys = FALSE, warnings = FALSE))$total$raw_alpha
})))
n_alpha <- C * length(blocks)
table <- rbind(table, data.frame(source = "psych", kind = c(rep("psych", n_alpha), rep("equal weights", n_alpha)),
                                 city = rep(cities, 2 * length(blocks)), name = rep(rep(names(blocks), each = C), 2),
                                 estimate = c(ps, ones), se = NA, ci_low = NA, ci_high = NA))
if (nzchar(ours_file)) {   # the same estimators on our weights and replicate weights: SEs exactly comparable
  W <- matrix(readBin(ours_file, "double", nrow(df) * (B + 1)), nrow = nrow(df))
  given <- svrepdesign(data = df, repweights = W[, -1], weights = W[, 1], type = "bootstrap", combined.weights = TRUE,
                       scale = 1 / (B - 1), rscales = rep(1, B), mse = FALSE)
  table <- rbind(table, tidy(withReplicates(given, theta, return.replicates = TRUE), "R on our replicates"))
}
write.csv(table, out, row.names = FALSE)
cat(sprintf('{"seconds": %.3f, "rake": %.3f, "estimates": %.3f, "survey": "%s", "psych": "%s"}\n', t2 - t0, t1 - t0,
            t2 - t1, packageVersion("survey"), packageVersion("psych")))
"""


def r_side(cities: int, per_city: int, items_n: int, replicates: int, dump: str | None) -> dict | None:
    df, margins = survey(cities, per_city, items_n)
    items = [c for c in df.columns if c.startswith("Q")]
    codebook = load_codebook(items, sorted(df["city"].unique()))
    import satisfaction as sat

    coef = sat.index.tree_coefficients(codebook).rename_axis("node").reset_index()
    blocks = pd.DataFrame([(b, i) for b, its in dimension_blocks(codebook).items() for i in its],
                          columns=["block", "item"])
    scale = next(iter(codebook.items.values())).scale
    data = df[["city", "sex_age", "education", "residence", *items]]
    return run_r(R_SCRIPT, {"data.csv": data, "margins.csv": margins, "coef.csv": coef, "blocks.csv": blocks},
                 [str(replicates), f"{scale.min:g}", f"{scale.max:g}", dump or ""], "r-cran-survey r-cran-psych",
                 outputs=("results.csv",))


def ours_table(results: dict) -> pd.DataFrame:
    """Our results in the R side's tidy layout: kind, city, name, estimate, se, ci_low, ci_high."""
    scores = pd.DataFrame(results["scores"])
    alphas = pd.DataFrame(results["alphas"])
    means = pd.DataFrame(results["means"]) if results.get("means") is not None else None
    parts = [scores.assign(kind="index").rename(columns={"node": "name"}),
             alphas.assign(kind="alpha").rename(columns={"block": "name", "alpha": "estimate"})]
    if means is not None:
        parts.append(means.assign(kind="mean").rename(columns={"variable": "name"}))
    cols = ["kind", "city", "name", "estimate", "se", "ci_low", "ci_high"]
    return pd.concat([p[cols] for p in parts], ignore_index=True).astype({"city": str, "name": str})


def cross_check(ours_results: dict, table: pd.DataFrame, cities: int, per_city: int, items_n: int) -> None:
    """Print how our numbers and R's agree: point estimates exactly, SEs loosely against R's own
    random replicates and exactly against R run on our replicates; psych's alpha against ours."""
    import satisfaction as sat

    mine = ours_table(ours_results)
    table = table.astype({"city": str, "name": str})
    keys = ["kind", "city", "name"]
    own = mine.merge(table[table["source"] == "R"], on=keys, suffixes=("", "_r"))
    biggest = (lambda frame, col: (frame[col] - frame[f"{col}_r"]).abs().max())
    print(f"  cross-check at {cities} cities (point estimates exactly; SEs from R's own random replicates loosely):")
    for kind, label in (("mean", "item means"), ("index", "index nodes"), ("alpha", "alpha")):
        part = own[own["kind"] == kind]
        if not part.empty:
            ratio = part["se_r"] / part["se"]
            print(f"    {label:<12} {len(part):4d} estimates: max |Δ estimate| {biggest(part, 'estimate'):.1e}; "
                  f"SE R / ours {ratio.min():.2f}–{ratio.max():.2f}, median {ratio.median():.3f}, "
                  f"{ratio.between(0.85, 1.15).mean():.0%} within ±15 %")
    x = own[(own["kind"] == "index") & (own["name"] == "IDX")].iloc[0]
    a = own[own["kind"] == "alpha"].iloc[0]
    print(f"    {x['city']} index: ours {x['estimate']:.4f} (SE {x['se']:.4f}), R {x['estimate_r']:.4f} "
          f"(SE {x['se_r']:.4f}); {a['city']} × {a['name']} alpha: ours {a['estimate']:.4f} (SE {a['se']:.4f}, "
          f"CI {a['ci_low']:.4f}–{a['ci_high']:.4f}), R {a['estimate_r']:.4f} (SE {a['se_r']:.4f}, "
          f"CI {a['ci_low_r']:.4f}–{a['ci_high_r']:.4f})")
    given = mine.merge(table[table["source"] == "R on our replicates"], on=keys, suffixes=("", "_r"))
    if not given.empty:
        alphas = given[given["kind"] == "alpha"]
        relative_se = ((given["se"] - given["se_r"]) / given["se"]).abs().max()
        print(f"    R on our weights and replicates ({len(given)} estimates): max |Δ estimate| "
              f"{biggest(given, 'estimate'):.1e}, max relative |Δ SE| {relative_se:.1e}, "
              f"max |Δ alpha CI bound| {max(biggest(alphas, 'ci_low'), biggest(alphas, 'ci_high')):.1e}")
    # psych::alpha (unweighted) against our unweighted alpha, and against the formula R's replicates use
    df, _ = survey(cities, per_city, items_n)
    blocks = dimension_blocks(load_codebook([c for c in df.columns if c.startswith("Q")], sorted(df["city"].unique())))
    ps = table[table["kind"] == "psych"].merge(table[table["kind"] == "equal weights"], on=["city", "name"],
                                                suffixes=("", "_r"))
    ours_alpha = [sat.reliability.cronbach_alpha(df.loc[df["city"] == row.city, blocks[row.name]])["alpha"]
                  for row in ps.itertuples()]
    print(f"    psych::alpha (unweighted, {len(ps)} city × indicator): max |Δ| against our cronbach_alpha "
          f"{(ps['estimate'] - ours_alpha).abs().max():.1e}, against R's replicate formula with equal weights "
          f"{biggest(ps, 'estimate'):.1e}")


# ---- svy (PyPI) ----------------------------------------------------------------------------------------


def svy_available() -> bool:
    return importlib.util.find_spec("svy") is not None


def side_svy(args) -> None:
    """svy's share of the work in this process: Rao–Wu bootstrap replicates, raking of the weights
    and of every replicate (within cities: the margins crossed with the city, as R's ``~city +
    sex_age``), every item's mean per city (its own respondents: ``drop_nulls=True`` item by item)
    with replicate SEs. Prints measurements and the means as JSON."""
    import importlib.metadata

    import polars as pl
    import svy

    df, margins = survey(args.cities, args.per_city, args.items)
    items = [c for c in df.columns if c.startswith("Q")]
    df = df.assign(respondent=np.arange(len(df)), base_weight=1.0)
    controls = {}
    for v in ("sex_age", "education", "residence"):
        df[f"city_{v}"] = df["city"] + ":" + df[v]
        m = margins[margins["variable"] == v]
        controls[f"city_{v}"] = dict(zip(m["city"] + ":" + m["category"], m["target"]))
    data = pl.from_pandas(df)
    del df
    meter = Meter()
    try:
        with meter.stage("replicates"):
            sample = svy.Sample(data, svy.Design(stratum="city", psu="respondent", wgt="base_weight"))
            sample = sample.weighting.create_bs_wgts(n_reps=args.replicates, rstate=SEED)
        with meter.stage("rake"):
            sample = sample.weighting.rake(controls=controls, tol=TOLERANCE, max_iter=1000)
        with meter.stage("means"):
            results = sample.estimation.mean(items, by="city", method="replication", drop_nulls=True)
    finally:
        meter.close()
    rows = []
    for item, r in zip(items, results):
        t = r.to_polars()
        rows += [{"city": c, "variable": item, "estimate": e, "se": s}
                 for c, e, s in zip(t["city"].to_list(), t["est"].to_list(), t["se"].to_list())]
    print(json.dumps({"stages": meter.stages, "version": importlib.metadata.version("svy"), "means": rows}))


# ---- growth -------------------------------------------------------------------------------------------


def growth(items: int) -> None:
    runs: dict[tuple, dict] = {}
    print(f"growth from the base {BASE['cities']} cities × {BASE['per_city']:,} respondents × "
          f"B = {BASE['replicates']:,}, {items} items, one parameter at a time; each point in a fresh process")
    print(f"load average at start: {load()} ({os.cpu_count()} cores)")
    header = (f"  {'value':>7}{'wall s':>9}{'CPU s':>8}{'peak MB':>9}  " + "".join(f"{s:>11}" for s in STAGES)
              + f"{'s per unit':>12}{'marginal':>10}")
    for param, values in GROWTH.items():
        name, label, unit = UNITS[param]
        print(f"{name}: wall and CPU s of the job, its peak memory (the process's high-water mark), "
              f"each stage's wall s, s per {label}, and the marginal s per {label} from the previous point")
        print(header)
        prev = None
        for value in values:
            point = {**BASE, param: value}
            key = (point["cities"], point["per_city"], point["replicates"])
            if key not in runs:
                runs[key] = in_subprocess("ours", *key[:2], items, key[2])
            stages = runs[key]["stages"]
            t = total(stages)
            units = value / unit
            marginal = "" if prev is None else f"{(t['wall'] - prev[1]) / (units - prev[0]):10.3f}"
            print(f"  {value:>7,}{t['wall']:9.2f}{t['cpu']:8.1f}{t['high_water_mb']:9.0f}  "
                  + "".join(f"{stages[s]['wall']:11.2f}" for s in STAGES) + f"{t['wall'] / units:12.3f}{marginal}")
            prev = (units, t["wall"])
    print(f"load average at end: {load()}")


# ---- the run ---------------------------------------------------------------------------------------------


def compare_r(args, stages: dict) -> None:
    """R at a few small sizes against ours at the same sizes (each in a fresh process), the
    extrapolation to the full size, and the cross-check of the numbers at the smallest size."""
    same_work = ("rake", "replicates", "index", "alpha")
    sizes = sorted({c for c in map(int, args.r_cities.split(",")) if 2 <= c <= args.cities})
    print(f"R survey + psych: rake, replicates, item means, index nodes and alpha with replicate SEs and intervals "
          f"(withReplicates) at {', '.join(map(str, sizes))} cities; no rank sets (csranks is CRAN-only); ours: the "
          "same stages, each size in a fresh process")
    print(f"  {'cities':>6}{'R rake+reps s':>15}{'R estimates s':>15}{'R total s':>11}{'ours s':>9}{'ratio':>9}")
    timed = []
    for i, c in enumerate(sizes):
        with tempfile.TemporaryDirectory() as tmp:
            # our weights and replicates for R too, at the smallest size, when they are small enough
            dump = str(Path(tmp) / "weights.bin") if i == 0 and c * args.per_city * args.replicates <= 5e7 else None
            mine = in_subprocess("ours", c, args.per_city, args.items, args.replicates, "--means", "--results",
                                 *(["--dump", dump] if dump else []))
            r = r_side(c, args.per_city, args.items, args.replicates, dump)
        if r is None:
            return
        ours_s = total(mine["stages"], same_work)["wall"]
        print(f"  {c:>6}{r['rake']:15.2f}{r['estimates']:15.2f}{r['seconds']:11.2f}{ours_s:9.2f}"
              f"{r['seconds'] / ours_s:8.1f}×")
        timed.append((c, r["seconds"], mine, r))
    if not timed:
        return
    print(f"  (R survey {timed[0][3]['survey']}, psych {timed[0][3]['psych']})")
    if timed[-1][0] < args.cities:
        ours_full = total(stages, same_work)["wall"]
        if len(timed) > 1:
            (c0, s0, *_), (c1, s1, *_) = timed[0], timed[-1]
            guess, how = s1 + (s1 - s0) / (c1 - c0) * (args.cities - c1), f"the line through {c0} and {c1} cities"
        else:
            c1, s1 = timed[0][:2]
            guess, how = s1 * args.cities / c1, f"proportional to {c1} cities"
        print(f"  {args.cities} cities: R extrapolated ({how}) ≈ {guess:,.0f} s; ours measured {ours_full:.2f} s "
              f"(the same stages) — {guess / ours_full:,.0f}×")
    c, _, mine, r = timed[0]
    if "results.csv" in r["outputs"]:
        cross_check(mine["results"], r["outputs"]["results.csv"], c, args.per_city, args.items)


def compare_svy(args, stages: dict, means: pd.DataFrame) -> None:
    """svy at the full size (in a fresh process) on the part of the work it can do."""
    try:
        theirs = in_subprocess("svy", args.cities, args.per_city, args.items, args.replicates)
    except RuntimeError as exc:
        print(f"svy side failed: {exc}")
        return
    s = theirs["stages"]
    svy_total = total(s, ("replicates", "rake", "means"))
    ours_same = total(stages, ("rake", "replicates", "means"))
    print(f"svy {theirs['version']} (PyPI, Rust core) at {args.cities} cities: bootstrap replicates, raking of the "
          "weights and of every replicate, every item's mean per city with replicate SEs")
    print(f"  {'':<14}{'svy s':>9}{'svy peak MB':>13}{'ours s':>9}{'ours peak MB':>14}")
    for label, name in (("replicates", "replicates"), ("rake", "rake"), ("item means", "means")):
        print(f"  {label:<14}{s[name]['wall']:9.2f}{s[name]['peak_mb']:13,.0f}{stages[name]['wall']:9.2f}"
              f"{stages[name]['peak_mb']:14,.0f}")
    print(f"  {'total':<14}{svy_total['wall']:9.2f}{svy_total['high_water_mb']:13,.0f}{ours_same['wall']:9.2f}"
          f"{ours_same['high_water_mb']:14,.0f}   ratio {svy_total['wall'] / ours_same['wall']:.1f}× "
          f"(time), {svy_total['high_water_mb'] / ours_same['high_water_mb']:.1f}× (peak memory)")
    print("  (svy draws the replicates from the base weights, then rakes the weights and every replicate; ours rakes the "
          "weights, then draws the replicates and re-rakes each; ours' peak is the whole job's so far)")
    both = means.astype({"city": str}).merge(pd.DataFrame(theirs["means"]), on=["city", "variable"],
                                             suffixes=("", "_svy"))
    ratio = both["se_svy"] / both["se"]
    print(f"  same estimates: {len(both)} city × item means, max |Δ estimate| "
          f"{(both['estimate'] - both['estimate_svy']).abs().max():.1e}; SE svy / ours (different random replicates) "
          f"{ratio.min():.2f}–{ratio.max():.2f}, median {ratio.median():.3f}")
    print("  not in svy: the index tree with replicate SEs (its contrasts combine the domains of one estimate, not "
          "several items' means), Cronbach's alpha with or without replicates, rank sets")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--r-cities", default="5,10", help="the city counts R runs at (default 5,10)")
    parser.add_argument("--no-r", action="store_true", help="skip the R side")
    parser.add_argument("--no-svy", action="store_true", help="skip the svy side")
    parser.add_argument("--growth", action="store_true", help="print the growth table instead (several minutes)")
    parser.add_argument("--side", choices=["ours", "svy"], help=argparse.SUPPRESS)
    parser.add_argument("--means", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--results", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side == "ours":
        side_ours(args)
        return 0
    if args.side == "svy":
        side_svy(args)
        return 0
    if args.growth:
        growth(args.items)
        return 0

    run_svy = not args.no_svy and svy_available()
    print(f"National evaluation: {args.cities} cities × {args.per_city:,} respondents × {args.items} items, "
          f"B = {args.replicates:,} re-raked bootstrap replicates")
    print(f"load average at start: {load()} ({os.cpu_count()} cores)")
    df, margins = survey(args.cities, args.per_city, args.items)
    items = [c for c in df.columns if c.startswith("Q")]
    codebook = load_codebook(items, sorted(df["city"].unique()))
    stages, results = ours(df, margins, args.replicates, codebook, means=run_svy)
    del df
    job = total(stages)
    print_stages(stages, "satisfaction (this process):")
    widths = results["ranks"]["upper"] - results["ranks"]["lower"] + 1
    print(f"  peak memory over the job: {job['high_water_mb']:,.0f} MB (target < {TARGET_MB:,} MB: "
          f"{'met' if job['high_water_mb'] < TARGET_MB else 'missed'}); {len(results['scores']):,} city × node scores, "
          f"{len(results['alphas']):,} city × indicator alphas, rank sets of {len(results['ranks'])} cities "
          f"(median width {int(widths.median())})")
    if not args.no_r:
        compare_r(args, stages)
    if run_svy:
        compare_svy(args, stages, results["means"])
    elif not args.no_svy:
        print("svy not installed: svy side skipped (pip install -r benchmarks/requirements-svy.txt)")
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
