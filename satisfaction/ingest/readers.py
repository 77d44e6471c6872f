"""Readers by file type: a raw export as text tables (CSV and text in UTF-8, GBK/GB18030 or UTF-16;
XLSX workbooks, every sheet; SPSS ``.sav``), without interpreting any value."""
from __future__ import annotations

import codecs
import hashlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from .rules import SUPPORTED_SUFFIXES



def decode_bytes(blob: bytes, file: str) -> tuple[str, str]:
    """Decode a text export: UTF-8 with BOM, UTF-16 with or without BOM, UTF-8, then GB18030 (a
    superset of GBK).

    Returns ``(text, encoding)``; raises :class:`ValidationError` with rule ``encoding`` otherwise.
    """
    for bom, codec, name in ((codecs.BOM_UTF8, "utf-8", "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16", "utf-16"),
                             (codecs.BOM_UTF16_BE, "utf-16", "utf-16")):
        if blob.startswith(bom):
            try:
                return (blob[len(bom):].decode(codec) if codec == "utf-8" else blob.decode(codec)), name
            except UnicodeDecodeError as exc:
                # a BOM declares the encoding; bytes that break it (a row pasted from a GBK file) are an error
                at = exc.start + (len(bom) if codec == "utf-8" else 0)
                line = blob[:at].count(b"\n") + 1
                raise ValidationError([Problem(
                    file, "encoding",
                    f"the file starts with a {name.upper()} byte-order mark but byte 0x{blob[at]:02X} at offset {at} "
                    f"(line {line}) is not {codec.upper()}: part of the file was saved in another encoding (GBK?); "
                    "save the whole export again as UTF-8 CSV",
                    row=line, value=blob[max(0, at - 8): at + 8].hex(" "))]) from None
    head = blob[:4096]
    if len(head) >= 4 and head.count(0) > len(head) // 4:
        # UTF-16 without a byte-order mark (as some exporters write it): the zero bytes of the
        # ASCII characters sit at odd offsets (little-endian) or even ones (big-endian)
        codec = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        try:
            return blob.decode(codec), codec
        except UnicodeDecodeError:
            pass
    try:
        return blob.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    mixed = _mixed_lines(blob)
    if mixed:
        # mostly UTF-8 with a few lines in another encoding (rows pasted from a GBK file): reading the
        # whole file as GBK would garble every other line, so the lines are named instead
        at = utf8_error.start
        raise ValidationError([Problem(
            file, "encoding",
            f"the file is UTF-8 except line(s) {', '.join(map(str, mixed[:10]))}{' …' if len(mixed) > 10 else ''} "
            f"(first bad byte 0x{blob[at]:02X} at offset {at}), which were saved in another encoding (GBK?); "
            "save the whole export again as UTF-8 CSV", row=mixed[0], value=blob[max(0, at - 8): at + 8].hex(" "))])
    try:
        return blob.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        gb_error = exc
    at = utf8_error.start
    line = blob[:at].count(b"\n") + 1
    raise ValidationError([Problem(
        file, "encoding",
        f"the file is neither UTF-8 (byte 0x{blob[at]:02X} at offset {at}, line {line}) nor GBK/GB18030 "
        f"(byte 0x{blob[gb_error.start]:02X} at offset {gb_error.start}); save the export as UTF-8 CSV",
        row=line, value=blob[max(0, at - 8): at + 8].hex(" "))])


def _mixed_lines(blob: bytes) -> list[int]:
    """Line numbers that are not UTF-8 in a file of which most lines are (and hold non-ASCII text
    in UTF-8): a mixed-encoding file. Empty when the file is not mostly UTF-8."""
    bad, good_non_ascii = [], 0
    for number, line in enumerate(blob.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
            good_non_ascii += any(b >= 0x80 for b in line)
        except UnicodeDecodeError:
            bad.append(number)
    return bad if bad and good_non_ascii >= max(2, 2 * len(bad)) else []


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 and getattr(value, "minute", 0) == 0 else value.isoformat()
    return str(value)


class FileRejected(ValidationError):
    """A file that cannot be used whole; ``rows`` is the number of answer rows the reader could
    still count in it (a workbook with uncomputed formulas, a workbook under a .csv name), or None."""

    def __init__(self, problems: list[Problem], *, rows: int | None = None):
        super().__init__(problems)
        self.rows = rows


@dataclass
class RawTable:
    """A raw file read as text: ``headers`` and ``cells`` (strings, '' for empty)."""

    file: str
    headers: list[str]
    cells: pd.DataFrame
    format: str
    encoding: str | None
    sha256: str
    first_row: int  # the row number of the first answer row (2 with a header row, 1 for .sav cases)
    labels: dict[str, str] = field(default_factory=dict)  # .sav variable labels
    malformed: dict[int, tuple[str, str]] = field(default_factory=dict)  # answer-row index → (why, extra text)
    source_path: Path | None = None


def read_raw(path: str | Path, display_name: str | None = None) -> RawTable:
    """Read one raw export as text cells, without interpreting any value (a workbook's first
    answer sheet; :func:`read_tables` gives every sheet)."""
    return read_tables(path, display_name)[0][0]


def read_tables(path: str | Path, display_name: str | None = None) -> tuple[list[RawTable], list[dict]]:
    """Read one raw export as text tables: one for a CSV or .sav file, one per answer sheet of a
    workbook. Returns ``(tables, skipped)``: ``skipped`` lists the workbook sheets left out by rule
    (a notes or instructions sheet: a narrower header than the answer sheets' and no answer
    rows), each ``{"sheet", "rule", "reason"}``, for the manifest. Raises :class:`ValidationError`
    for a file that cannot be read whole."""
    path = Path(path)
    name = display_name or str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValidationError([Problem(name, "unsupported_format",
                                       f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}")])
    blob = path.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    if not blob.strip():
        raise ValidationError([Problem(name, "empty_file", "the file is empty")])
    if suffix in (".csv", ".txt") and blob.startswith(b"PK\x03\x04"):
        try:
            rows = sum(len(t.cells) for t in _read_workbook(blob, name, sha)[0])
        except ValidationError as exc:
            rows = getattr(exc, "rows", None)
        raise FileRejected([Problem(name, "unsupported_format", f"the file is a workbook (XLSX) with a {suffix} "
                                    "name; rename it .xlsx (or export it as CSV)")], rows=rows)
    if suffix in (".xlsx", ".xlsm") and not blob.startswith(b"PK\x03\x04"):
        raise ValidationError([Problem(name, "unsupported_format", f"the file has an {suffix} name but is not a "
                                       "workbook (a CSV or text file renamed?); give it its real extension")])
    if suffix in (".xlsx", ".xlsm"):
        tables, skipped = _read_workbook(blob, name, sha)
        return [replace(t, source_path=path) for t in tables], skipped
    labels: dict[str, str] = {}
    malformed: dict[int, tuple[str, str]] = {}
    if suffix in (".csv", ".txt"):
        text, encoding = decode_bytes(blob, name)
        frame, malformed = _read_delimited(text, name, sniff=suffix == ".txt")
        fmt, first_row = "csv", 2
    else:
        import pyreadstat

        encoding = None
        try:
            df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
        except Exception as exc:
            raise ValidationError([Problem(name, "unreadable", f"not a readable SPSS .sav file: {exc}")]) from exc
        labels = {k: v for k, v in zip(meta.column_names, meta.column_labels) if v}
        body = df.astype(object).map(_cell_text).set_axis(range(df.shape[1]), axis=1)
        frame = pd.concat([pd.DataFrame([list(df.columns)], columns=body.columns), body], ignore_index=True)
        fmt, first_row = "sav", 1
    return [replace(_table(frame, name, fmt, encoding, sha, first_row, labels, malformed), source_path=path)], []


def _table(frame: pd.DataFrame, name, fmt, encoding, sha, first_row, labels=None, malformed=None) -> RawTable:
    if frame.shape[0] == 0:
        raise ValidationError([Problem(name, "empty_file", "the file is empty")])
    headers = [str(h).strip() for h in frame.iloc[0].tolist()]
    cells = frame.iloc[1:].reset_index(drop=True)
    cells.columns = range(cells.shape[1])
    if len(cells) == 0:
        raise ValidationError([Problem(name, "empty_file", "the file has a header row but no answer rows")])
    # a short row leaves its last cells missing: they are empty cells, like any other
    cells = cells.astype(object).where(cells.notna(), "").astype(str)
    return RawTable(name, headers, cells, fmt, encoding, sha, first_row, labels or {}, malformed or {})


def _read_workbook(blob: bytes, name: str, sha: str) -> tuple[list[RawTable], list[dict]]:
    """Every sheet of a workbook: the answer sheets (the widest header, and every sheet with that
    same header — answers continued on a second sheet) as tables, notes sheets skipped by rule; a
    formula whose value was never computed (a workbook saved by a script) is an error naming the
    cell, never a silently missing answer."""
    from openpyxl import load_workbook

    try:
        values = load_workbook(io.BytesIO(blob), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(blob), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for corrupt or truncated files
        raise ValidationError([Problem(name, "unreadable", f"not a readable XLSX file: {exc}")]) from exc
    sheets, problems = {}, []
    for ws, wf in zip(values.worksheets, formulas.worksheets):
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        for r_idx, (row_v, row_f) in enumerate(zip(rows, wf.iter_rows(values_only=True)), start=1):
            for c_idx, (v, f) in enumerate(zip(row_v, row_f), start=1):
                if v is None and isinstance(f, str) and f.startswith("="):
                    from openpyxl.utils import get_column_letter

                    problems.append(Problem(f"{name}[{ws.title}]", "formula_without_value",
                                            f"cell {get_column_letter(c_idx)}{r_idx} holds the formula {f!r} but no "
                                            "computed value (saved by a program, not by Excel): open and save it in a "
                                            "spreadsheet program, or export the values", row=r_idx, value=f))
        rows = [r for r in rows if any(v is not None and str(v).strip() != "" for v in r)]
        sheets[ws.title] = rows
    values.close()
    formulas.close()

    def header(rows):
        return tuple(str(v).strip() for v in rows[0] if v is not None and str(v).strip()) if rows else ()

    if not any(sheets.values()):
        raise ValidationError([Problem(name, "empty_file", "the workbook has no filled sheet")])
    widest = max(sheets, key=lambda t: len(header(sheets[t])))
    ref = header(sheets[widest])
    tables, skipped = [], []
    data_sheets = [t for t, rows in sheets.items() if rows and header(rows) == ref]
    if problems:
        raise FileRejected(problems, rows=sum(len(sheets[t]) - 1 for t in data_sheets))
    for title, rows in sheets.items():
        if title in data_sheets:
            continue
        if not rows:
            skipped.append({"sheet": title, "rule": "empty_sheet", "reason": "the sheet is empty"})
        elif len(header(rows)) * 2 <= len(ref):
            skipped.append({"sheet": title, "rule": "notes_sheet",
                            "reason": f"{len(header(rows))} filled header cell(s) against {len(ref)} on the answer "
                                      "sheet(s): notes or instructions, not answers"})
        else:
            raise ValidationError([Problem(f"{name}[{title}]", "sheet_headers_differ",
                                           f"the sheet looks like answers but its header differs from sheet "
                                           f"{widest!r}'s; give every answer sheet the same header row")])
    for title in data_sheets:
        frame = pd.DataFrame(sheets[title], dtype=object).map(_cell_text)
        table_name = name if len(data_sheets) == 1 else f"{name}[{title}]"
        tables.append(_table(frame, table_name, "xlsx", None, sha, 2))
    return tables, skipped


def _read_delimited(text: str, name: str, *, sniff: bool) -> tuple[pd.DataFrame, dict[int, tuple[str, str]]]:
    """Rows of a delimited text file as strings, blank lines skipped. A row with more fields than
    the header does not stop the file: its extra fields are cut off and the row is reported
    (``malformed``: answer-row index → what was wrong), so it becomes one rejected row."""
    import csv

    delimiter = ","
    if sniff:
        try:
            delimiter = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise ValidationError([Problem(name, "unreadable", f"not a readable CSV file: {exc}")]) from exc
    if not rows:
        return pd.DataFrame(), {}
    # the usual row length (a title row above the header is shorter, a row with a stray delimiter longer)
    lengths = pd.Series([len(r) for r in rows]).value_counts()
    width = int(lengths[lengths == lengths.max()].index.max())
    malformed = {}
    for i, r in enumerate(rows[1:]):
        if len(r) > width and any(c.strip() for c in r[width:]):
            malformed[i] = (f"the row has {len(r)} fields but the header {width}: a stray delimiter or an "
                            "unquoted comma; the row is set aside", delimiter.join(r[width:]))
    frame = pd.DataFrame([(r + [""] * width)[:width] for r in rows], dtype=str)
    return frame, malformed


def _count_rows(path: Path) -> int | None:
    """The answer rows of a text export that could not be read (non-blank lines after the header),
    or None where they cannot be counted (a broken workbook, a binary file)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    utf16 = blob.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if blob.startswith(b"PK\x03\x04") or (b"\x00" in blob[:4096] and not utf16):
        return None                      # a workbook or a binary file: its rows cannot be counted as lines
    # line breaks are the same bytes in UTF-8 and GBK; undecodable bytes do not change the count
    text = blob.decode("utf-16" if utf16 else "utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return max(0, len(lines) - 1)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
