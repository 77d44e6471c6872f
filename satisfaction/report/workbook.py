"""The report's tables as files: ``tables.xlsx`` for readers and one CSV per table for machines.

Both hold the same tidy, unrounded ``data`` frames of the report's tables under the same column
names; the workbook adds what a reader needs (number formats at the report's rounding, a notes
sheet defining every column, the provenance of the numbers), the CSVs stay plain.
"""
from __future__ import annotations

import pandas as pd

from ..xlsx import workbook_bytes
from .columns import WORDS, describe, number_format
from .labels import issuer_name

__all__ = ["report_workbook", "report_csvs", "sheet_names", "column_notes", "provenance", "csv_bytes"]


def sheet_names(report) -> dict[str, str]:
    """Table key → sheet name: the report's ``sheet_<key>`` word in its language, else the key."""
    from .labels import TEXT

    words = TEXT[report.lang]
    return {key: words[f"sheet_{key}"] if f"sheet_{key}" in words else key for key in report.tables()}


def column_notes(report) -> pd.DataFrame:
    """One row per sheet and column: sheet, CSV file, column name, label, definition, unit (headers
    in the report's language). Raises ``KeyError`` for a column without a description."""
    w, names = WORDS[report.lang], sheet_names(report)
    rows = []
    for key, tb in report.tables().items():
        for column in tb.data.columns:
            label, definition, unit = describe(key, str(column), report.lang, report.codebook)
            rows.append({w["sheet"]: names[key], w["file"]: f"{key}.csv", w["column"]: str(column), w["label"]: label,
                         w["definition"]: definition, w["unit"]: unit})
    return pd.DataFrame(rows, columns=[w[k] for k in ("sheet", "file", "column", "label", "definition", "unit")])


def provenance(report) -> list[tuple[str, ...]]:
    """Where the numbers come from, as (item, value) rows: the report, issuer, date of issue, year,
    package versions, the codebook's SHA-256 and, per input file of the year (from the ingest
    manifest), (item, file, SHA-256); the analysis settings, and how cells and CSV files are written."""
    from .. import __version__

    w, lang = WORDS[report.lang], report.lang
    manifest = getattr(report.ctx.survey, "manifest", None) or {}
    issuer = issuer_name(report.codebook, lang)
    pairs = [(w["title"], report.title)]
    if issuer:
        pairs.append((w["issuer"], str(issuer)))
    pairs += [(w["issued"], report.issued.isoformat()), (w["year"], str(report.year)), (w["version"], __version__)]
    if manifest.get("package_version"):
        pairs.append((w["ingest_version"], str(manifest["package_version"])))
    pairs.append((w["codebook"], report.codebook.sha256))
    for source in sorted(manifest.get("inputs", []), key=lambda s: str(s.get("file"))):
        pairs.append((w["input"], str(source.get("file")), str(source.get("sha256") or "")))
    pairs += [(w["settings"], w["settings_text"].format(reps=report.ctx.replicates, draws=report.ctx.draws,
                                                        seed=report.ctx.seed)),
              (w["cells"], w["cells_text"]), (w["files"], w["files_text"])]
    return pairs


def report_workbook(report) -> bytes:
    """``tables.xlsx`` of an :class:`~satisfaction.report.AnnualReport`: the notes sheet first
    (every column of every sheet with its label, definition and unit, then the provenance block),
    then one sheet per table in report order, headed by the CSV column names. Numbers are stored
    unrounded and shown at the report's rounding (proportions as percentages); each column name
    carries its label as a comment. The same report gives the same bytes."""
    tables, names = report.tables(), sheet_names(report)
    sheets, formats, headers = {}, {}, {}
    for key, tb in tables.items():
        name = names[key]
        sheets[name] = tb.data
        formats[name] = {}
        for column in tb.data.columns:
            series = tb.data[column]
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                fmt = number_format(key, str(column), report.codebook, tb.digits.get(column))
                if fmt:
                    formats[name][str(column)] = fmt
        headers[name] = {str(c): describe(key, str(c), report.lang, report.codebook)[0] for c in tb.data.columns}
    w = WORDS[report.lang]
    return workbook_bytes(sheets, formats=formats, headers=headers, notes=column_notes(report),
                          notes_title=w["notes_title"], about=provenance(report),
                          about_header=(w["about_key"], w["about_value"]))


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A frame as a CSV file for machines: UTF-8 with a byte-order mark (so Excel reads the Chinese),
    ``\\n`` line ends, numbers unrounded (shortest text that reads back to the same float), missing
    values empty, logical values ``true``/``false`` (read as logical by pandas, R and most tools;
    1/0 would read back as integers)."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].map({True: "true", False: "false"}).astype(object)
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def report_csvs(report) -> dict[str, bytes]:
    """One CSV per table of the report: ``<key>.csv`` → bytes (see :func:`csv_bytes`), with the
    same column names as the workbook's sheets."""
    return {f"{key}.csv": csv_bytes(tb.data) for key, tb in report.tables().items()}
