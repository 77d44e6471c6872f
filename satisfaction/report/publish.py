"""One publishing path for the annual report, whoever runs the notebook.

``satisfaction report``, a plain ``papermill`` run (cron), Airflow's ``PapermillOperator`` and
JupyterLab all execute ``annual_report.ipynb``, and the notebook does the same three things in each:

1. :func:`open_report` (its first cell) checks the parameters — an unknown name (``-p yaer 2024``) or
   a value of the wrong type is refused before any work — finds the project, derives the output
   folder ``reports/<year>/<region>/<lang>/`` from the parameters (there is no output parameter to get
   wrong) and, when publishing, takes that folder's lock;
2. the sections are shown;
3. :func:`finish_report` (its last cell), when publishing, writes every output — ``report.html``,
   ``report.pdf``, ``report.ipynb``, ``tables.xlsx``, ``tables/*.csv``, ``figures/*.png|svg``,
   ``report.json`` — into a staging folder outside the published tree and swaps it in atomically
   (:mod:`satisfaction.ingest.swap`). In JupyterLab ``publish`` is False: the notebook explores and
   writes nothing.

:func:`run_report` (``satisfaction report``) runs the notebook with papermill with ``publish=True``;
when the notebook stops it keeps the partial notebook under ``reports/failed/`` and raises one
error carrying the notebook's own message and exit code (bad input stays bad input).
"""
from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codebook import normalize_header
from ..errors import AnalysisError, ExitCode, PublishError, SatisfactionError, UsageError
from ..ingest.swap import Publication
from .labels import LANGS

NOTEBOOK = "annual_report.ipynb"
#: Fault points inside the writing of the outputs, in order (the swap's own follow: FAULT_STEPS).
OUTPUT_STEPS = ("tables", "figures", "html", "pdf")
FAILED = "failed"


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str          # "int", "str", "bool", "float", "date"
    default: Any
    help: str
    optional: bool = False


#: The notebook's parameters: the parameters cell declares exactly these (a test checks it).
PARAMETERS = {p.name: p for p in (
    Parameter("year", "int", 2024, "survey year: reads data/processed/<year>/, publishes reports/<year>/<region>/<lang>/"),
    Parameter("region", "str", None, "region code; None: the codebook's region", optional=True),
    Parameter("lang", "str", "zh", 'report language: "zh" or "en"'),
    Parameter("publish", "bool", False, "True: publish the report (cron, Airflow); False: explore, write nothing"),
    Parameter("project", "str", None, "project folder; None: SATISFACTION_HOME, else the folder holding "
                                      "data/raw/codebook.yaml at or above the working folder", optional=True),
    Parameter("replicates", "int", 500, "re-raked bootstrap replicates"),
    Parameter("draws", "int", 1000, "Monte Carlo draws of the rank uncertainty (sampling × method)"),
    Parameter("seed", "int", None, "seed of every random step; None: the year", optional=True),
    Parameter("issued", "date", None, "date of issue YYYY-MM-DD; None: today", optional=True),
    Parameter("pdf", "bool", True, "also print report.pdf with a headless browser"),
    Parameter("wait", "float", 0.0, "seconds to wait for another run publishing the same folder; 0: refuse at once"),
)}


#: The city bulletin notebook's parameters (``city_bulletin.ipynb``): the report's, less the Monte
#: Carlo draws (the bulletin has no sensitivity analysis), plus the city.
BULLETIN_PARAMETERS = {p.name: p for p in (
    Parameter("year", "int", 2024, "survey year: reads data/processed/<year>/, publishes "
                                   "reports/<year>/<region>/cities/<lang>/<city>/"),
    Parameter("city", "str", None, "the city: its code, Chinese or English name (as in the codebook)", optional=True),
    *(PARAMETERS[name] for name in ("region", "lang")),
    Parameter("publish", "bool", False, "True: publish the bulletin (cron, Airflow); False: explore, write nothing"),
    *(PARAMETERS[name] for name in ("project", "replicates", "seed", "issued")),
    Parameter("pdf", "bool", True, "also print the bulletin's PDF with a headless browser"),
    PARAMETERS["wait"],
)}


def _coerce(p: Parameter, value: Any) -> Any:
    """The value as the parameter's type, or a :class:`UsageError` naming parameter, value and rule."""
    def bad(rule: str):
        return UsageError(f"parameter {p.name!r}: {value!r} is not {rule} ({p.help})")

    if value is None or (p.optional and value == ""):
        if p.optional:
            return None
        raise bad(f"a {p.kind} (it has no empty value)")
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise bad("True or False")
    if p.kind == "int":
        if isinstance(value, bool):
            raise bad("a whole number")
        try:
            number = int(str(value).strip()) if not isinstance(value, (int, float)) else value
        except ValueError:
            raise bad("a whole number") from None
        if number != int(number):
            raise bad("a whole number")
        number = int(number)
        if p.name in ("replicates", "draws") and number < 2:
            raise bad("a whole number of at least 2")
        if p.name == "year" and not 1900 <= number <= 2999:
            raise bad("a four-digit year")
        return number
    if p.kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
        if number < 0:
            raise bad("a number of seconds ≥ 0")
        return number
    if p.kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise bad("a date written YYYY-MM-DD") from None
    text = str(value)
    if p.name == "lang" and text not in LANGS:
        raise bad(" or ".join(repr(x) for x in LANGS))
    return text


def check_parameters(values: dict[str, Any], *, injected: list[str] = (), spec: dict | None = None) -> dict[str, Any]:
    """Every parameter with its checked value. ``injected`` are the names a run set (papermill's
    injected cell, the command line): a name that is not a parameter is refused, with the list.
    ``spec``: :data:`PARAMETERS` (the report, default) or :data:`BULLETIN_PARAMETERS`."""
    spec = PARAMETERS if spec is None else spec
    unknown = [n for n in injected if n not in spec]
    if unknown:
        known = ", ".join(f"{p.name} ({p.kind})" for p in spec.values())
        what = "city bulletin" if spec is BULLETIN_PARAMETERS else "report"
        raise UsageError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"the {what} notebook takes: {known}. Nothing was run")
    return {name: _coerce(p, values.get(name, p.default)) for name, p in spec.items()}


def _injected_names(namespace: dict) -> list[str]:
    """Names assigned by papermill's injected-parameters cell (its source starts with ``# Parameters``),
    read from IPython's input history."""
    for source in reversed(namespace.get("In") or []):
        if source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)]
    return []


@dataclass
class ReportRun:
    """Where a run reads and publishes, derived from its checked parameters."""

    params: dict
    root: Path
    codebook: Path
    processed: Path
    reports: Path
    region: str
    target: Path
    publication: Publication | None = None
    outputs: dict = field(default_factory=dict)
    #: the codebook read from ``codebook`` while planning (the run reads it once)
    book: Any = None

    @classmethod
    def plan(cls, params: dict, *, processed_root: str | Path | None = None, reports_root: str | Path | None = None,
             codebook: str | Path | None = None) -> "ReportRun":
        from ..codebook import load_codebook
        from ..paths import project_root

        root = project_root(params.get("project"))
        cb_path = Path(codebook) if codebook else root / "data" / "raw" / "codebook.yaml"
        cb_path = cb_path if cb_path.is_absolute() else root / cb_path
        cb = load_codebook(cb_path)
        region = params.get("region") or cb.region["code"]
        if region != cb.region["code"]:
            raise UsageError(f"parameter 'region': {region!r} is not the codebook's region {cb.region['code']!r} ({cb_path})")
        processed = Path(processed_root) if processed_root else root / "data" / "processed"
        processed = processed if processed.is_absolute() else root / processed
        reports = Path(reports_root) if reports_root else root / "reports"
        reports = reports if reports.is_absolute() else root / reports
        year = params["year"]
        manifest = processed / str(year) / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"no processed data for {year} in {processed}; run `satisfaction ingest --year {year}` first")
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("year")
        if recorded is not None and int(recorded) != year:
            raise UsageError(f"{manifest} holds the year {recorded}, not {year}: the processed folder and the "
                             f"parameter 'year' disagree; nothing was run")
        if params.get("city") is not None:
            city = cb.city_lookup().get(normalize_header(params["city"]))
            if city is None:
                names = "、".join(c.zh for c in cb.cities.values())
                raise UsageError(f"parameter 'city': {params['city']!r} is not a city of the codebook ({names}); "
                                 "nothing was run")
            params = dict(params, city=city)
            target = bulletin_folder(reports, year, region, params["lang"], city)
        else:
            target = reports / str(year) / region / params["lang"]
        return cls(params, root, cb_path, processed, reports, region, target, book=cb)

    @property
    def key(self) -> str:
        return "-".join((str(self.params["year"]), self.region, self.params["lang"],
                         *([self.params["city"]] if self.params.get("city") else [])))

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


def open_report(namespace: dict | None = None, **overrides):
    """The notebook's first cell: check the parameters, plan the run, lock the folder when
    publishing, and build the :class:`~satisfaction.report.AnnualReport` (its heading shown).

    ``namespace`` is the notebook's ``globals()``; keyword arguments override it (for use from code).
    """
    from IPython.display import Markdown, display

    from .annual import AnnualReport

    namespace = dict(namespace or {})
    values = {name: namespace[name] for name in PARAMETERS if name in namespace}
    values.update(overrides)
    params = check_parameters(values, injected=_injected_names(namespace))
    run = ReportRun.plan(params, processed_root=os.environ.get(_PROCESSED_ENV) or None,
                         reports_root=os.environ.get(_REPORTS_ENV) or None,
                         codebook=os.environ.get(_CODEBOOK_ENV) or None)
    if params["publish"]:
        run.publication = Publication(run.target, root=run.reports, wait=params["wait"]).open()
    prefetch = None
    settings = {"processed_dir": str(run.processed), "codebook": str(run.codebook), "region": run.region,
                "lang": params["lang"], "replicates": params["replicates"], "draws": params["draws"],
                "seed": params["seed"], "issued": params["issued"] or dt.date.today().isoformat()}
    try:
        if params["publish"]:
            from .prefetch import Prefetch

            # a second process builds some sections meanwhile, from the same inputs and settings
            prefetch = Prefetch.start({"year": params["year"], **settings})
        report = AnnualReport(params["year"], **{**settings, "codebook": run.book or run.codebook})
    except BaseException:
        if prefetch is not None:
            prefetch.close()
        if run.publication is not None:
            run.publication.close()
        raise
    report.prefetch = prefetch
    report.run = run
    report.bulletins_root = run.target.parent.parent / CITIES
    report.store_shared = params["publish"]
    display(Markdown(report.heading_markdown()))
    return report


def bulletin_folder(reports: Path, year: int, region: str, lang: str, city: str) -> Path:
    """Where a city's bulletin is published: ``<reports>/<year>/<region>/cities/<lang>/<city code>/`` —
    a folder of its own, swapped in on its own, beside (not inside) the provincial report's."""
    return Path(reports) / str(year) / region / CITIES / lang / city


#: The folder of the city bulletins, beside each language's provincial report.
CITIES = "cities"


# run_report passes its folder overrides (--processed-dir, --out-dir, --codebook) to the kernel
_PROCESSED_ENV = "SATISFACTION_PROCESSED_DIR"
_REPORTS_ENV = "SATISFACTION_REPORTS_DIR"
_CODEBOOK_ENV = "SATISFACTION_CODEBOOK"


def write_outputs(report, folder: Path, *, pdf: bool = True) -> dict[str, str]:
    """Write every output of the report into ``folder``; returns file → SHA-256 (also in
    ``report.json``, so a published folder can be checked complete). Fault points (see
    :mod:`satisfaction.ingest.swap`): :data:`OUTPUT_STEPS`.

    Every table and figure is the one the notebook showed (:meth:`AnnualReport.render` builds each
    section once; :func:`~satisfaction.report.display.rendered` renders each figure once). The page
    is made first, so that the browser prints the PDF while the tables and figures are written."""
    import contextlib
    import tempfile

    from ..ingest.swap import fault_point
    from .display import rendered, report_notebook
    from .html import render_html, start_printing
    from .workbook import report_csvs, report_workbook

    import nbformat

    nb = report_notebook(report)
    page = {"report.ipynb": nbformat.writes(nb).encode("utf-8"),
            "report.html": render_html(nb, lang=report.lang, title=report.title).encode("utf-8")}
    with contextlib.ExitStack() as stack:
        job = None
        if pdf:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="satisfaction-pdf-"))
            try:
                job = start_printing(page["report.html"].decode("utf-8"), Path(tmp) / "report.pdf")
            except SatisfactionError as exc:
                raise PublishError(f"cannot print report.pdf: {exc}") from exc
        try:
            files: dict[str, bytes] = {"tables.xlsx": report_workbook(report)}
            for name, blob in report_csvs(report).items():
                files[f"tables/{name}"] = blob
            _write(folder, files)
            fault_point("tables")
            figures = {}
            for name, fig in report.figures().items():
                figures[f"figures/{name}.png"] = rendered(fig, "png")
                figures[f"figures/{name}.svg"] = rendered(fig, "svg")
            _write(folder, figures)
            fault_point("figures")
            _write(folder, page)
            fault_point("html")
            files.update(figures)
            files.update(page)
            if job is not None:
                try:
                    printed = job.wait()
                except SatisfactionError as exc:
                    raise PublishError(f"cannot print report.pdf: {exc}") from exc
                files["report.pdf"] = printed.read_bytes()
                _write(folder, {"report.pdf": files["report.pdf"]})
                fault_point("pdf")
        finally:
            if job is not None:
                job.cancel()
    hashes = {name: hashlib.sha256(blob).hexdigest() for name, blob in sorted(files.items())}
    summary = {"year": report.year, "region": report.ctx.region, "lang": report.lang, "issued": report.issued.isoformat(),
               "sections": [h for h, _ in report.numbered()], "outputs": hashes}
    _write(folder, {"report.json": (json.dumps(summary, ensure_ascii=False, indent=2) + "\n").encode("utf-8")})
    return hashes


def _write(folder: Path, files: dict[str, bytes]) -> None:
    from ..ingest import atomic_write_bytes

    for name, blob in files.items():
        atomic_write_bytes(folder / name, blob)


def finish_report(report) -> Path | None:
    """The notebook's last cell: when publishing, write every output into the staging folder and
    swap it in; otherwise say that nothing was published. Returns the published folder or None."""
    from IPython.display import Markdown, display

    run = getattr(report, "run", None)
    if getattr(report, "prefetch", None) is not None:
        report.prefetch.close()          # every section is built by now
    if run is None or run.publication is None:
        display(Markdown(report.t("explore_only")))
        return None
    pub = run.publication
    try:
        write_outputs(report, pub.staging, pdf=run.params["pdf"])
        folder = pub.commit()
    finally:
        pub.close()
    failed = run.reports / FAILED / f"{run.key}.ipynb"
    failed.unlink(missing_ok=True)
    print(f"published {run.relative(folder)}/ (report.html, report.pdf, tables.xlsx, figures)")
    return folder


# ---- satisfaction report: the notebook run by papermill ------------------------------------------------

class NotebookFailed(SatisfactionError):
    """The report notebook stopped. Carries the notebook's own message and the exit code of the error
    it raised (bad input stays bad input), and where its partial notebook was kept."""

    def __init__(self, message: str, exit_code: int, kept: Path | None):
        self.exit_code = exit_code
        self.kept = kept
        super().__init__(message)


def _exit_code_of(ename: str) -> int:
    """The exit code of an exception raised inside the kernel, found by its class name."""
    if ename == "FileNotFoundError":
        return ExitCode.BAD_INPUT
    seen, todo = {}, [SatisfactionError]
    while todo:
        cls = todo.pop()
        seen.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    cls = seen.get(ename)
    return int(getattr(cls, "exit_code", ExitCode.BAD_INPUT)) if cls else int(ExitCode.ANALYSIS_FAILED)


def run_report(year: int, *, region: str | None = None, lang: str = "zh", project: str | Path | None = None,
               processed_root: str | Path | None = None, output_root: str | Path | None = None,
               codebook: str | Path | None = None, notebook: str | Path | None = None, progress: bool = True,
               replicates: int | None = None, draws: int | None = None, seed: int | None = None,
               issued: str | None = None, pdf: bool = True, wait: float = 0.0) -> Path:
    """Execute the annual-report notebook with papermill (``publish=True``) and return the folder it
    published, ``<reports>/<year>/<region>/<lang>/``.

    The parameters are checked and the folders planned here first, so a bad call is refused before a
    kernel starts. If the notebook stops, the previous report is untouched, the partial notebook is
    kept as ``<reports>/failed/<year>-<region>-<lang>.ipynb`` and :class:`NotebookFailed` carries the
    notebook's message and exit code.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from ..kernel import ensure_kernel
    from ..paths import notebook_path

    values = {"year": year, "region": region, "lang": lang, "publish": True,
              "project": str(project) if project else None,
              "replicates": replicates or PARAMETERS["replicates"].default,
              "draws": draws or PARAMETERS["draws"].default, "seed": seed, "issued": issued, "pdf": pdf, "wait": wait}
    params = check_parameters(values)
    run = ReportRun.plan(params, processed_root=processed_root, reports_root=output_root, codebook=codebook)
    notebook = Path(notebook) if notebook else notebook_path(NOTEBOOK, run.root)
    kernel = ensure_kernel()
    runs = run.reports / STAGING_RUNS
    runs.mkdir(parents=True, exist_ok=True)
    executed = runs / f"{run.key}-{os.getpid()}.ipynb"
    env = {_PROCESSED_ENV: str(run.processed), _REPORTS_ENV: str(run.reports), _CODEBOOK_ENV: str(run.codebook)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    params = dict(params, project=str(run.root), region=run.region)
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name=kernel, cwd=str(run.root),
                            progress_bar=progress, report_mode=False)
    except Exception as exc:  # the notebook raised, or its kernel died
        kept = run.reports / FAILED / f"{run.key}.ipynb"
        if executed.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(executed, kept)
        where = f"partial notebook: {run.relative(kept)}" if kept.exists() else "no notebook was written"
        if isinstance(exc, PapermillExecutionError):
            message = str(exc.evalue).strip() or exc.ename
            raise NotebookFailed(f"{message} [report notebook stopped in cell {exc.exec_count} with {exc.ename}; "
                                 f"{where}]", _exit_code_of(exc.ename), kept) from None
        raise NotebookFailed(f"the report notebook did not finish: {type(exc).__name__}: {exc} [{where}]",
                             ExitCode.ANALYSIS_FAILED, kept) from exc
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if executed.exists():
            executed.unlink()
        try:
            runs.rmdir()  # only when empty: another run's notebook may be in it
        except OSError:
            pass
    return run.target


STAGING_RUNS = ".runs"


def embedded_images(html: str) -> list[bytes]:
    """The PNG images embedded in a report page (for checks)."""
    import base64
    import re

    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


# ---- the city bulletin: city_bulletin.ipynb -----------------------------------------------------------

BULLETIN_NOTEBOOK = "city_bulletin.ipynb"


def report_href(lang: str) -> str:
    """The provincial report as linked from a bulletin page (``cities/<lang>/<city>/`` → ``<lang>/``)."""
    return f"../../../{lang}/report.html"


def open_bulletin(namespace: dict | None = None, **overrides):
    """The bulletin notebook's first cell: check the parameters (:data:`BULLETIN_PARAMETERS`), plan the
    run (the folder ``reports/<year>/<region>/cities/<lang>/<city>/``), lock it when publishing, read
    the year's shared results (computed once per year: :func:`satisfaction.report.cities.year_results`)
    and build the :class:`~satisfaction.report.bulletin.CityBulletin` (its heading shown)."""
    from IPython.display import Markdown, display

    from ..codebook import load_codebook
    from .bulletin import CityBulletin
    from .cities import year_results

    namespace = dict(namespace or {})
    values = {name: namespace[name] for name in BULLETIN_PARAMETERS if name in namespace}
    values.update(overrides)
    params = check_parameters(values, injected=_injected_names(namespace), spec=BULLETIN_PARAMETERS)
    if params["city"] is None:
        raise UsageError("parameter 'city' is required: the city's code or name, e.g. -p city 贺州")
    run = ReportRun.plan(params, processed_root=os.environ.get(_PROCESSED_ENV) or None,
                         reports_root=os.environ.get(_REPORTS_ENV) or None,
                         codebook=os.environ.get(_CODEBOOK_ENV) or None)
    if run.params["publish"]:
        run.publication = Publication(run.target, root=run.reports, wait=params["wait"]).open()
    try:
        codebook = run.book or load_codebook(run.codebook)
        results = year_results(params["year"], processed_dir=run.processed, codebook=codebook, region=run.region,
                               replicates=params["replicates"], seed=params["seed"], store=params["publish"])
        bulletin = CityBulletin(results, codebook, run.params["city"], lang=params["lang"], issued=params["issued"],
                                report_href=report_href(params["lang"]))
    except BaseException:
        if run.publication is not None:
            run.publication.close()
        raise
    bulletin.run = run
    display(Markdown(bulletin.heading_markdown()))
    return bulletin


def publish_files(files: dict[str, bytes], publication: Publication) -> Path:
    """Write ``files`` (name → bytes) into the publication's staging folder and swap it in."""
    _write(publication.staging, files)
    return publication.commit()


def finish_bulletin(bulletin) -> Path | None:
    """The bulletin notebook's last cell: when publishing, render every file
    (:func:`satisfaction.report.bulletin.bulletin_files`) and publish them atomically; otherwise say
    that nothing was published."""
    from IPython.display import Markdown, display

    from .bulletin import bulletin_files

    run = getattr(bulletin, "run", None)
    if run is None or run.publication is None:
        display(Markdown(bulletin.t("explore_only")))
        return None
    try:
        folder = publish_files(bulletin_files(bulletin, pdf=run.params["pdf"]), run.publication)
    finally:
        run.publication.close()
    print(f"published {run.relative(folder)}/")
    return folder
