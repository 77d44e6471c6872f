"""Shared fixtures: the bundled codebook, and small raw exports built from the demo survey."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

# Property tests: in CI (CI set, as `.ci/run` runs) a fixed, derandomised sequence of examples, so
# that a run cannot fail by chance; locally random examples, with failures kept in hypothesis'
# example database and replayed first next time.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

import satisfaction as sat
from satisfaction import synth

ROOT = Path(__file__).resolve().parents[1]
CODEBOOK = ROOT / "data" / "raw" / "codebook.yaml"


@pytest.fixture(scope="session")
def codebook() -> sat.Codebook:
    return sat.load_codebook(CODEBOOK)


@pytest.fixture(scope="session")
def demo_2024(codebook) -> pd.DataFrame:
    """Simulated 2024 answers (coded columns, raw answer codes)."""
    return synth.generate(years=[2024], codebook=codebook).responses[2024]


@pytest.fixture()
def export(codebook, demo_2024) -> pd.DataFrame:
    """A 40-row export with Chinese headers, as an agency would deliver it (two cities)."""
    rows = pd.concat([demo_2024[demo_2024.city == "450100"].head(20), demo_2024[demo_2024.city == "451100"].head(20)])
    return synth.export_frame(rows.reset_index(drop=True), codebook, "long", "zh").astype(str)


def write_csv(df: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    return path


def header_of(codebook, code: str) -> str:
    """The header the 'long' exports use for a code."""
    for table in (codebook.fields, codebook.demographics, codebook.items):
        if code in table:
            return table[code].headers[0]
    raise KeyError(code)


@pytest.fixture(scope="session")
def survey_2024(codebook) -> sat.Survey:
    """The bundled 2024 demo exports, validated (answers as numbers, don't-knows as NaN)."""
    return sat.load_survey(ROOT / "data" / "raw" / "2024", codebook, year=2024)


#: Smaller analysis settings than a published report's (500 replicates, 1000 draws), same code.
REPORT_SETTINGS = {"replicates": 60, "draws": 120, "issued": "2025-03-15"}
DEMO_YEARS = (2019, 2020, 2021, 2022, 2023, 2024)


@pytest.fixture(scope="session")
def processed_years(tmp_path_factory, codebook) -> Path:
    """Every demo year ingested once for the whole run (the report's trends read them all)."""
    from satisfaction.ingest import ingest

    out = tmp_path_factory.mktemp("processed")
    for year in DEMO_YEARS:
        ingest(year, raw_root=ROOT / "data" / "raw", out_root=out, codebook=codebook)
    return out


@pytest.fixture(scope="session")
def demo_report(processed_years):
    """The 2024 annual report (zh) at the test settings, shared by every module that only reads it."""
    from satisfaction.report import AnnualReport

    return AnnualReport(2024, processed_dir=processed_years, codebook=CODEBOOK, **REPORT_SETTINGS)


@pytest.fixture(scope="session")
def processed(processed_years) -> Path:
    return processed_years


@pytest.fixture(scope="session")
def report(demo_report):
    return demo_report


def make_project(folder: Path, processed: Path | None = None) -> Path:
    """A project folder outside the checkout: the demo codebook, margins and plan targets, and the
    processed years."""
    import shutil

    (folder / "data" / "raw").mkdir(parents=True)
    shutil.copyfile(CODEBOOK, folder / "data" / "raw" / "codebook.yaml")
    shutil.copyfile(CODEBOOK.with_name("targets.yaml"), folder / "data" / "raw" / "targets.yaml")
    shutil.copytree(ROOT / "data" / "raw" / "population", folder / "data" / "raw" / "population")
    if processed is not None:
        shutil.copytree(processed, folder / "data" / "processed", ignore=shutil.ignore_patterns(".staging"))
    return folder


def papermill_command(project: Path, output: Path, notebook: str = "annual_report.ipynb", **params) -> list[str]:
    """A notebook (the report, or ``city_bulletin.ipynb``) run by papermill directly, as cron or
    Airflow's PapermillOperator runs it."""
    import sys

    args = [str(Path(sys.executable).with_name("papermill")), str(ROOT / "notebooks" / notebook),
            str(output), "-k", "satisfaction", "--no-progress-bar", "--cwd", str(project)]
    for name, value in params.items():
        args += ["-p", name, str(value)]
    return args


@pytest.fixture(scope="session")
def published(tmp_path_factory, processed_years) -> Path:
    """The 2024 report (zh) published by papermill run directly (cron's way) in a project folder."""
    import subprocess

    project = make_project(tmp_path_factory.mktemp("published"), processed_years)
    done = subprocess.run(papermill_command(project, project.parent / "run.ipynb", year=2024, lang="zh", publish=True,
                                            **REPORT_SETTINGS), cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return project / "reports" / "2024" / "guangxi" / "zh"
