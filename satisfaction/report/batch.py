"""Every city's bulletin in one run, in parallel: ``satisfaction report --year 2024 --cities all``.

1. The year's shared numbers (:func:`satisfaction.report.cities.year_results`: weights, replicates,
   rank sets, driver intervals, targets) are computed once, in this process, and pickled.
2. Each bulletin is rendered by :func:`render_task` — figures, page, Word document, PDF — from those
   bytes alone: it reads no project file and writes nothing, so it runs in a local process pool
   (``workers``) or on any :class:`concurrent.futures.Executor`, such as a Dask distributed
   cluster's (``Client(address).get_executor()``), where workers need the package and a browser but
   not the project's folders.
3. This process publishes each bulletin as it arrives, atomically, in its own folder
   (:func:`satisfaction.report.publish.bulletin_folder`), under that folder's lock — taken for every
   city before any work, so two batches never interleave.

A bulletin that fails is reported with its city and the others are still published; the run then
ends with :class:`BatchFailed` (exit code of the first failure). For Airflow, one
``PapermillOperator`` per city runs ``city_bulletin.ipynb`` instead, after one task computing the
shared numbers (``dags/city_bulletins.py`` in the source repository).
"""
from __future__ import annotations

import os
import pickle
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExitCode, SatisfactionError, UsageError


class BatchFailed(SatisfactionError):
    """Some bulletins of a batch failed; the others were published. ``failures``: city → message."""

    def __init__(self, failures: dict[str, str], published: list[Path], exit_code: int):
        self.failures, self.published, self.exit_code = failures, published, exit_code
        lines = "\n".join(f"  - {city}: {msg}" for city, msg in failures.items())
        super().__init__(f"{len(failures)} of {len(failures) + len(published)} bulletins failed "
                         f"({len(published)} published):\n{lines}")


@dataclass
class BatchResult:
    """What a batch did: the folders published, and the time spent on the shared part (once) and on
    each bulletin's rendering (wall seconds, in the worker)."""

    folders: dict[str, Path]
    shared_seconds: float
    render_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


def render_task(shared: bytes, city: str, lang: str, issued: str | None, pdf: bool, href: str | None):
    """One bulletin's files from the pickled ``(YearResults, Codebook)``: ``(city, files, seconds)``.
    A top-level function of plain arguments, so any executor can ship it."""
    from .bulletin import CityBulletin, bulletin_files

    start = time.perf_counter()
    results, codebook = pickle.loads(shared)
    bulletin = CityBulletin(results, codebook, city, lang=lang, issued=issued, report_href=href)
    files = bulletin_files(bulletin, pdf=pdf)
    _close_figures(bulletin)
    return city, files, time.perf_counter() - start


def _close_figures(bulletin) -> None:
    for fig in bulletin.figures().values():
        fig.clear()


def resolve_cities(cities, codebook) -> list[str]:
    """``"all"`` (every city of the codebook, in its order) or names/codes (a list, or one string
    separated by commas) → city codes; an unknown name is refused with the list."""
    from ..codebook import normalize_header

    if isinstance(cities, str):
        cities = ["all"] if cities.strip().lower() == "all" else [c for c in cities.split(",") if c.strip()]
    cities = list(cities)
    if cities == ["all"]:
        return list(codebook.cities)
    lookup = codebook.city_lookup()
    out, unknown = [], []
    for name in cities:
        code = lookup.get(normalize_header(name))
        (out if code else unknown).append(code or name)
    if unknown:
        names = "、".join(c.zh for c in codebook.cities.values())
        raise UsageError(f"--cities: {', '.join(map(repr, unknown))} not a city of the codebook ({names}), "
                         "nor 'all'; nothing was run")
    return list(dict.fromkeys(out))


def run_bulletins(year: int, *, cities="all", lang: str = "zh", project: str | Path | None = None,
                  processed_root: str | Path | None = None, output_root: str | Path | None = None,
                  codebook: str | Path | None = None, replicates: int | None = None, seed: int | None = None,
                  issued: str | None = None, pdf: bool = True, wait: float = 0.0, workers: int | None = None,
                  executor: Executor | None = None, scheduler: str | None = None,
                  progress: bool = True) -> BatchResult:
    """Publish the bulletins of ``cities`` (see module). ``workers``: local processes (default: the
    machine's cores; 1 renders in this process); ``executor``: any ``concurrent.futures.Executor``
    to render on instead; ``scheduler``: the address of a Dask distributed scheduler
    (``tcp://host:8786``), whose executor is used. Returns a :class:`BatchResult`; raises
    :class:`BatchFailed` when some bulletins failed."""
    from ..codebook import load_codebook
    from ..ingest.swap import Publication
    from .cities import year_results
    from .publish import BULLETIN_PARAMETERS, ReportRun, check_parameters, publish_files, report_href

    started = time.perf_counter()
    values = {"year": year, "city": None, "lang": lang, "publish": True, "project": str(project) if project else None,
              "replicates": replicates or BULLETIN_PARAMETERS["replicates"].default, "seed": seed, "issued": issued,
              "pdf": pdf, "wait": wait}
    params = check_parameters(values, spec=BULLETIN_PARAMETERS)
    base = ReportRun.plan(params, processed_root=processed_root, reports_root=output_root, codebook=codebook)
    cb = load_codebook(base.codebook)
    codes = resolve_cities(cities, cb)
    if sum(x is not None for x in (executor, scheduler)) > 1:
        raise UsageError("give either an executor or a scheduler address, not both")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: {workers} is not a whole number of at least 1")
    runs = {c: ReportRun.plan(dict(params, city=c), processed_root=base.processed, reports_root=base.reports,
                              codebook=base.codebook) for c in codes}
    publications: dict[str, Publication] = {}
    try:
        for city, run in runs.items():          # every lock first: refuse (or wait) before any work
            publications[city] = Publication(run.target, root=run.reports, wait=wait).open()
        shared_start = time.perf_counter()
        bar = _bar(progress, total=None, what="shared")
        results = year_results(params["year"], processed_dir=base.processed, codebook=cb, region=base.region,
                               replicates=params["replicates"], seed=params["seed"],
                               progress=(lambda step: bar.set_postfix_str(step)) if bar is not None else None)
        if bar is not None:
            bar.close()
        shared_seconds = time.perf_counter() - shared_start
        blob = pickle.dumps((results, cb), protocol=pickle.HIGHEST_PROTOCOL)
        args = [(blob, c, params["lang"], params["issued"], params["pdf"], report_href(params["lang"])) for c in codes]
        out = BatchResult(folders={}, shared_seconds=shared_seconds)
        failures: dict[str, tuple[str, int]] = {}
        bar = _bar(progress, total=len(codes), what="bulletins")

        def take(city: str, outcome) -> None:
            try:
                _, files, seconds = outcome()
                out.folders[city] = publish_files(files, publications[city])
                out.render_seconds[city] = seconds
            except SatisfactionError as exc:
                failures[city] = (str(exc), int(getattr(exc, "exit_code", ExitCode.ANALYSIS_FAILED)))
            except Exception as exc:     # a worker's crash names its city; the others go on
                failures[city] = (f"{type(exc).__name__}: {exc}", int(ExitCode.ANALYSIS_FAILED))
            finally:
                publications.pop(city).close()
                if bar is not None:
                    bar.update(1)

        pool, own = _executor(executor, scheduler, workers, len(codes))
        try:
            if pool is None:
                for a in args:
                    take(a[1], lambda a=a: render_task(*a))
            else:
                futures: dict[Future, str] = {pool.submit(render_task, *a): a[1] for a in args}
                for future in as_completed(futures):
                    take(futures[future], future.result)
        finally:
            if own is not None:
                own()
            if bar is not None:
                bar.close()
    finally:
        for pub in publications.values():
            pub.close()
    out.wall_seconds = time.perf_counter() - started
    if failures:
        first = next(iter(failures.values()))[1]
        raise BatchFailed({c: m for c, (m, _) in failures.items()}, list(out.folders.values()), first)
    return out


def _executor(executor, scheduler, workers, n):
    """``(executor or None for in-process, a function that shuts down what we started, or None)``."""
    if executor is not None:
        return executor, None
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed: pip install 'satisfaction[dask]'") from None
        client = Client(scheduler)
        return client.get_executor(), client.close
    workers = workers or os.cpu_count() or 1
    workers = min(workers, n)
    if workers <= 1:
        return None, None
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    return pool, pool.shutdown


def _bar(progress: bool, *, total, what: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    desc = {"shared": "shared numbers (once per year)", "bulletins": "city bulletins"}[what]
    return tqdm(total=total, desc=desc, unit="" if total is None else " bulletin", leave=True)
