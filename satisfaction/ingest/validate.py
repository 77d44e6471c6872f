"""Mapping a raw table's headers to the codebook's codes and checking every value (vectorised
over rows), each problem named by file, row, column, value and rule."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..codebook import Codebook, normalize_header
from ..errors import Problem
from .privacy import _looks_personal, looks_personal_value, mask_personal
from .readers import RawTable
from .rules import MAX_DURATION_SEC

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
                       "looks like personal data (a phone, ID-card number, e-mail or name); use a code instead — "
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
