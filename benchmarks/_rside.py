"""Running the R side of a benchmark: write the inputs as CSV, run an R script that prints
``{"seconds": …}`` on its last line, and return that time (None when R is missing or fails).

:func:`run_r` also hands back the whole JSON line and any tables the script wrote, for the
benchmarks that cross-check numbers between the sides."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def run_r(script: str, frames: dict[str, pd.DataFrame | np.ndarray], extra_args: list[str], packages: str,
          outputs: tuple[str, ...] = ()) -> dict | None:
    """Run ``script`` with the paths of ``frames`` (DataFrames as CSV; arrays as raw float64 in R's
    column-major order, for ``matrix(readBin(path, "double", n), nrow=…)``), then ``extra_args``,
    then one path per name in ``outputs`` (CSV tables the script writes). Returns the JSON object
    printed on the script's last line, with ``"outputs"``: the tables read back (a name is missing
    when the script did not write it); None when R is missing or fails."""
    if shutil.which("Rscript") is None:
        print(f"Rscript not found: R side skipped (apt-get install r-base-core {packages})")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for name, frame in frames.items():
            if isinstance(frame, np.ndarray):
                np.ascontiguousarray(np.asarray(frame, dtype=np.float64).T).tofile(tmp / name)
            else:
                frame.to_csv(tmp / name, index=False)
            paths.append(str(tmp / name))
        out_paths = [tmp / name for name in outputs]
        (tmp / "bench.R").write_text(script)
        proc = subprocess.run(["Rscript", str(tmp / "bench.R"), *paths, *extra_args, *map(str, out_paths)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print("R failed:\n" + proc.stderr[-2000:])
            return None
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["outputs"] = {name: pd.read_csv(path) for name, path in zip(outputs, out_paths) if path.exists()}
        return result


def time_r(script: str, frames: dict[str, pd.DataFrame], extra_args: list[str], packages: str) -> float | None:
    result = run_r(script, frames, extra_args, packages)
    return None if result is None else result["seconds"]
