"""Running the R side of a benchmark: write the inputs as CSV, run an R script that prints
``{"seconds": …}`` on its last line, and return that time (None when R is missing or fails)."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd


def time_r(script: str, frames: dict[str, pd.DataFrame], extra_args: list[str], packages: str) -> float | None:
    if shutil.which("Rscript") is None:
        print(f"Rscript not found: R side skipped (apt-get install r-base-core {packages})")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for name, frame in frames.items():
            frame.to_csv(tmp / name, index=False)
            paths.append(str(tmp / name))
        (tmp / "bench.R").write_text(script)
        proc = subprocess.run(["Rscript", str(tmp / "bench.R"), *paths, *extra_args], capture_output=True, text=True)
        if proc.returncode != 0:
            print("R failed:\n" + proc.stderr[-2000:])
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
