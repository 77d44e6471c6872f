"""The annual report: tables, figures and the HTML rendering of the parameterised notebook.

Modules: :mod:`.annual` (the content), :mod:`.display` (tables and figures in the notebook),
:mod:`.publish` (papermill run and atomic publication), :mod:`.labels` (zh/en words),
:mod:`.plotting` (figures).

:class:`AnnualReport` computes everything the notebook shows (so it is tested like any other
function); the notebook ``notebooks/annual_report.ipynb`` only displays it. :func:`run_report`
executes the notebook with papermill and writes ``reports/<year>/<region>/``:

* ``report.html`` — the notebook rendered without code, figures embedded;
* ``annual_report.ipynb`` — the executed notebook;
* ``tables.xlsx`` and one CSV per table (UTF-8 with BOM, so Excel shows the Chinese);
* ``figures/*.png``.

The folder is built in a staging folder and swapped in only when everything succeeded: a failed
run leaves the previous report untouched.
"""
from __future__ import annotations

import importlib

# names load on first use, so that a module elsewhere in the package can import the words
# (``satisfaction.report.labels``) without importing the whole report
_WHERE = {
    "AnnualReport": "annual", "NOTEBOOK": "annual", "RANK_DRAWS": "annual", "REPLICATES": "annual",
    "SENSITIVITY_DRAWS": "annual", "STAGING_ENV": "annual",
    "show_figure": "display", "show_table": "display", "show_section": "display", "ReportContext": "context",
    "embedded_images": "publish", "notebook_to_html": "publish", "run_report": "publish",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'satisfaction.report' has no attribute {name!r}")
