"""City bulletins at scale: rendered on a Dask distributed cluster, and as an Airflow DAG.

* On a local Dask cluster (two worker processes), by its executor and by its scheduler's address,
  ``run_bulletins`` publishes the same bulletins as a run in one process: every file named in
  ``bulletin.json`` present with its SHA-256, the page and the Word document byte for byte.
* A city that is not in the codebook is refused before anything is written; a bulletin whose
  rendering fails is named in ``BatchFailed``, the others are published and its previous bulletin
  stays as it was.
* ``dags/city_bulletins.py`` builds one papermill task per city of the codebook, downstream of one
  task computing the year's shared numbers, with the notebook's own parameters. Airflow is too heavy
  for the test environment: where it is not installed, a minimal stand-in for the names the DAG file
  uses takes its place, strict about keywords as the real operators are.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import json
import shutil
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import REPORT_SETTINGS, ROOT, make_project
from satisfaction.errors import ExitCode, UsageError
from satisfaction.report import batch
from satisfaction.report.batch import BatchFailed, run_bulletins
from satisfaction.report.publish import BULLETIN_PARAMETERS, bulletin_folder, check_parameters

YEAR = 2024
REGION = "guangxi"
#: 贺州 by its name, 南宁 by its code
CITIES = ["贺州", "450100"]
CODES = ["451100", "450100"]
SETTINGS = {"replicates": REPORT_SETTINGS["replicates"], "issued": REPORT_SETTINGS["issued"], "progress": False}
DAG_FILE = ROOT / "dags" / "city_bulletins.py"


# ---- helpers ----------------------------------------------------------------------------------------

def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return folder_bytes(root) if root.exists() else {}


def assert_complete(folder: Path) -> dict:
    """The folder holds exactly the files its ``bulletin.json`` names (plus itself), each with the
    SHA-256 recorded there; returns the summary."""
    summary = json.loads((folder / "bulletin.json").read_text(encoding="utf-8"))
    files = folder_bytes(folder)
    assert set(files) == set(summary["outputs"]) | {"bulletin.json"}
    for name, digest in summary["outputs"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    return summary


def assert_same_bulletin(folder: Path, reference: Path, code: str) -> None:
    """Same files, same bytes — the page and the Word document included; the PDFs, which carry the
    time they were printed, have the same pages with the same text."""
    ours, theirs = folder_bytes(folder), folder_bytes(reference)
    pdf = f"{code}.pdf"
    assert set(ours) - {pdf} == set(theirs) - {pdf}
    for name in (f"{code}.html", f"{code}.docx"):
        assert ours[name] == theirs[name], name
    for name in set(ours) - {pdf, "bulletin.json"}:
        assert ours[name] == theirs[name], name
    if pdf in ours:
        pages = [[page.extract_text() for page in PdfReader(io.BytesIO(x[pdf])).pages] for x in (ours, theirs)]
        assert pages[0] == pages[1] and len(pages[0]) >= 1
    mine, ref = (json.loads(x["bulletin.json"]) for x in (ours, theirs))
    for summary in (mine, ref):
        summary["outputs"].pop(pdf, None)
    assert mine == ref


def project_sharing(tmp_path: Path, processed: Path, source: Path) -> Path:
    """A new project with the same inputs as ``source`` and its shared numbers (``data/interim/``),
    so that they are computed once for the whole module."""
    project = make_project(tmp_path, processed)
    shutil.copytree(source / "data" / "interim", project / "data" / "interim")
    return project


# ---- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory, processed_years):
    """Both cities' bulletins rendered in this process (``workers=1``), PDF included."""
    project = make_project(tmp_path_factory.mktemp("reference"), processed_years)
    result = run_bulletins(YEAR, cities=CITIES, project=project, workers=1, pdf=True, **SETTINGS)
    return project, result


@pytest.fixture(scope="module")
def dask_cluster():
    """A local Dask cluster of two single-threaded worker processes, and a client of it."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


# ---- Dask --------------------------------------------------------------------------------------------

def test_dask_executor_publishes_what_one_process_publishes(tmp_path, processed_years, reference, dask_cluster):
    ref_project, ref = reference
    _, client = dask_cluster
    project = project_sharing(tmp_path, processed_years, ref_project)
    result = run_bulletins(YEAR, cities=CITIES, project=project, executor=client.get_executor(), pdf=True, **SETTINGS)
    assert set(result.folders) == set(CODES) == set(result.render_seconds)
    for code in CODES:
        folder = result.folders[code]
        assert folder == bulletin_folder(project / "reports", YEAR, REGION, "zh", code)
        summary = assert_complete(folder)
        assert f"{code}.pdf" in summary["outputs"] and summary["city"] == code
        assert_same_bulletin(folder, ref.folders[code], code)


def test_dask_scheduler_address(tmp_path, processed_years, reference, dask_cluster):
    ref_project, ref = reference
    cluster, _ = dask_cluster
    project = project_sharing(tmp_path, processed_years, ref_project)
    result = run_bulletins(YEAR, cities=CITIES[:1], project=project, scheduler=cluster.scheduler_address, pdf=False,
                           **SETTINGS)
    code = CODES[0]
    assert list(result.folders) == [code]
    summary = assert_complete(result.folders[code])
    assert f"{code}.pdf" not in summary["outputs"]
    assert_same_bulletin(result.folders[code], ref.folders[code], code)
    assert not (project / "reports" / str(YEAR) / REGION / "cities" / "zh" / CODES[1]).exists()


# ---- refusals and failures -----------------------------------------------------------------------------

def test_unknown_city_is_refused_and_nothing_written(tmp_path, processed_years):
    project = make_project(tmp_path, processed_years)
    before = tree_bytes(project)
    with pytest.raises(UsageError) as info:
        run_bulletins(YEAR, cities=["贺州", "长安"], project=project, workers=1, **SETTINGS)
    assert "'长安'" in str(info.value) and "贺州" in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert tree_bytes(project) == before
    assert not (project / "reports").exists() and not (project / "data" / "interim").exists()


def test_failed_rendering_names_the_city_and_keeps_its_previous_bulletin(tmp_path, processed_years, reference,
                                                                         monkeypatch):
    ref_project, _ = reference
    project = project_sharing(tmp_path, processed_years, ref_project)
    first = run_bulletins(YEAR, cities=CITIES, project=project, workers=1, pdf=False, **SETTINGS)
    failing, other = CODES
    previous = folder_bytes(first.folders[failing])

    render = batch.render_task          # looked up in the module at each submission

    def broken(shared, city, *args):
        if city == failing:
            raise RuntimeError("the renderer stopped")
        return render(shared, city, *args)

    monkeypatch.setattr(batch, "render_task", broken)
    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(BatchFailed) as info:
        run_bulletins(YEAR, cities=CITIES, project=project, executor=pool, pdf=False,
                      **dict(SETTINGS, issued="2025-04-01"))
    err = info.value
    assert list(err.failures) == [failing]
    assert failing in str(err) and "the renderer stopped" in str(err) and "1 of 2 bulletins failed" in str(err)
    assert err.exit_code == ExitCode.ANALYSIS_FAILED
    assert err.published == [first.folders[other]]
    assert folder_bytes(first.folders[failing]) == previous
    assert assert_complete(first.folders[other])["issued"] == "2025-04-01"
    staging = project / "reports" / ".staging"
    assert all(p.suffix == ".lock" for p in staging.iterdir())


# ---- Airflow --------------------------------------------------------------------------------------------

#: BaseOperator keywords the stand-in accepts (the real operators accept these, among others).
_OPERATOR_KEYWORDS = {"retries", "retry_delay", "owner", "pool", "queue", "execution_timeout", "doc_md",
                      "trigger_rule", "priority_weight", "max_active_tis_per_dag"}
_DAG_KEYWORDS = {"description", "doc_md", "schedule", "start_date", "end_date", "catchup", "max_active_runs",
                 "max_active_tasks", "default_args", "tags", "params"}


def airflow_stand_in() -> dict[str, types.ModuleType]:
    """Modules standing in for the Airflow names the DAG file uses: ``airflow.DAG`` (a context
    manager collecting its tasks), ``PythonOperator`` and ``PapermillOperator`` (keyword-only, as
    the real ones; an unknown keyword is a TypeError), and ``>>`` between tasks."""

    class DAG:
        current = None

        def __init__(self, dag_id, **kwargs):
            unknown = set(kwargs) - _DAG_KEYWORDS
            if unknown:
                raise TypeError(f"DAG got unexpected keyword arguments {sorted(unknown)}")
            self.dag_id, self.task_dict = dag_id, {}
            self.default_args = kwargs.get("default_args") or {}
            self.__dict__.update({k: v for k, v in kwargs.items() if k != "default_args"})

        def __enter__(self):
            DAG.current = self
            return self

        def __exit__(self, *exc):
            DAG.current = None

    class BaseOperator:
        def __init__(self, *, task_id, **kwargs):
            unknown = set(kwargs) - _OPERATOR_KEYWORDS
            if unknown:
                raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {sorted(unknown)}")
            dag = DAG.current
            if dag is None:
                raise RuntimeError(f"task {task_id!r} made outside a DAG")
            if task_id in dag.task_dict:
                raise ValueError(f"task id {task_id!r} used twice")
            self.task_id, self.dag = task_id, dag
            self.__dict__.update({**dag.default_args, **kwargs})
            self.upstream_task_ids, self.downstream_task_ids = set(), set()
            dag.task_dict[task_id] = self

        def __rshift__(self, others):
            for other in others if isinstance(others, (list, tuple)) else [others]:
                self.downstream_task_ids.add(other.task_id)
                other.upstream_task_ids.add(self.task_id)
            return others

    class PythonOperator(BaseOperator):
        def __init__(self, *, python_callable, op_args=None, op_kwargs=None, templates_dict=None, **kwargs):
            super().__init__(**kwargs)
            if not callable(python_callable):
                raise TypeError("python_callable must be callable")
            self.python_callable, self.op_args, self.op_kwargs = python_callable, op_args or (), op_kwargs or {}

    class PapermillOperator(BaseOperator):
        def __init__(self, *, input_nb=None, output_nb=None, parameters=None, kernel_name=None, language_name=None,
                     kernel_conn_id=None, nbconvert=False, nbconvert_args=None, **kwargs):
            super().__init__(**kwargs)
            self.input_nb, self.output_nb, self.parameters = input_nb, output_nb, parameters
            self.kernel_name, self.language_name, self.kernel_conn_id = kernel_name, language_name, kernel_conn_id

    def module(name: str, package: bool = True, **names) -> types.ModuleType:
        mod = types.ModuleType(name)
        if package:
            mod.__path__ = []
        mod.__dict__.update(names)
        return mod

    return {
        "airflow": module("airflow", DAG=DAG),
        "airflow.operators": module("airflow.operators"),
        "airflow.operators.python": module("airflow.operators.python", False, PythonOperator=PythonOperator),
        "airflow.providers": module("airflow.providers"),
        "airflow.providers.papermill": module("airflow.providers.papermill"),
        "airflow.providers.papermill.operators": module("airflow.providers.papermill.operators"),
        "airflow.providers.papermill.operators.papermill": module(
            "airflow.providers.papermill.operators.papermill", False, PapermillOperator=PapermillOperator),
    }


@pytest.fixture()
def dag_module(tmp_path, processed_years, reference, monkeypatch):
    """The DAG file imported for a project that shares the reference's shared numbers, under Airflow
    if it is installed and under the stand-in otherwise."""
    if importlib.util.find_spec("airflow") is None:
        for name, mod in airflow_stand_in().items():
            monkeypatch.setitem(sys.modules, name, mod)
    project = project_sharing(tmp_path / "project", processed_years, reference[0])
    monkeypatch.setenv("SATISFACTION_HOME", str(project))
    monkeypatch.delenv("AIRFLOW_VAR_SATISFACTION_HOME", raising=False)
    spec = importlib.util.spec_from_file_location("city_bulletins_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, project.resolve()


def test_dag_has_one_papermill_task_per_city_after_the_shared_numbers(dag_module, codebook):
    module, project = dag_module
    from airflow.providers.papermill.operators.papermill import PapermillOperator

    dag = module.dag
    bulletins = {f"bulletin_{code}" for code in codebook.cities}
    assert set(dag.task_dict) == bulletins | {"shared_numbers"}
    shared = dag.task_dict["shared_numbers"]
    assert set(shared.downstream_task_ids) == bulletins and not shared.upstream_task_ids
    notebook = ROOT / "satisfaction" / "notebooks" / "city_bulletin.ipynb"     # the project has no copy of its own
    for code in codebook.cities:
        task = dag.task_dict[f"bulletin_{code}"]
        assert isinstance(task, PapermillOperator)
        assert set(task.upstream_task_ids) == {"shared_numbers"}
        assert Path(task.input_nb).resolve() == notebook.resolve()
        assert Path(task.output_nb).parent == project / "reports" / ".runs" / "airflow"
        assert Path(task.output_nb).name.startswith(f"{code}-") and task.kernel_name == "satisfaction"
        p = task.parameters
        assert {k: p[k] for k in ("city", "lang", "publish", "project")} == {
            "city": code, "lang": "zh", "publish": True, "project": str(project)}
        assert "xcom_pull(task_ids='shared_numbers')['year']" in p["year"]
        assert "xcom_pull(task_ids='shared_numbers')['replicates']" in p["replicates"]
        # the notebook takes these names (as papermill injects them) once the templates are rendered
        rendered = dict(p, year="2024", replicates="60")
        assert check_parameters(rendered, injected=list(rendered), spec=BULLETIN_PARAMETERS)["city"] == code


def test_dag_tasks_run_as_airflow_runs_them(dag_module, reference):
    """The shared task, then one city's task executed as the PapermillOperator executes it (its
    notebook, its parameters once rendered, its kernel): the shared numbers are computed under the
    key the notebook reads, and the bulletin is published."""
    import papermill as pm

    module, project = dag_module
    shared = module.dag.task_dict["shared_numbers"]
    assert set(shared.op_kwargs) == {"year", "replicates"}
    interim = project / "data" / "interim"
    before = tree_bytes(interim)
    # a run of spring 2025 publishes the 2024 survey; the numbers run_bulletins computed are found, not recomputed
    spring = dt.datetime(2025, 3, 1, 6, tzinfo=dt.timezone.utc)
    out = shared.python_callable(year="", replicates=str(SETTINGS["replicates"]), data_interval_end=spring,
                                 logical_date=spring.replace(year=2024), dag_run=None)
    assert out == {"year": YEAR, "replicates": SETTINGS["replicates"]}
    assert tree_bytes(interim) == before

    code = CODES[0]
    task = module.dag.task_dict[f"bulletin_{code}"]
    rendered = {k: str(out[k]) if k in out else v for k, v in task.parameters.items()}
    output = task.output_nb.replace("{{ run_id }}", "manual__2025-03-01T06:00:00+00:00")
    pm.execute_notebook(task.input_nb, output, parameters=rendered, progress_bar=False, report_mode=True,
                        kernel_name=task.kernel_name)
    assert Path(output).is_file()
    summary = assert_complete(bulletin_folder(project / "reports", YEAR, REGION, "zh", code))
    expected = json.loads((reference[1].folders[code] / "bulletin.json").read_text(encoding="utf-8"))
    assert summary["index"] == expected["index"] and f"{code}.pdf" in summary["outputs"]
    assert tree_bytes(interim) == before
    assert shared.python_callable(year=" 2024 ", replicates=str(SETTINGS["replicates"]))["year"] == YEAR
    with pytest.raises(UsageError, match="satisfaction_year"):
        shared.python_callable(year="", replicates="60", data_interval_end=None, logical_date=None, dag_run=None)
    with pytest.raises(UsageError, match="'year'"):
        shared.python_callable(year="24", replicates="60")
