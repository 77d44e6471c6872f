"""City bulletins (城市通报) at scale: the part shared by every bulletin against each bulletin's own.

``run_bulletins`` computes the year's shared numbers once (weights, re-raked replicates, rank sets,
driver intervals, targets; ``BatchResult.shared_seconds``) and then renders each bulletin — figures,
page, Word document, A4 PDF — from them (``BatchResult.render_seconds``, timed in the worker). In one
run:

1. the demo's 14 bulletins (zh, 2019–2024 from the checkout's raw exports, ingested into a new
   project so that the shared numbers are computed cold), rendered in this process
   (``workers=1``) and then in a local process pool (``workers=os.cpu_count()``, the shared numbers
   now read back from ``data/interim/``);
2. ``--cities`` synthetic cities (100 by default; 2023–2024, ~560 respondents each: the demo's
   cities repeated under new codes with their answers drawn from other seeds, population margins
   scaled per city) rendered on a Dask ``LocalCluster`` of ``os.cpu_count()`` single-threaded
   worker processes, by its scheduler's address.

    python benchmarks/bulletins_bench.py                    # 14 demo bulletins, then 100 on Dask
    python benchmarks/bulletins_bench.py --cities 30 --no-pdf

Prints per run: wall time, the shared part (once), its cost per bulletin (shared / n) and the mean
rendering time of a bulletin. There is no reference tool for this work: the point is how the cost
splits, and how it scales with the workers and the number of cities.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from satisfaction import load_codebook, synth
from satisfaction.ingest import ingest
from satisfaction.report import BULLETIN_PARAMETERS, run_bulletins

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
DEMO_YEARS = (2019, 2020, 2021, 2022, 2023, 2024)
SYNTH_YEARS = (2023, 2024)
ISSUED = "2025-03-15"


def demo_project(folder: Path) -> Path:
    """A new project with the demo codebook, margins and targets, every demo year ingested."""
    (folder / "data" / "raw").mkdir(parents=True)
    for name in ("codebook.yaml", "targets.yaml"):
        shutil.copyfile(RAW / name, folder / "data" / "raw" / name)
    shutil.copytree(RAW / "population", folder / "data" / "raw" / "population")
    codebook = folder / "data" / "raw" / "codebook.yaml"
    for year in DEMO_YEARS:
        ingest(year, raw_root=RAW, out_root=folder / "data" / "processed", codebook=codebook)
    return folder


def synthetic_project(folder: Path, n_cities: int, seed: int = 1) -> Path:
    """A project of ``n_cities`` cities built from the demo: city ``k`` copies demo city ``k mod 14``
    (its latent level and population structure) with answers drawn from another seed and its
    population scaled by a factor between 0.4 and 2.5; four regions; a province target and one
    target per city. The raw exports are one UTF-8 CSV per year, ingested as an agency's would be."""
    import numpy as np

    rng = np.random.default_rng(seed)
    raw = folder / "data" / "raw"
    (raw / "population").mkdir(parents=True)
    demo_cb = load_codebook(RAW / "codebook.yaml")
    templates = list(demo_cb.cities)
    codes = [f"99{k + 1:04d}" for k in range(n_cities)]
    scale = rng.uniform(0.4, 2.5, n_cities)

    spec = yaml.safe_load((RAW / "codebook.yaml").read_text(encoding="utf-8"))
    spec["cities"] = [{"code": c, "zh": f"样本{k + 1:03d}市", "en": f"Sample city {k + 1:03d}"}
                      for k, c in enumerate(codes)]
    names = {"north": ("北部地区", "North"), "south": ("南部地区", "South"), "east": ("东部地区", "East"),
             "west": ("西部地区", "West")}
    spec["regions"] = {key: {"zh": zh, "en": en, "cities": codes[i::4]}
                       for i, (key, (zh, en)) in enumerate(names.items())}
    (raw / "codebook.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cb = load_codebook(raw / "codebook.yaml")

    margins = pd.read_csv(RAW / "population" / "margins.csv", dtype={"city": str, "category": str})
    sizes = pd.read_csv(RAW / "population" / "cities.csv", dtype={"city": str}).set_index("city")
    m_rows, s_rows = [], []
    for k, code in enumerate(codes):
        t = templates[k % len(templates)]
        part = margins[margins["city"] == t].assign(city=code)
        part["count"] = (part["count"] * scale[k]).round().astype("int64")
        m_rows.append(part)
        s_rows.append({"city": code, "name": f"样本{k + 1:03d}市",
                       "adult_population": int(part.loc[part["variable"] == "residence", "count"].sum()),
                       "retail_sales": round(float(sizes.loc[t, "retail_sales"]) * scale[k])})
    pd.concat(m_rows).to_csv(raw / "population" / "margins.csv", index=False)
    pd.DataFrame(s_rows).to_csv(raw / "population" / "cities.csv", index=False)

    targets = [{"unit": "province", "measure": "score", "of": "CSI", "threshold": 80, "year": 2025},
               {"unit": "province", "measure": "rate", "of": "overall", "threshold": 85, "year": 2025}]
    targets += [{"unit": c, "measure": "score", "of": "CSI", "threshold": 78, "year": 2025} for c in codes]
    (raw / "targets.yaml").write_text(yaml.safe_dump({"version": 1, "confidence": 0.95, "targets": targets},
                                                     allow_unicode=True, sort_keys=False), encoding="utf-8")

    frames: dict[int, list[pd.DataFrame]] = {year: [] for year in SYNTH_YEARS}
    for r in range(math.ceil(n_cities / len(templates))):
        survey = synth.generate(seed=synth.DEFAULT_SEED + 1 + r, years=SYNTH_YEARS, codebook=demo_cb)
        for year, df in survey.responses.items():
            for j, t in enumerate(templates):
                k = r * len(templates) + j
                if k >= n_cities:
                    break
                part = df[df["city"] == t].copy()
                part["city"] = codes[k]
                part["respondent_id"] = [f"{year}{codes[k]}{i:04d}" for i in range(1, len(part) + 1)]
                frames[year].append(part)
    for year, parts in frames.items():
        out = raw / str(year) / f"agency_{year}.csv"
        out.parent.mkdir()
        synth.export_frame(pd.concat(parts, ignore_index=True), cb, "long", "code").to_csv(out, index=False)
        ingest(year, raw_root=raw, out_root=folder / "data" / "processed", codebook=cb)
    return folder


def row(label: str, workers: str, result) -> dict:
    n = len(result.folders)
    renders = list(result.render_seconds.values())
    return {"run": label, "bulletins": n, "workers": workers, "wall s": result.wall_seconds,
            "shared s": result.shared_seconds, "shared / bulletin s": result.shared_seconds / n,
            "render mean s": statistics.fmean(renders), "render max s": max(renders),
            "wall / bulletin s": result.wall_seconds / n}


def shared_steps(project: Path, year: int, replicates: int, result) -> dict:
    """The shared part by step (read back from the cache the run wrote): the annual report's context
    (weights, scores, rank sets, pairwise tests) is the rest of ``shared_seconds``."""
    from satisfaction.report import year_results

    codebook = load_codebook(project / "data" / "raw" / "codebook.yaml")
    steps = year_results(year, processed_dir=project / "data" / "processed", codebook=codebook,
                         replicates=replicates).timings
    return {"context": result.shared_seconds - sum(steps.values()), **steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=100, help="synthetic cities on the Dask cluster (default 100)")
    parser.add_argument("--replicates", type=int, default=None,
                        help="bootstrap replicates (default: the notebook's 500 for the demo, 200 for the "
                             "synthetic run)")
    parser.add_argument("--no-pdf", action="store_true", help="render without the A4 PDF")
    args = parser.parse_args(argv)
    from distributed import LocalCluster

    cpus = os.cpu_count() or 1
    pdf = not args.no_pdf
    demo_b = args.replicates or BULLETIN_PARAMETERS["replicates"].default
    synth_b = args.replicates or 200
    rows, steps = [], {}
    with tempfile.TemporaryDirectory(prefix="bulletins-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        demo = demo_project(tmp / "demo")
        print(f"demo project: 14 cities, {len(DEMO_YEARS)} years ingested in {time.perf_counter() - start:.1f} s")
        common = {"lang": "zh", "issued": ISSUED, "pdf": pdf, "progress": False}
        result = run_bulletins(2024, project=demo, replicates=demo_b, workers=1, **common)
        rows.append(row(f"demo, B = {demo_b}, cold", "1 (in process)", result))
        steps["demo, 14 cities"] = shared_steps(demo, 2024, demo_b, result)
        result = run_bulletins(2024, project=demo, replicates=demo_b, workers=cpus, **common)
        rows.append(row(f"demo, B = {demo_b}, shared cached", f"{cpus} (processes)", result))

        start = time.perf_counter()
        synthetic = synthetic_project(tmp / "synthetic", args.cities)
        print(f"synthetic project: {args.cities} cities, {len(SYNTH_YEARS)} years built and ingested in "
              f"{time.perf_counter() - start:.1f} s")
        with LocalCluster(n_workers=cpus, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            result = run_bulletins(SYNTH_YEARS[-1], project=synthetic, replicates=synth_b,
                                   scheduler=cluster.scheduler_address, **common)
        rows.append(row(f"synthetic, B = {synth_b}, cold", f"{cpus} (Dask)", result))
        steps[f"synthetic, {args.cities} cities"] = shared_steps(synthetic, SYNTH_YEARS[-1], synth_b, result)

    table = pd.DataFrame(rows)
    print(f"\n{'with' if pdf else 'without'} PDF; {cpus} cores; seconds")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        print("\nthe shared part by step (cold runs), seconds")
        print(pd.DataFrame(steps).to_string(float_format=lambda x: f"{x:.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
