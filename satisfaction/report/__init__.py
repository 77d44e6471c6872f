"""The annual report: tables, figures and the HTML rendering of the parameterised notebook.

Modules: :mod:`.annual` (the content), :mod:`.display` (tables and figures in the notebook),
:mod:`.publish` (papermill run and atomic publication), :mod:`.labels` (zh/en words),
:mod:`.plotting` (figures).

:class:`AnnualReport` computes everything the notebook shows (so it is tested like any other
function); the notebook ``notebooks/annual_report.ipynb`` only displays it. :func:`run_report`
executes the notebook with papermill and publishes ``reports/<year>/<region>/<lang>/``:

* ``report.html`` — the report as one page (our own template: contents, anchors, print and phone CSS);
* ``report.pdf`` — the same page printed on A4 by a headless browser;
* ``report.ipynb`` — the notebook of the report's outputs;
* ``tables.xlsx`` (a 说明 sheet first) and ``tables/*.csv`` (numbers unrounded, UTF-8 with BOM);
* ``figures/*.png`` (200 dpi) and ``figures/*.svg``; ``report.json`` (sections, outputs' SHA-256).

Each city's bulletin (城市通报) is ``notebooks/city_bulletin.ipynb`` (:mod:`.bulletin`), published in
``reports/<year>/<region>/cities/<lang>/<city>/`` (HTML, A4 PDF, Word); the numbers every bulletin
shares are computed once per year (:mod:`.cities`), and :func:`run_bulletins` (:mod:`.batch`)
publishes a batch in parallel, locally or on a Dask cluster.

Every way of running the notebook goes through :mod:`.publish`: the folder is built outside the
published tree and swapped in atomically only when everything succeeded, under a lock.
"""
from __future__ import annotations

import importlib

from ._deferred import defer_iri_syntax

# the report imports nbformat (papermill, nbconvert), and with it jsonschema: spare it the ~1.5 s of an
# optional module it imports but the report never uses (see ._deferred)
defer_iri_syntax()

# names load on first use, so that a module elsewhere in the package can import the words
# (``satisfaction.report.labels``) without importing the whole report
_WHERE = {
    "AnnualReport": "annual", "NOTEBOOK": "annual", "RANK_DRAWS": "annual", "REPLICATES": "annual",
    "SENSITIVITY_DRAWS": "annual",
    "show_figure": "display", "show_table": "display", "show_section": "display", "report_notebook": "display",
    "ReportContext": "context", "PARAMETERS": "publish", "embedded_images": "publish", "finish_report": "publish",
    "open_report": "publish", "run_report": "publish", "write_outputs": "publish",
    "BULLETIN_PARAMETERS": "publish", "open_bulletin": "publish", "finish_bulletin": "publish",
    "CityBulletin": "bulletin", "show_bulletin": "bulletin", "bulletin_files": "bulletin",
    "YearResults": "cities", "year_results": "cities", "run_bulletins": "batch",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'satisfaction.report' has no attribute {name!r}")
