"""Publishing that a scheduler can trust: one path for the command line, papermill and JupyterLab;
a folder that always holds a complete version, whatever step a run is killed at; a lock; parameters
checked before any work; one-line errors with distinct exit codes."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from satisfaction.cli import main as cli_main
from satisfaction.errors import ExitCode, PublishError, UsageError
from satisfaction.ingest.swap import FALLBACK_STEPS, FAULT_ENV, FAULT_STEPS, SWAP_ENV, Publication, replace_dir_atomically
from satisfaction.report.publish import (BULLETIN_PARAMETERS, OUTPUT_STEPS, PARAMETERS, check_parameters, finish_report, open_report,
                                         write_outputs)
from conftest import CODEBOOK, REPORT_SETTINGS, ROOT, make_project, papermill_command, write_csv

PY = sys.executable
BIN = Path(PY).parent


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(root: Path, keep: set[str]) -> list[str]:
    """Everything under ``root`` that is neither a published folder nor a lock file."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if any(rel == k or rel.startswith(k + "/") for k in keep):
            continue
        if p.is_file() and p.parent.name == ".staging" and p.suffix == ".lock":
            continue
        if p.is_dir() and any(rel == k or k.startswith(rel + "/") for k in keep | {".staging"}):
            continue
        out.append(rel)
    return out


# ---- the swap -------------------------------------------------------------------------------------------

SWAP_SCRIPT = """
import sys
from pathlib import Path
from satisfaction.ingest.swap import replace_dir_atomically

root, version = Path(sys.argv[1]), sys.argv[2]
def build(folder):
    for i in range(5):
        (folder / f"part{i}.txt").write_text(version * 1000)
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.txt").write_text(version)
replace_dir_atomically(build, root / "2024" / "guangxi", root=root)
"""


def _complete(folder: Path, version: str) -> bool:
    files = snapshot(folder)
    return files == {**{f"part{i}.txt": (version * 1000).encode() for i in range(5)}, "sub/deep.txt": version.encode()}


@pytest.mark.parametrize("mode", ["kill", "raise"])
@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_folder_killed_at_any_step_of_its_swap_is_complete(tmp_path, step, mode):
    root = tmp_path / "reports"
    subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "a"], check=True)
    target = root / "2024" / "guangxi"
    fault = step if mode == "kill" else f"{step}:raise"
    done = subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "b"], env={**os.environ, FAULT_ENV: fault},
                          capture_output=True)
    assert done.returncode == (-signal.SIGKILL if mode == "kill" else 1)
    # the path holds one complete version: the old before the exchange, the new from it on
    assert _complete(target, "b" if step in ("exchanged", "cleaned") else "a")
    assert [p.name for p in target.parent.iterdir()] == ["guangxi"]        # nothing stale beside it
    subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "c"], check=True)   # the next run cleans up
    assert _complete(target, "c")
    assert leftovers(root, {"2024/guangxi"}) == []


@pytest.mark.parametrize("step", FALLBACK_STEPS)
def test_without_an_exchange_call_a_killed_swap_is_restored_by_the_next_run(tmp_path, step):
    """Where the file system cannot exchange two paths, two renames: a run killed between them
    leaves the old version parked under .staging/, and the next run puts it back before anything else."""
    root, env = tmp_path / "reports", {**os.environ, SWAP_ENV: "renames"}
    subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "a"], check=True, env=env)
    target = root / "2024" / "guangxi"
    done = subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "b"], env={**env, FAULT_ENV: step})
    assert done.returncode == -signal.SIGKILL
    if step == "parked":
        assert not target.exists()
        with Publication(target, root=root):                               # the next run's first act
            assert _complete(target, "a")
    else:
        assert _complete(target, "b" if step == "cleaned" else "a")
    subprocess.run([PY, "-c", SWAP_SCRIPT, str(root), "c"], check=True, env=env)
    assert _complete(target, "c")
    assert leftovers(root, {"2024/guangxi"}) == []


def test_a_failed_build_leaves_the_folder_and_no_staging(tmp_path):
    root = tmp_path / "r"
    replace_dir_atomically(lambda f: (f / "x").write_text("old"), root / "y", root=root)

    def broken(folder):
        (folder / "x").write_text("new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        replace_dir_atomically(broken, root / "y", root=root)
    assert (root / "y" / "x").read_text() == "old" and leftovers(root, {"y"}) == []


def test_a_second_run_on_the_same_folder_is_refused_or_waits(tmp_path):
    root = tmp_path / "r"
    holder = Publication(root / "2024", root=root).open()
    with pytest.raises(PublishError, match=r"being published by another run \(pid \d+"):
        Publication(root / "2024", root=root).open()
    with pytest.raises(PublishError, match="--wait"):
        Publication(root / "2024", root=root, wait=0.3).open()
    threading.Timer(0.5, holder.close).start()
    waiting = Publication(root / "2024", root=root, wait=60).open()   # queues behind the first
    (waiting.staging / "f").write_text("second")
    waiting.commit()
    waiting.close()
    assert (root / "2024" / "f").read_text() == "second"


# ---- ingest -----------------------------------------------------------------------------------------------

@pytest.fixture()
def raw_year(tmp_path, export):
    raw = tmp_path / "raw"
    write_csv(export, raw / "2024" / "a.csv")
    return raw


def _ingest(raw, out, *extra, env=None):
    return subprocess.run([str(BIN / "satisfaction"), "ingest", "--year", "2024", "--raw-dir", str(raw), "--out-dir",
                           str(out), "--codebook", str(CODEBOOK), "--quiet", *extra],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True)


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_ingest_killed_at_any_step_leaves_a_complete_year(tmp_path, raw_year, export, step):
    out = tmp_path / "processed"
    assert _ingest(raw_year, out).returncode == 0
    old = snapshot(out / "2024")
    write_csv(export.head(30), raw_year / "2024" / "a.csv")         # new data: 30 rows instead of 40
    killed = _ingest(raw_year, out, env={FAULT_ENV: step})
    assert killed.returncode == -signal.SIGKILL
    now = snapshot(out / "2024")
    manifest = json.loads(now["manifest.json"])
    assert manifest["rows"]["in"] in (40, 30)
    if manifest["rows"]["in"] == 40:
        assert now == old
    for name, digest in manifest["outputs"].items():                  # complete: every file it lists
        assert hashlib.sha256(now[name]).hexdigest() == digest
    assert _ingest(raw_year, out).returncode == 0
    assert json.loads((out / "2024" / "manifest.json").read_text())["rows"]["in"] == 30
    assert leftovers(out, {"2024"}) == []


def test_ingest_refuses_while_another_run_writes_the_year(tmp_path, raw_year):
    out = tmp_path / "processed"
    holder = Publication(out / "2024", root=out).open()
    try:
        done = _ingest(raw_year, out)
        assert done.returncode == ExitCode.PUBLISH_FAILED
        assert "being published by another run" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not (out / "2024").exists()
    finally:
        holder.close()
    assert _ingest(raw_year, out).returncode == 0


def test_ingest_scheduler_options(tmp_path, raw_year, export, codebook):
    from conftest import header_of

    bad = export.copy()
    bad.loc[4, header_of(codebook, "R1a")] = "8"
    write_csv(bad, raw_year / "2024" / "a.csv")
    out, problems = tmp_path / "processed", tmp_path / "problems.csv"
    strict = _ingest(raw_year, out, "--problems-out", str(problems))
    assert strict.returncode == ExitCode.BAD_INPUT and not (out / "2024").exists()
    assert "out_of_range" in problems.read_text(encoding="utf-8-sig")   # the list, though nothing else was written
    lenient = _ingest(raw_year, out, "--lenient", "--fail-on-rejects", "--log-format", "json")
    assert lenient.returncode == ExitCode.REJECTS and (out / "2024" / "rejects.csv").is_file()
    events = [json.loads(line) for line in lenient.stderr.splitlines() if line.startswith("{")]
    assert {e["event"] for e in events} >= {"ingested", "rejects"}
    assert next(e for e in events if e["event"] == "ingested")["rows_rejected"] == 1
    assert _ingest(raw_year, out, "--lenient").returncode == 0


def test_exit_codes_are_distinct_and_documented(capsys):
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        if code:
            assert f"  {int(code)}  " in out, code
    with pytest.raises(SystemExit) as exit_:
        cli_main(["ingest", "--year", "twenty"])
    assert exit_.value.code == ExitCode.USAGE


def test_no_project_is_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SATISFACTION_HOME", raising=False)
    done = subprocess.run([str(BIN / "satisfaction"), "index", "--year", "2024"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "SATISFACTION_HOME"})
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("error: no satisfaction project found") and "satisfaction init" in done.stderr
    assert "site-packages" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- the report's parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("notebook, spec", [("annual_report.ipynb", PARAMETERS),
                                            ("city_bulletin.ipynb", BULLETIN_PARAMETERS)])
def test_the_parameters_cell_declares_exactly_the_parameters(notebook, spec):
    nb = nbformat.read(str(ROOT / "notebooks" / notebook), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    declared = [line.split(":")[0] for line in cell.source.splitlines() if ":" in line and not line.startswith("from ")]
    assert declared == list(spec)
    assert "output_dir" not in cell.source                          # the folder derives from the parameters
    for line in cell.source.splitlines():                           # each default and help as declared
        name = line.split(":")[0]
        if name in spec:
            assert line.endswith(f"# {spec[name].help}"), line
    helped = subprocess.run([str(BIN / "papermill"), "--help-notebook", str(ROOT / "notebooks" / notebook)],
                            capture_output=True, text=True, check=True).stdout
    for p in spec.values():
        assert f"{p.name}: " in helped and p.help.split(";")[0][:30] in helped.replace("\n", " ").replace("  ", " ")


def test_parameters_are_checked_before_any_work():
    assert check_parameters({"year": "2023", "publish": "true", "lang": "en"})["year"] == 2023
    with pytest.raises(UsageError, match=r"unknown parameter 'yaer'.*year \(int\)"):
        check_parameters({"year": 2024}, injected=["yaer"])
    with pytest.raises(UsageError, match="unknown parameter 'output_dir'"):
        check_parameters({}, injected=["output_dir"])
    for bad, rule in (({"year": "abc"}, "whole number"), ({"lang": "fr"}, "'zh' or 'en'"), ({"publish": "maybe"}, "True or False"),
                      ({"issued": "15/03/2025"}, "YYYY-MM-DD"), ({"replicates": 1}, "at least 2"), ({"year": 2024.5}, "whole")):
        with pytest.raises(UsageError, match=rule):
            check_parameters(bad)


@pytest.fixture(scope="module")
def project(published):
    return published.parents[3]


def _papermill(project, out, *params, env=None):
    return subprocess.run(papermill_command(project, out, **dict(params)), cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


LIGHT = (("replicates", 20), ("draws", 20))


@pytest.fixture(scope="module")
def papermill_runs(request, tmp_path_factory, processed_years):
    """The notebook run by papermill directly, as cron and Airflow run it: two years, two languages —
    2024 in Chinese (the session's published report) and, at the same time in a second project,
    2023 in English at light settings."""
    other = make_project(tmp_path_factory.mktemp("project-2023"), processed_years)
    params = {"year": 2023, "lang": "en", "publish": True, "issued": "2024-03-15", **dict(LIGHT)}
    background = subprocess.Popen(papermill_command(other, other.parent / "2023-en.ipynb", **params), cwd=other,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    published = request.getfixturevalue("published")
    _, err = background.communicate()
    assert background.returncode == 0, err[-3000:]
    return {(2023, "en"): other / "reports" / "2023" / "guangxi" / "en", (2024, "zh"): published}


def test_papermill_runs_land_in_their_own_folders(papermill_runs):
    for (year, lang), folder in papermill_runs.items():
        summary = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        assert (summary["year"], summary["lang"]) == (year, lang)
        html = (folder / "report.html").read_text(encoding="utf-8")
        assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html and str(year) in html
        files = snapshot(folder)
        for name, digest in summary["outputs"].items():
            assert hashlib.sha256(files[name]).hexdigest() == digest, name
        assert files["report.pdf"].startswith(b"%PDF")
        reports = folder.parents[2]
        published = sorted(p.relative_to(reports).as_posix() for p in reports.glob("*/*/*"))
        assert published == [f"{year}/guangxi/{lang}"]
        assert leftovers(reports, set(published)) == []


@pytest.mark.parametrize("params, message", [
    ((("yaer", 2024),), "unknown parameter 'yaer'"),
    ((("year", "twenty"),), "not a whole number"),
    ((("region", "guangdong"),), "not the codebook's region"),
])
def test_a_bad_papermill_run_is_refused_and_publishes_nothing(papermill_runs, project, tmp_path, params, message):
    before = snapshot(project / "reports")
    done = _papermill(project, tmp_path / "out.ipynb", ("publish", True), *params)
    assert done.returncode != 0
    assert message in done.stderr
    assert snapshot(project / "reports") == before


def test_jupyterlab_explores_without_publishing(project, monkeypatch, capsys):
    monkeypatch.chdir(project / "data")                              # opened from a folder inside the project
    report = open_report({"year": 2024, **dict(LIGHT)})
    assert report.run.publication is None and report.run.target == project / "reports" / "2024" / "guangxi" / "zh"
    before = snapshot(project / "reports")
    assert finish_report(report) is None
    assert snapshot(project / "reports") == before


# ---- a report killed or failing at each step ------------------------------------------------------------------

def _publish_in_child(report, target: Path, root: Path, fault: str) -> int:
    """Publish ``report`` in a forked child with a fault injected; returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # the child: publish, with the fault, then leave without running the parent's clean-up
        code = 0
        try:
            os.environ[FAULT_ENV] = fault
            with Publication(target, root=root) as pub:
                write_outputs(report, pub.staging, pdf=False)
                pub.commit()
        except BaseException:
            code = 7
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def test_a_report_stopped_at_any_step_leaves_the_previous_one_whole(demo_report, tmp_path):
    """Killed (SIGKILL) at every step of writing and swapping, or failing (an exception) at every step of
    writing: the published folder is byte-identical to the previous edition until the swap, and the
    complete new one from then on; nothing stale is left beside it."""
    root = tmp_path / "reports"
    target = root / "2024" / "guangxi" / "zh"
    with Publication(target, root=root) as pub:
        write_outputs(demo_report, pub.staging, pdf=False)
        (pub.staging / "edition.txt").write_text("first")
        pub.commit()
    first = snapshot(target)
    # killed in the middle of writing and at every step of the swap; failing while writing the page
    steps = [("figures", "kill"), *((s, "kill") for s in FAULT_STEPS), ("html", "raise")]
    for step, mode in steps:
        status = _publish_in_child(demo_report, target, root, step if mode == "kill" else f"{step}:raise")
        if mode == "kill":
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, step
        else:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7, step
        now = snapshot(target)
        if step in OUTPUT_STEPS or step in ("locked", "staged"):
            assert now == first, step                                     # byte-identical
        else:                                                             # the new version, complete
            assert "edition.txt" not in now
            assert set(json.loads(now["report.json"])["outputs"]) | {"report.json"} == set(now), step
        assert [p.name for p in target.parent.iterdir()] == ["zh"], step
        if "edition.txt" not in now:                                      # put the first edition back
            with Publication(target, root=root) as pub:
                for name, blob in first.items():
                    (pub.staging / name).parent.mkdir(parents=True, exist_ok=True)
                    (pub.staging / name).write_bytes(blob)
                pub.commit()
    with Publication(target, root=root):                                 # taking the lock cleans what was left
        pass
    assert leftovers(root, {"2024/guangxi/zh"}) == []


def test_report_errors_reach_the_command_line_as_one_line(tmp_path, processed_years, capsys):
    """Bad margins found inside the notebook: the same message and exit code as from `index`."""
    project = make_project(tmp_path / "p", processed_years)
    margins = project / "data" / "raw" / "population" / "margins.csv"
    lines = margins.read_text(encoding="utf-8").splitlines()
    lines[1] = ",".join(lines[1].split(",")[:-1] + ["-5"])
    margins.write_text("\n".join(lines) + "\n", encoding="utf-8")
    index_code = cli_main(["--project", str(project), "index", "--year", "2024"])
    index_err = capsys.readouterr().err.strip()
    code = cli_main(["--project", str(project), "report", "--year", "2024", "--quiet", "--no-pdf", "--replicates", "20",
                     "--draws", "20"])
    err = capsys.readouterr().err.strip()
    assert code == index_code == ExitCode.BAD_INPUT
    assert len(err.splitlines()) == len(index_err.splitlines()) and "Traceback" not in err
    assert err.split(" [report notebook stopped")[0] == index_err
    assert "partial notebook: reports/failed/2024-guangxi-zh.ipynb" in err
    assert (project / "reports" / "failed" / "2024-guangxi-zh.ipynb").is_file()
    assert not (project / "reports" / "2024").exists()
