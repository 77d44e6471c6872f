"""Spreadsheets for people that machines can still read: one header row of column names, the
numbers stored unrounded and shown through number formats, and a notes sheet saying what each
column means. The bytes depend only on the tables, never on the clock, so the same tables always
give the same file.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
import zipfile
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["workbook_bytes", "display_width", "FIXED_TIME", "HEADER_FILL"]

#: The time stamped on every workbook (document properties and zip entries).
FIXED_TIME = dt.datetime(2000, 1, 1)
#: Background of header cells (a light blue that prints well in grey).
HEADER_FILL = "DDEBF7"

_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MIN_WIDTH, _MAX_WIDTH, _NOTES_WRAP = 6, 50, 60


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: East Asian wide and full-width characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(text))


def _check_sheet_name(name: str, seen: set[str]) -> str:
    """Excel's rules for sheet names, enforced here rather than by silent truncation (which could
    merge two sheets or break the notes that refer to them)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"sheet name {name!r}: must be a non-empty text")
    if len(name) > 31:
        raise ValueError(f"sheet name {name!r}: longer than Excel's limit of 31 characters")
    if _INVALID_SHEET_CHARS.search(name) or name.startswith("'") or name.endswith("'"):
        raise ValueError(f"sheet name {name!r}: Excel forbids [ ] : * ? / \\ and a leading or trailing apostrophe")
    if name.lower() in seen:
        raise ValueError(f"sheet name {name!r}: used twice (Excel compares sheet names without case)")
    seen.add(name.lower())
    return name


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return not math.isfinite(float(v))  # Excel holds no NaN or infinity: an empty cell
    return False


def _cell_value(v):
    """A pandas/numpy value as openpyxl writes it: Python scalars, booleans kept as booleans."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, (int, float, str, dt.date, dt.datetime)):
        return v
    return str(v)


def _default_format(series: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        return "0"
    if pd.api.types.is_float_dtype(series):
        return "0.00"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "yyyy-mm-dd"
    return None


def _shown(v, number_format: str | None) -> str:
    """Roughly what the cell shows under its number format (for the column width)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "FALSE" if not v else "TRUE"
    if isinstance(v, (int, float)) and number_format:
        decimals = len(number_format.split(".")[1].rstrip("%")) if "." in number_format else 0
        if number_format.endswith("%"):
            return f"{100 * v:.{decimals}f}%"
        return f"{v:.{decimals}f}"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, (dt.date, dt.datetime)):
        return "yyyy-mm-dd"
    return str(v)


def _write_table(ws, df: pd.DataFrame, *, formats: Mapping[str, str], labels: Mapping[str, str],
                 freeze: str | None, wrap: Iterable[str] = ()) -> None:
    """One frame on one sheet: styled header, values, number formats, widths, freeze, filter."""
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    bold, fill = Font(bold=True), PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL)
    rule = Border(bottom=Side(style="thin"))
    columns = [str(c) for c in df.columns]
    wrap = set(wrap)
    for j, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=name)
        cell.data_type = "s"              # a header is text even when it looks like a number or formula
        cell.font, cell.fill, cell.border = bold, fill, rule
        if labels.get(name):
            cell.comment = Comment(labels[name], "satisfaction", width=240, height=60)
    for j, name in enumerate(columns, start=1):
        series = df.iloc[:, j - 1]
        number_format = formats.get(name) or _default_format(series)
        widest = display_width(name) + 2  # room for the filter button
        for i, v in enumerate(series.tolist(), start=2):
            value = _cell_value(v)
            cell = ws.cell(row=i, column=j, value=value)
            if isinstance(value, str):
                cell.data_type = "s"      # text starting with "=" stays text, never a formula
                if name in wrap:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
            elif number_format and value is not None and not isinstance(value, bool):
                cell.number_format = number_format
            widest = max(widest, display_width(_shown(value, number_format)))
        limit = _NOTES_WRAP if name in wrap else _MAX_WIDTH
        ws.column_dimensions[get_column_letter(j)].width = min(max(widest + 1, _MIN_WIDTH), limit)
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(df), 1) + 1}"
    if freeze:
        ws.freeze_panes = freeze


def _freeze_cell(df: pd.DataFrame) -> str:
    """Below the header; also right of the first column when it names the rows (a text column such
    as the city), so the name stays in view while scrolling sideways."""
    if df.shape[1] > 1 and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]) \
            and not pd.api.types.is_bool_dtype(df.iloc[:, 0]):
        return "B2"
    return "A2"


def _pin_zip(blob: bytes) -> bytes:
    """The workbook's zip rewritten with every stamp fixed: entry dates, permissions and the
    document's modified time (openpyxl writes the current time there whatever the properties say)."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                for tag in (rb"dcterms:created", rb"dcterms:modified"):
                    data = re.sub(rb"<" + tag + rb"([^>]*)>[^<]*</" + tag + rb">",
                                  lambda m, tag=tag: b"<" + tag + m.group(1) + b">" + stamp + b"</" + tag + b">", data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    return out.getvalue()


def workbook_bytes(sheets: Mapping[str, pd.DataFrame], *, formats: Mapping[str, Mapping[str, str]] | None = None,
                   headers: Mapping[str, Mapping[str, str]] | None = None, notes: pd.DataFrame | None = None,
                   notes_title: str = "说明", about: Sequence[Sequence[str]] | None = None,
                   about_header: Sequence[str] = ("项目", "内容")) -> bytes:
    """XLSX bytes of ``sheets`` (sheet name → frame, in order), laid out for readers.

    Each data sheet has one header row holding the column names exactly as in the frame (the same
    names as the CSV files, so one description serves both), in bold on a fill, with an autofilter;
    panes are frozen below the header, and right of the first column when that column is text
    (the unit the row is about). Values are stored unrounded; ``formats[sheet][column]`` is the
    Excel number format that shows them (``"0.0"``, ``"0.000"``, ``"0.0%"``, ``"0"``), by default
    ``"0"`` for integer and ``"0.00"`` for float columns. Booleans are stored as TRUE/FALSE, missing
    and non-finite numbers as empty cells. Column widths follow the content, wide (CJK) characters
    counting twice.

    ``headers[sheet][column]`` is the reader's name of a column; it is attached to the header cell
    as a comment, so it shows when the pointer rests on the column name.

    ``notes`` (any frame, typically sheet, column, label, definition, unit) becomes the first
    sheet, named ``notes_title``, so that a reader opening the file meets the explanation before
    the numbers; ``about`` (rows of texts such as (source, …), (date of issue, …), (input checksum,
    file, SHA-256)) is written below it as a block headed ``about_header``, one text per cell.

    The document properties and the zip entries carry a fixed time, so identical inputs give
    byte-identical files.

    Raises ``ValueError`` for a sheet name Excel cannot hold (over 31 characters, one of
    ``[]:*?/\\``, or used twice) instead of truncating it.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    formats, headers = formats or {}, headers or {}
    seen: set[str] = set()
    wb = Workbook()
    wb.remove(wb.active)
    if notes is not None or about:
        ws = wb.create_sheet(title=_check_sheet_name(notes_title, seen))
        frame = notes if notes is not None else pd.DataFrame()
        wrap = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str) and display_width(v) > _NOTES_WRAP).any()]
        _write_table(ws, frame, formats={}, labels={}, freeze="A2" if len(frame.columns) else None, wrap=wrap)
        if about:
            top = len(frame) + 3 if len(frame.columns) else 1
            bold = Font(bold=True)
            fill = PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL)
            for j, text in enumerate(about_header, start=1):
                cell = ws.cell(row=top, column=j, value=text)
                cell.data_type, cell.font, cell.fill = "s", bold, fill
            need: dict[int, int] = {1: display_width(about_header[0])}
            for i, entry in enumerate(about, start=top + 1):
                for j, text in enumerate(entry, start=1):
                    cell = ws.cell(row=i, column=j, value=str(text))
                    cell.data_type = "s"
                    if j == 1:
                        cell.font = bold
                    if j < len(entry):  # the last text of a row overflows into the empty cells to its right
                        need[j] = max(need.get(j, 0), display_width(str(text)))
            for j, width in need.items():
                letter = ws.cell(row=1, column=j).column_letter
                ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, min(width + 2, _MAX_WIDTH))
    for name, df in sheets.items():
        ws = wb.create_sheet(title=_check_sheet_name(name, seen))
        _write_table(ws, df, formats=formats.get(name) or {}, labels=headers.get(name) or {}, freeze=_freeze_cell(df))
    if not wb.sheetnames:
        wb.create_sheet(title="Sheet1")
    wb.active = 0
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "satisfaction"
    buf = io.BytesIO()
    wb.save(buf)
    return _pin_zip(buf.getvalue())
