"""Every code block of the README runs as written.

Python blocks run in order in one namespace (later blocks use what earlier ones defined), from the
project folder, as a reader pasting them into JupyterLab would. Shell blocks run their
``satisfaction`` commands in a copy of the project's raw data, so nothing in the checkout changes.
The ``make`` lines are the set-up itself — ``make test`` is what runs this file, and ``make report``
is ``satisfaction ingest`` + ``satisfaction report``, which the shell blocks run — so they are the
only lines not executed here.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
SHELL = [code for lang, code in BLOCKS if lang in ("sh", "bash", "shell")]


def test_the_readme_has_code():
    assert len(PYTHON) >= 6 and len(SHELL) >= 2


def test_python_blocks_run_in_order(monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__readme__"}
    for number, code in enumerate(PYTHON, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)   # the README shows current spellings
            try:
                exec(compile(code, f"README.md python block {number}", "exec"), namespace)
            except Exception as exc:  # name the block, keep the traceback
                raise AssertionError(f"README python block {number} failed: {exc!r}\n{code}") from exc


def _commands(block: str) -> list[str]:
    lines = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("make "):
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder with the bundled raw data of the two latest years."""
    root = tmp_path_factory.mktemp("project")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for item in ("codebook.yaml", "targets.yaml", "population", "2023", "2024"):
        src = ROOT / "data" / "raw" / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, raw / item)
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return root


def test_shell_blocks_run(project):
    commands = [c for block in SHELL for c in _commands(block)]
    assert commands, "no satisfaction commands found in the shell blocks"
    satisfaction = Path(sys.executable).with_name("satisfaction")
    env = {k: v for k, v in os.environ.items() if k != "SATISFACTION_HOME"}   # found from the folder
    # the report compares with the previous year: ingest it first, as `make report` does
    subprocess.run([str(satisfaction), "ingest", "--year", "2023"], cwd=project, env=env, check=True,
                   capture_output=True)
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] in ("satisfaction", "papermill"), command
        done = subprocess.run([str(satisfaction.with_name(argv[0])), *argv[1:]], cwd=project, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    assert (project / "reports" / "2024" / "guangxi" / "zh" / "report.html").exists()
    assert (project / "reports" / "2024" / "guangxi" / "cities" / "zh" / "451100" / "451100.docx").exists()
    assert (project / "csi-2025" / "data" / "processed" / "2024" / "manifest.json").exists()
