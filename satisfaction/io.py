"""Reading, mapping and validating raw survey exports; writing the processed year.

:func:`load_survey` reads CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX and SPSS ``.sav`` files,
maps their headers to the codebook's codes, recodes don't-know and missing codes to NaN, mirrors
reverse-coded items and checks every value. Each problem names the file, the row (as a spreadsheet
shows it: header = row 1; for ``.sav`` the case number), the column, the value and the rule.

Rules (the ``rule`` of each :class:`~satisfaction.errors.Problem`):

=====================  ==========================================================================
``empty_file``         the file has no bytes, or a header but no answer rows
``encoding``           the bytes are neither UTF-8 nor GBK/GB18030 (nor UTF-16 with a BOM)
``unreadable``         the file cannot be parsed in its format
``unsupported_format`` the file's suffix is not .csv, .txt, .xlsx, .xlsm or .sav
``missing_column``     a required column (id, city, demographics, index items) is absent
``duplicate_column``   two columns map to the same code
``unknown_header``     a header matches nothing in the codebook
``personal_data``      a column looks like personal data (name, phone, ID number, address, e-mail)
``missing_value``      a required value (id, city, demographic) is empty
``non_numeric``        an answer that must be a number is not
``out_of_range``       an answer is not a point of the item's scale nor one of its special codes
``unknown_city``       the city matches no city of the codebook
``unknown_category``   a demographic value is not one of its categories
``wrong_year``         the row's year differs from the year being ingested
``bad_date``           the interview date cannot be read
``duplicate_id``       a respondent id occurs more than once (within or across files)
=====================  ==========================================================================

With ``strict=True`` any problem raises :class:`~satisfaction.errors.ValidationError` listing all
of them. With ``strict=False`` rows with problems are rejected (kept, with their reasons, in
``Survey.rejects``), files with file-level problems have all their rows rejected, and unknown or
personal-data columns are left out (and reported); always ``rows in = rows kept + rows rejected``.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .codebook import Codebook, load_codebook, normalize_header
from .errors import Problem, ValidationError

SUPPORTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".sav")
#: The longest plausible interview, in seconds (rule ``out_of_range`` above it).
MAX_DURATION_SEC = 86_400
#: Problems that concern a whole column: in lenient mode the column is left out, the rows kept.
COLUMN_RULES = {"unknown_header", "personal_data"}
#: Problems that make a whole file unusable: in lenient mode all its rows are rejected.
FILE_RULES = {"empty_file", "encoding", "unreadable", "unsupported_format", "missing_column", "duplicate_column"}


@dataclass
class Survey:
    """Validated respondents of one or more raw files.

    ``data`` holds one row per kept respondent: ``respondent_id``, ``city`` (code), ``year``,
    fieldwork columns, demographics (integer codes), items as float (NaN = missing, reverse-coded
    items already mirrored), and ``source_file`` / ``source_row`` for tracing each row back.
    ``dont_know`` is a boolean frame (same index, one column per item) marking "don't know" answers.
    """

    data: pd.DataFrame
    codebook: Codebook
    dont_know: pd.DataFrame
    rejects: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)   # files in the folders that are not exports, and why

    @property
    def items(self) -> pd.DataFrame:
        """Item answers (respondents × items), float with NaN for missing."""
        return self.data[[c for c in self.codebook.item_codes if c in self.data.columns]]

    @property
    def rows_in(self) -> int:
        return sum(s["rows_in"] for s in self.sources)

    @property
    def rows_unreadable(self) -> int:
        """Rows (counted as lines) of files that could not be read at all (lenient mode with
        ``allow_unreadable=True``); files whose rows cannot be counted are listed in ``sources``."""
        return sum(s.get("rows_unreadable") or 0 for s in self.sources)

    @property
    def rows_kept(self) -> int:
        return len(self.data)

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    def problems_frame(self) -> pd.DataFrame:
        cols = ["file", "row", "column", "value", "rule", "message"]
        return pd.DataFrame([p.as_dict() for p in self.problems], columns=cols)

    def __repr__(self) -> str:
        return (f"Survey({self.rows_kept} respondents kept, {self.rows_rejected} rejected, "
                f"{self.data['city'].nunique() if len(self.data) else 0} cities, {len(self.sources)} file(s))")


# ---- reading files ----------------------------------------------------------------------------


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
        raise ValidationError([Problem(name, "unsupported_format", f"the file is a workbook (XLSX) with a {suffix} "
                                       "name; rename it .xlsx (or export it as CSV)")])
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
    if problems:
        raise ValidationError(problems)

    def header(rows):
        return tuple(str(v).strip() for v in rows[0] if v is not None and str(v).strip()) if rows else ()

    if not any(sheets.values()):
        raise ValidationError([Problem(name, "empty_file", "the workbook has no filled sheet")])
    widest = max(sheets, key=lambda t: len(header(sheets[t])))
    ref = header(sheets[widest])
    tables, skipped = [], []
    data_sheets = [t for t, rows in sheets.items() if rows and header(rows) == ref]
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


# ---- validation -------------------------------------------------------------------------------


def _looks_personal(codebook: Codebook, header: str, values: pd.Series) -> str | None:
    for pat in codebook.personal_header_patterns:
        if pat.search(header):
            return f"header matches the personal-data pattern {pat.pattern!r}"
    sample = values[values.str.strip() != ""].str.strip().head(200)
    if len(sample):
        for pat in codebook.personal_value_patterns:
            share = sample.map(lambda v: bool(pat.match(v))).mean()
            if share >= 0.5:
                return f"{share:.0%} of its values match the personal-data pattern {pat.pattern!r}"
    return None


def _unanchored(pattern: re.Pattern) -> re.Pattern:
    """A personal-value pattern (``^1[3-9]\\d{9}$``) that also finds the value inside a longer text."""
    text = pattern.pattern
    text = text[1:] if text.startswith("^") else text
    text = text[:-1] if text.endswith("$") and not text.endswith("\\$") else text
    return re.compile(r"(?<![0-9A-Za-z@.])(?:" + text + r")(?![0-9A-Za-z@])", pattern.flags)


def _mask(match: re.Match) -> str:
    """138****5678; an ID number keeps its first 6 and last 4 characters; an e-mail its first letter."""
    s = match.group(0)
    if "@" in s:
        local, domain = s.split("@", 1)
        return local[:1] + "***@" + domain
    keep_head = 6 if len(s) >= 15 else 3
    return s[:keep_head] + "*" * max(1, len(s) - keep_head - 4) + s[-4:]


def mask_personal(text, codebook: Codebook) -> str:
    """``text`` with every value matching the codebook's personal-data patterns masked, so that
    problems and rejects can show where a phone number or ID was typed without repeating it."""
    if text is None:
        return text
    out = str(text)
    for pat in codebook.personal_value_patterns:
        out = _unanchored(pat).sub(_mask, out)
    return out


def looks_personal_value(values: pd.Series, codebook: Codebook) -> np.ndarray:
    """Which values are (or contain) a phone number, ID number or e-mail address."""
    hit = np.zeros(len(values), dtype=bool)
    text = values.astype(str)
    for pat in codebook.personal_value_patterns:
        hit |= text.str.contains(_unanchored(pat), regex=True).to_numpy(dtype=bool)
    return hit


def map_columns(codebook: Codebook, table: RawTable) -> tuple[dict[int, str], list[Problem]]:
    """Map a raw table's columns to codes; report unknown, personal, duplicate and missing columns."""
    lookup = codebook.header_map()
    mapping: dict[int, str] = {}
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    for pos, header in enumerate(table.headers):
        code = lookup.get(normalize_header(header))
        label = table.labels.get(header)
        if code is None and label:
            code = lookup.get(normalize_header(label))
        if code is None:
            why = _looks_personal(codebook, header + (f" {label}" if label else ""), table.cells[pos])
            if why:
                problems.append(Problem(table.file, "personal_data",
                                        f"column looks like personal data ({why}); it is never kept", column=header))
            elif header == "" and (table.cells[pos].str.strip() == "").all():
                continue  # a trailing empty column that spreadsheets sometimes export
            else:
                problems.append(Problem(table.file, "unknown_header",
                                        "header matches no field, demographic or item of the codebook", column=header))
            continue
        if code in owner:
            problems.append(Problem(table.file, "duplicate_column",
                                    f"column maps to {code!r}, as does column {owner[code]!r}", column=header))
            continue
        owner[code] = header
        mapping[pos] = code
    required = [c for c, f in codebook.fields.items() if f.required] + list(codebook.demographics) + codebook.index_items
    for code in required:
        if code not in owner:
            accepted = ", ".join(repr(h) for h in _headers_of(codebook, code))
            problems.append(Problem(table.file, "missing_column",
                                    f"required column {code!r} ({codebook.label(code)}) not found; accepted headers: {accepted}",
                                    column=code))
    return mapping, problems


def _big5_instead(codebook: Codebook, table: RawTable) -> Problem | None:
    """A text export read as GBK whose headers the codebook does not know, but whose bytes read as
    Big5 give a header line of Chinese characters (traditional Chinese, as software in Taiwan and
    Hong Kong saves): an encoding problem with the fix, rather than dozens of garbled "unknown
    headers"."""
    if table.format != "csv" or table.encoding != "gb18030" or table.source_path is None \
            or _known_header_count(codebook, table.headers):
        return None
    try:
        text = table.source_path.read_bytes().decode("big5")
    except (UnicodeDecodeError, OSError):
        return None
    first = text.splitlines()[0] if text else ""
    if not _big5_looks_chinese(first):
        return None
    return Problem(table.file, "encoding", "the file looks like Big5 (traditional Chinese), not UTF-8 or GBK: its "
                   "headers read as Chinese only in Big5; save the export as UTF-8 CSV (or convert it: "
                   "iconv -f BIG5 -t UTF-8) with the codebook's headers", value=first[:40])


def _big5_looks_chinese(line: str) -> bool:
    """Whether a decoded header line is mostly CJK ideographs (Big5 decoding of Big5 bytes)."""
    letters = [ch for ch in line if not ch.isspace() and ch not in ",;\t\"'"]
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in letters)
    return bool(letters) and cjk >= 0.5 * len(letters)


def _known_header_count(codebook: Codebook, cells) -> int:
    """How many of the cells are headers the codebook knows."""
    lookup = codebook.header_map()
    return sum(lookup.get(normalize_header(c)) is not None for c in cells)


#: How many rows below the first the header row is looked for (title rows above it).
HEADER_SEARCH_ROWS = 5


def _find_header(codebook: Codebook, table: RawTable) -> tuple[RawTable, int]:
    """The table read from its real header row: exports often carry a title ("2024年消费者满意度
    调查数据") or notes above the header. The header is the row among the first few whose cells
    name the most codebook columns; rows above it are title rows (their number is returned, for
    the manifest), never answers."""
    if table.format == "sav":
        return table, 0
    def known(cells) -> int:
        return _known_header_count(codebook, cells)

    best, best_score = -1, known(table.headers)
    for j in range(min(HEADER_SEARCH_ROWS, len(table.cells) - 1)):
        score = known(table.cells.iloc[j].tolist())
        if score > best_score:
            best, best_score = j, score
    if best < 0:
        return table, 0
    headers = [str(h).strip() for h in table.cells.iloc[best].tolist()]
    cells = table.cells.iloc[best + 1:].reset_index(drop=True)
    moved = {i - best - 1: why for i, why in table.malformed.items() if i > best}
    return replace(table, headers=headers, cells=cells, first_row=table.first_row + best + 1, malformed=moved), best + 1


def _headers_of(codebook: Codebook, code: str) -> tuple[str, ...]:
    for table in (codebook.fields, codebook.demographics, codebook.items):
        if code in table:
            return table[code].headers
    return ()


class _RowChecker:
    """Collects row-level problems from vectorised masks."""

    def __init__(self, table: RawTable, column_names: dict[str, str], codebook: Codebook | None = None):
        self.table = table
        self.codebook = codebook
        self.column_names = column_names  # code -> raw header
        self.problems: list[Problem] = []
        self.bad = np.zeros(len(table.cells), dtype=bool)

    def flag(self, mask, code: str, rule: str, message: str, values: pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        self.bad |= mask
        for pos in np.flatnonzero(mask):
            value = str(values.iloc[pos])
            if self.codebook is not None:
                value = mask_personal(value, self.codebook)
            self.problems.append(Problem(self.table.file, rule, message, row=int(pos) + self.table.first_row,
                                         column=self.column_names.get(code, code), value=value))


def _clean(series: pd.Series) -> pd.Series:
    return series.str.normalize("NFKC").str.strip()


def validate_table(codebook: Codebook, table: RawTable, mapping: dict[int, str], *, year: int | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[Problem]]:
    """Check every value of a raw table and convert it to the processed types.

    Returns ``(data, dont_know, bad_rows, problems)`` where ``data`` has one row per input row.
    """
    names = {code: table.headers[pos] for pos, code in mapping.items()}
    raw = pd.DataFrame({code: table.cells[pos] for pos, code in mapping.items()})
    check = _RowChecker(table, names, codebook)
    for i, (why, extra) in table.malformed.items():
        check.bad[i] = True
        check.problems.append(Problem(table.file, "malformed_row", why, row=i + table.first_row,
                                      value=mask_personal(extra, codebook)))
    n = len(raw)
    out: dict[str, pd.Series] = {}

    def required_text(code: str) -> pd.Series:
        values = _clean(raw[code])
        check.flag(values.eq(""), code, "missing_value", f"{codebook.label(code, 'en')} is empty", raw[code])
        return values

    out["respondent_id"] = required_text("respondent_id")
    for code in ("respondent_id", "interviewer"):
        # a phone or ID number in a field the codebook knows is personal data all the same: never kept
        if code in raw:
            check.flag(looks_personal_value(_clean(raw[code]), codebook), code, "personal_data",
                       "looks like personal data (a phone, ID-card number or e-mail); use a code instead — "
                       "the value is never kept", raw[code])

    cities = required_text("city")
    lookup = codebook.city_lookup()
    city_codes = cities.map(lambda v: lookup.get(normalize_header(v)) if v else None)
    check.flag(cities.ne("") & city_codes.isna(), "city", "unknown_city",
               f"not a city of the codebook ({', '.join(c.zh for c in codebook.cities.values())})", raw["city"])
    out["city"] = city_codes.astype("string")

    if "year" in raw:
        text = _clean(raw["year"])
        num = pd.to_numeric(text.where(text.ne("")), errors="coerce")
        check.flag(text.ne("") & (num.isna() | (num % 1 != 0)), "year", "non_numeric", "the year is not a whole number", raw["year"])
        if year is not None:
            check.flag(num.notna() & num.ne(year), "year", "wrong_year", f"the row's year differs from the year being ingested ({year})", raw["year"])
        out["year"] = num.fillna(year if year is not None else np.nan).astype("Int64")
    else:
        out["year"] = pd.Series(year, index=raw.index, dtype="Int64")

    if "interview_date" in raw:
        text = _clean(raw["interview_date"])
        dates = pd.to_datetime(text.where(text.ne("")), errors="coerce", format="mixed")
        check.flag(text.ne("") & dates.isna(), "interview_date", "bad_date", "the interview date cannot be read (use YYYY-MM-DD)", raw["interview_date"])
        out["interview_date"] = dates
    if "duration_sec" in raw:
        text = _clean(raw["duration_sec"])
        num = pd.to_numeric(text.where(text.ne("")), errors="coerce")
        check.flag(text.ne("") & num.isna(), "duration_sec", "non_numeric", "the duration is not a number", raw["duration_sec"])
        check.flag(num.notna() & (num < 0), "duration_sec", "out_of_range", "the duration must not be negative", raw["duration_sec"])
        check.flag(num.notna() & ~np.isfinite(num.to_numpy(dtype=float, na_value=0.0)), "duration_sec", "not_finite",
                   "the duration must be a finite number of seconds", raw["duration_sec"])
        check.flag(num.notna() & np.isfinite(num.to_numpy(dtype=float, na_value=0.0)) & (num > MAX_DURATION_SEC),
                   "duration_sec", "out_of_range", f"an interview cannot last more than {MAX_DURATION_SEC:,} seconds "
                   "(a day)", raw["duration_sec"])
        out["duration_sec"] = num.astype(float)
    if "interviewer" in raw:
        out["interviewer"] = _clean(raw["interviewer"]).astype("string")

    for code, demo in codebook.demographics.items():
        values = required_text(code)
        by_label = {normalize_header(lab[k]): v for v, lab in demo.categories.items() for k in ("zh", "en")}
        num = pd.to_numeric(values.where(values.ne("")), errors="coerce")
        from_label = values.map(lambda v: by_label.get(normalize_header(v)) if v else None)
        coded = num.where(num.isin(list(demo.categories)), pd.to_numeric(from_label, errors="coerce"))
        allowed = ", ".join(f"{v}={lab['zh']}" for v, lab in demo.categories.items())
        check.flag(values.ne("") & coded.isna(), code, "unknown_category", f"not a category of {code} ({allowed})", raw[code])
        out[code] = coded.astype("Int64")

    dont_know = {}
    for code in codebook.item_codes:
        item = codebook.items[code]
        if code not in raw:
            out[code] = pd.Series(np.nan, index=raw.index)
            dont_know[code] = pd.Series(False, index=raw.index)
            continue
        scale = item.scale
        text = _clean(raw[code])
        num = pd.to_numeric(text.where(text.ne("")), errors="coerce")
        check.flag(text.ne("") & num.isna(), code, "non_numeric", f"answer to {code} ({item.zh}) is not a number", raw[code])
        is_dk = num.isin(scale.dont_know)
        is_missing = num.isin(scale.missing)
        on_scale = num.between(scale.min, scale.max) & (num % 1 == 0)
        special = ", ".join(f"{v:g}" for v in (*scale.dont_know, *scale.missing))
        check.flag(num.notna() & ~(on_scale | is_dk | is_missing), code, "out_of_range",
                   f"answer to {code} ({item.zh}) must be a whole number from {scale.min:g} to {scale.max:g}"
                   + (f" or a special code ({special})" if special else ""), raw[code])
        value = num.where(on_scale)
        if item.reverse:
            value = scale.min + scale.max - value
        out[code] = value.astype(float)
        dont_know[code] = is_dk.fillna(False).astype(bool)

    data = pd.DataFrame(out)
    data["source_file"] = table.file
    data["source_row"] = np.arange(n) + table.first_row
    return data, pd.DataFrame(dont_know), check.bad, check.problems


def _expand_paths(paths) -> tuple[list[Path], list[Path]]:
    """The files to read (folders stand for their export files) and the other files found in the
    folders, which are listed, not read."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    other: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for q in sorted(q for q in p.iterdir() if q.is_file()):
                (out if q.suffix.lower() in SUPPORTED_SUFFIXES else other).append(q)
        else:
            out.append(p)
    return out, other


def _display_name(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def load_survey(paths, codebook: Codebook | str | Path, *, strict: bool = True, year: int | None = None,
                relative_to: str | Path | None = None, progress: bool = False, allow_unreadable: bool = False) -> Survey:
    """Read, map and validate raw survey exports into a :class:`Survey`.

    Parameters
    ----------
    paths : path, folder or list of them
        Raw exports (.csv, .txt, .xlsx, .xlsm, .sav). A folder stands for every such file in it.
    codebook : Codebook or path
    strict : bool
        ``True``: any problem raises :class:`ValidationError` listing all problems.
        ``False``: rows with problems are rejected and returned in ``Survey.rejects``.
    allow_unreadable : bool
        In lenient mode, a file that cannot be read at all (corrupt, wrong type, broken encoding)
        still stops the run, unless this is ``True``: then the run goes on without it and
        ``sources`` records it with its row count (``rows_unreadable``; ``None`` where the rows
        cannot be counted), so that rows in = kept + rejected + unreadable.
    year : int, optional
        The survey year; rows whose year column differs are flagged ``wrong_year``.
    relative_to : path, optional
        Name files relative to this folder in messages and outputs.
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    files, others = _expand_paths(paths)
    base = Path(relative_to) if relative_to is not None else None
    ignored = [{"file": _display_name(q, base), "rule": "not_an_export_type",
                "reason": f"{q.suffix or 'no'} files are not exports (read: {', '.join(SUPPORTED_SUFFIXES)})"}
               for q in others]
    explicit = {Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)}
    if not files:
        raise ValidationError([Problem(str(paths), "empty_file", "no survey files found")])
    problems: list[Problem] = []
    kept, kept_dk, rejects, sources = [], [], [], []
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="reading", unit="file")
    tables, unreadable = [], []
    for path in iterator:
        name = _display_name(path, base)
        try:
            found, skipped = read_tables(path, name)
        except ValidationError as exc:
            problems.extend(exc.problems)
            unreadable.extend(exc.problems)
            # the file's rows are lost to the analysis: counted where they can be, said where not
            counted = _count_rows(path)
            sources.append({"file": name, "sha256": _sha256(path), "format": path.suffix.lower().lstrip("."),
                            "encoding": None, "rows_in": counted or 0, "rows_kept": 0, "rows_rejected": 0,
                            "unreadable": True, "rows_unreadable": counted,
                            "note": "rows counted as lines" if counted is not None else "rows cannot be counted"})
            continue
        tables += [(t, skipped if i == 0 else []) for i, t in enumerate(found)]
    for table, skipped in tables:
        name = table.file
        table, title_rows = _find_header(cb, table)
        big5 = _big5_instead(cb, table)
        if big5:
            problems.append(big5)
            unreadable.append(big5)
            sources.append({"file": name, "sha256": table.sha256, "format": table.format, "encoding": None,
                            "rows_in": len(table.cells), "rows_kept": 0, "rows_rejected": 0, "unreadable": True,
                            "rows_unreadable": len(table.cells), "note": "rows counted as lines"})
            continue
        if table.source_path is not None and table.source_path.suffix.lower() == ".txt" \
                and table.source_path not in explicit and not _known_header_count(cb, table.headers):
            # a README or notes .txt beside the exports: listed, not read as answers
            ignored.append({"file": name, "rule": "not_an_export",
                            "reason": "a .txt file without any column the codebook knows (notes, not answers)"})
            continue
        mapping, col_problems = map_columns(cb, table)
        problems.extend(col_problems)
        source = {"file": name, "sha256": table.sha256, "format": table.format, "encoding": table.encoding,
                  "rows_in": len(table.cells)}
        if skipped:
            source["sheets_skipped"] = skipped
        if title_rows:
            source["title_rows"] = title_rows
        file_level = [p for p in col_problems if p.rule in FILE_RULES]
        raw_keep = [pos for pos, h in enumerate(table.headers) if pos in mapping]
        raw_view = table.cells[raw_keep].set_axis([table.headers[p] for p in raw_keep], axis=1)
        if file_level:
            reasons = "; ".join(f"[{p.rule}] {p.message}" for p in file_level)
            rejects.append(_reject_frame(raw_view, table, np.ones(len(table.cells), bool), {i: reasons for i in range(len(table.cells))}))
            source.update(rows_kept=0, rows_rejected=len(table.cells))
            sources.append(source)
            continue
        data, dk, bad, row_problems = validate_table(cb, table, mapping, year=year)
        problems.extend(row_problems)
        reasons: dict[int, str] = {}
        for p in row_problems:
            i = p.row - table.first_row
            reasons[i] = (reasons[i] + "; " if i in reasons else "") + f"[{p.rule}] {p.column}={p.value!r}: {p.message}"
        rejects.append(_reject_frame(raw_view, table, bad, reasons))
        kept.append(data[~bad])
        kept_dk.append(dk[~bad])
        source.update(rows_kept=int((~bad).sum()), rows_rejected=int(bad.sum()))
        sources.append(source)

    data = pd.concat(kept, ignore_index=True) if kept else _empty_data(cb)
    dont_know = pd.concat(kept_dk, ignore_index=True) if kept_dk else pd.DataFrame(columns=cb.item_codes, dtype=bool)
    rejects_df = pd.concat(rejects, ignore_index=True) if rejects else _empty_rejects()

    # Duplicate ids across everything kept: keep the first occurrence, reject the others.
    dup = data["respondent_id"].duplicated(keep="first").to_numpy()
    if dup.any():
        first = data.drop_duplicates("respondent_id").set_index("respondent_id")[["source_file", "source_row"]]
        moved = []
        for i in np.flatnonzero(dup):
            rid = data.at[i, "respondent_id"]
            f, r = first.loc[rid, "source_file"], first.loc[rid, "source_row"]
            msg = f"respondent id already used at {f}, row {r}"
            problems.append(Problem(data.at[i, "source_file"], "duplicate_id", msg, row=int(data.at[i, "source_row"]),
                                    column=cb.fields["respondent_id"].zh, value=str(rid)))
            moved.append({"source_file": data.at[i, "source_file"], "source_row": int(data.at[i, "source_row"]),
                          "reasons": f"[duplicate_id] {msg}", "respondent_id": rid})
        rejects_df = pd.concat([rejects_df, pd.DataFrame(moved)], ignore_index=True)
        for s in sources:
            n_dup = sum(1 for m in moved if m["source_file"] == s["file"])
            s["rows_kept"] -= n_dup
            s["rows_rejected"] += n_dup
        data = data[~dup].reset_index(drop=True)
        dont_know = dont_know[~dup].reset_index(drop=True)

    if strict and problems:
        raise ValidationError(problems)
    if unreadable and not allow_unreadable:
        raise ValidationError(unreadable + [Problem(
            "(run)", "unreadable", "lenient mode keeps good rows of readable files, but a whole file could not be "
            "read: fix it, or pass allow_unreadable=True (satisfaction ingest --allow-unreadable) to go on "
            "without it (the manifest then records it and its row count)")])
    rejects_df = _masked(rejects_df, cb)   # a phone number typed into an answer is not repeated in rejects.csv
    survey = Survey(data.reset_index(drop=True), cb, dont_know.reset_index(drop=True), rejects_df, problems, sources,
                    ignored)
    assert survey.rows_in == survey.rows_kept + survey.rows_rejected + survey.rows_unreadable, \
        "rows in must equal rows kept + rows rejected + rows in unreadable files"
    return survey


def _masked(frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Every text cell with personal values masked (:func:`mask_personal`)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            for pat in codebook.personal_value_patterns:
                text = text.str.replace(_unanchored(pat), _mask, regex=True)
            out[col] = text
    return out


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


def _reject_frame(raw_view: pd.DataFrame, table: RawTable, bad: np.ndarray, reasons: dict[int, str]) -> pd.DataFrame:
    rows = np.flatnonzero(bad)
    out = raw_view.iloc[rows].reset_index(drop=True).copy()
    out.insert(0, "reasons", [reasons.get(int(i), "") for i in rows])
    out.insert(0, "source_row", rows + table.first_row)
    out.insert(0, "source_file", table.file)
    return out


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(columns=["source_file", "source_row", "reasons"])


def _empty_data(cb: Codebook) -> pd.DataFrame:
    cols = ["respondent_id", "city", "year", *cb.demographics, *cb.item_codes, "source_file", "source_row"]
    return pd.DataFrame(columns=cols)


# ---- writing and reading the processed year ------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, blob: bytes) -> None:
    """Write a file atomically: a temporary file in the same folder, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; publish with the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir_atomically(build, target: str | Path) -> Path:
    """Build a folder's contents in a temporary sibling, then swap it in for ``target``.

    ``build(tmp_dir)`` writes the files. If it raises, the temporary folder is removed and the
    existing ``target`` is untouched. The swap is two renames, so readers see either the old or the
    new folder, never a half-written one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """XLSX bytes for one or more sheets that do not depend on the clock.

    openpyxl stamps the document properties and the zip entries with the current time; both are
    pinned here so that the same tables always give the same bytes.
    """
    import datetime as dt
    import re
    import zipfile

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        ws.append([str(c) for c in df.columns])
        for row in df.itertuples(index=False):
            ws.append([None if (isinstance(v, float) and np.isnan(v)) or v is pd.NA else (v.item() if hasattr(v, "item") else v)
                       for v in row])
    fixed = dt.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "satisfaction"
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>",
                              b'<dcterms:modified xsi:type="dcterms:W3CDTF">2000-01-01T00:00:00Z</dcterms:modified>', data)
            entry = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    return out.getvalue()


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


def write_processed(survey: Survey, out_dir: str | Path, *, year: int, codebook_path: str | None = None) -> Path:
    """Write a validated survey to ``out_dir`` (``data/processed/<year>``) atomically.

    Files: ``respondents.parquet`` (one row per respondent), ``dont_know.parquet``, ``rejects.csv``
    (rejected rows with their reasons, personal-data columns never included), ``problems.csv`` and
    ``manifest.json`` (input hashes, codebook hash, row counts, package version).
    """
    from . import __version__

    outputs = {
        "respondents.parquet": _parquet_bytes(survey.data),
        "dont_know.parquet": _parquet_bytes(survey.dont_know),
        "rejects.csv": survey.rejects.to_csv(index=False, lineterminator="\n").encode("utf-8-sig"),
        "problems.csv": survey.problems_frame().to_csv(index=False, lineterminator="\n").encode("utf-8-sig"),
    }
    manifest = {
        "year": year,
        "package": "satisfaction",
        "package_version": __version__,
        "codebook": {"path": codebook_path or survey.codebook.path, "sha256": survey.codebook.sha256},
        "inputs": survey.sources,
        "ignored": survey.ignored,
        "rows": {"in": survey.rows_in, "kept": survey.rows_kept, "rejected": survey.rows_rejected,
                 "unreadable": survey.rows_unreadable},
        "problems": len(survey.problems),
        "outputs": {name: hashlib.sha256(blob).hexdigest() for name, blob in outputs.items()},
    }
    outputs["manifest.json"] = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def build(tmp: Path) -> None:
        for name, blob in outputs.items():
            (tmp / name).write_bytes(blob)

    return replace_dir_atomically(build, out_dir)


def read_processed(folder: str | Path, codebook: Codebook | str | Path) -> Survey:
    """Read a processed year written by :func:`write_processed` back into a :class:`Survey`."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} holds no processed survey (no manifest.json); run `satisfaction ingest` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    data = pd.read_parquet(folder / "respondents.parquet")
    dk = pd.read_parquet(folder / "dont_know.parquet")
    rejects = pd.read_csv(folder / "rejects.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    problems_df = pd.read_csv(folder / "problems.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    problems = [Problem(file=r.file, rule=r.rule, message=r.message, row=int(r.row) if r.row else None,
                        column=r.column or None, value=r.value or None) for r in problems_df.itertuples()]
    survey = Survey(data, cb, dk, rejects, problems, manifest["inputs"])
    survey.manifest = manifest  # type: ignore[attr-defined]
    return survey


def ingest(year: int, *, raw_root: str | Path, out_root: str | Path, codebook: Codebook | str | Path,
           strict: bool = True, progress: bool = False, allow_unreadable: bool = False) -> tuple[Survey, Path]:
    """Read ``<raw_root>/<year>/``, validate it and write ``<out_root>/<year>/`` atomically."""
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    folder = Path(raw_root) / str(year)
    if not folder.is_dir():
        raise FileNotFoundError(f"no raw data folder for {year}: {folder}")
    survey = load_survey(folder, cb, strict=strict, year=year, relative_to=Path(raw_root), progress=progress,
                         allow_unreadable=allow_unreadable)
    codebook_name = _display_name(Path(cb.path), Path(raw_root))
    out = write_processed(survey, Path(out_root) / str(year), year=year, codebook_path=codebook_name)
    return survey, out


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    for p in problems:
        yield str(p)
