"""The national pipeline benchmark stays runnable (a tiny size, ours only; timings are not checked)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_national_pipeline_runs_at_a_tiny_size():
    out = subprocess.run([sys.executable, "benchmarks/national_pipeline.py", "--cities", "3", "--per-city", "300",
                          "--replicates", "20", "--no-r", "--no-svy"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for stage in ("rake", "replicates", "index", "alpha", "ranks", "total"):
        assert f"  {stage}" in out.stdout
    assert "peak memory over the job" in out.stdout
