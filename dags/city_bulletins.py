"""Every city's bulletin (城市通报) of a year as an Airflow DAG: one papermill task per city.

The DAG ``satisfaction_city_bulletins`` runs once a year (1 March, 06:00 UTC) and on demand:

``shared_numbers``
    computes the year's shared numbers once — weights, replicates, rank sets, driver intervals,
    targets (:func:`satisfaction.report.cities.year_results`) — and keeps them in the project's
    ``data/interim/<year>/``; it returns the year and the number of replicates to the city tasks.
``bulletin_<city code>`` (one per city of the codebook, all downstream of ``shared_numbers``)
    executes ``city_bulletin.ipynb`` with Airflow's ``PapermillOperator`` and ``publish=True``: the
    notebook reads the shared numbers (it finds them under the same key, so it does not recompute
    them) and publishes ``reports/<year>/<region>/cities/zh/<city code>/`` atomically, under that
    folder's lock. A failed city fails its own task only; its previous bulletin stays published,
    and a retry (or a cleared task) publishes it again.

The year is the Airflow Variable ``satisfaction_year`` if set, else the year before the run's date:
the run of 1 March 2025 publishes the 2024 survey. The run's date is the end of its data interval:
on Airflow 3 that is its logical date; on Airflow 2 a cron run's logical date is the *start* of its
yearly interval, a year earlier, so the end is used on both. The Variable
``satisfaction_replicates`` sets the bootstrap replicates (default: the notebook's, 500). The city
list is read from the project's codebook each time the file is parsed.

Deploying
---------
1. Keep the project folder (the one holding ``data/raw/codebook.yaml``, with the year already
   ingested by ``satisfaction ingest --year <year>``) on a disk that the DAG processor and every
   worker see under the same path.
2. On the DAG processor and every worker, in Airflow's environment, install the papermill provider
   and this package (its wheel, or the checkout), and register the kernel papermill starts::

       pip install apache-airflow-providers-papermill satisfaction-0.1.0-py3-none-any.whl
       python -m satisfaction.kernel --install     # the Jupyter kernel "satisfaction"

   Workers also need a headless Chromium for the PDF (``apt-get install chromium``, or
   ``SATISFACTION_BROWSER=/path/to/chrome``). Use the same satisfaction version everywhere: the
   shared numbers are keyed by it.
3. Name the project folder in the environment of the DAG processor and the workers:
   ``SATISFACTION_HOME=/shared/evaluation`` (or the Variable ``satisfaction_home`` given as
   ``AIRFLOW_VAR_SATISFACTION_HOME``; it is read from the environment, so parsing this file makes no
   database query).
4. Copy this file into the DAGs folder (``$AIRFLOW_HOME/dags/``).

Executed notebooks are kept in ``reports/.runs/airflow/`` (beside the published years, not inside
them), named by city and run. To bound how many kernels and browsers run at once, give the city
tasks an Airflow pool or lower ``max_active_tasks``.

Written for Airflow 2.4+ and 3.x.
"""
from __future__ import annotations

import datetime as dt
import os

from airflow import DAG

try:                                    # Airflow 3 (and Airflow 2 with the standard provider)
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:                     # Airflow 2
    from airflow.operators.python import PythonOperator
from airflow.providers.papermill.operators.papermill import PapermillOperator

from satisfaction import load_codebook
from satisfaction.errors import UsageError
from satisfaction.kernel import KERNEL_NAME
from satisfaction.paths import MARKER, notebook_path, project_root
from satisfaction.report.publish import BULLETIN_NOTEBOOK, BULLETIN_PARAMETERS, STAGING_RUNS

#: The project folder: ``satisfaction_home`` from the environment, else ``SATISFACTION_HOME``
#: (:func:`satisfaction.paths.project_root` reads it); an error names what is missing.
ROOT = project_root(os.environ.get("AIRFLOW_VAR_SATISFACTION_HOME") or None)
CODEBOOK = load_codebook(ROOT / MARKER)
LANG = "zh"
#: Where the executed notebooks are kept (one per city and run).
RUNS = ROOT / "reports" / STAGING_RUNS / "airflow"
SHARED = "shared_numbers"
#: What the city tasks pass to the notebook: what ``shared_numbers`` returned (Jinja, rendered by Airflow).
YEAR = "{{ ti.xcom_pull(task_ids='shared_numbers')['year'] }}"
REPLICATES = "{{ ti.xcom_pull(task_ids='shared_numbers')['replicates'] }}"


def shared_numbers(year="", replicates="", data_interval_end=None, logical_date=None, dag_run=None, **_) -> dict:
    """The year's shared numbers, computed once for every bulletin (read back from ``data/interim/``
    when they were computed before from the same inputs and settings).

    ``year``: the Variable ``satisfaction_year``; empty: the year before the end of the run's data
    interval (else its logical date, else — Airflow 3 runs without a logical date — the date it
    ran after). ``replicates``: the Variable ``satisfaction_replicates``; empty: the notebook's
    default. Returns ``{"year", "replicates"}`` for the city tasks, which pass both to the notebook,
    so that it looks up the numbers computed here."""
    from satisfaction.report.cities import year_results
    from satisfaction.report.publish import ReportRun, check_parameters

    if not str(year).strip():
        when = data_interval_end or logical_date or getattr(dag_run, "run_after", None)
        if when is None:
            raise UsageError("the run has no date to derive the survey year from; set the Airflow Variable "
                             "satisfaction_year (e.g. 2024)")
        year = when.year - 1
    values = {"year": year, "lang": LANG, "publish": True, "project": str(ROOT),
              "replicates": str(replicates).strip() or BULLETIN_PARAMETERS["replicates"].default}
    params = check_parameters(values, spec=BULLETIN_PARAMETERS)
    run = ReportRun.plan(dict(params, city=None))        # refuses a year that was not ingested
    year_results(params["year"], processed_dir=run.processed, codebook=run.codebook, region=run.region,
                 replicates=params["replicates"], seed=params["seed"])
    RUNS.mkdir(parents=True, exist_ok=True)
    return {"year": params["year"], "replicates": params["replicates"]}


with DAG(
    dag_id="satisfaction_city_bulletins",
    description="城市消费者满意度测评结果通报: every city's bulletin of the year",
    doc_md=__doc__,
    schedule="0 6 1 3 *",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    tags=["satisfaction"],
) as dag:
    shared = PythonOperator(
        task_id=SHARED,
        python_callable=shared_numbers,
        op_kwargs={"year": "{{ var.value.get('satisfaction_year', '') }}",
                   "replicates": "{{ var.value.get('satisfaction_replicates', '') }}"},
    )
    bulletins = [
        PapermillOperator(
            task_id=f"bulletin_{code}",
            input_nb=str(notebook_path(BULLETIN_NOTEBOOK, ROOT)),
            output_nb=str(RUNS / f"{code}-{{{{ run_id }}}}.ipynb"),
            parameters={"year": YEAR, "city": code, "lang": LANG, "publish": True, "project": str(ROOT),
                        "replicates": REPLICATES},
            kernel_name=KERNEL_NAME,
        )
        for code in CODEBOOK.cities
    ]
    shared >> bulletins
