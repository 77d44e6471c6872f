"""The :class:`Survey` (validated respondents of a year) and :func:`load_survey`, which reads,
maps and validates every file of a year's folder: each is read whole or reported."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..codebook import Codebook, load_codebook
from ..errors import Problem, ValidationError
from .privacy import _masked
from .readers import RawTable, _count_rows, _sha256, decode_bytes, read_tables
from .rules import FILE_RULES, SUPPORTED_SUFFIXES
from .validate import HEADER_SEARCH_ROWS, _big5_instead, _find_header, _known_header_count, map_columns, validate_table


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


def _notes_text(path: Path, codebook: Codebook) -> bool:
    """Whether a .txt file is notes rather than an export: none of its first lines (title rows
    included) holds a header the codebook knows."""
    import re

    try:
        text, _ = decode_bytes(path.read_bytes(), str(path))
    except (OSError, ValidationError):
        return False     # the reader reports what is wrong with it
    lines = [line for line in text.splitlines() if line.strip()][:HEADER_SEARCH_ROWS + 1]
    return not any(_known_header_count(codebook, [c.strip().strip('"') for c in re.split(r"[,;\t|]", line)])
                   for line in lines)


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
        if path.suffix.lower() == ".txt" and path not in explicit and _notes_text(path, cb):
            # a README or notes .txt beside the exports: listed, not read as answers
            ignored.append({"file": name, "rule": "not_an_export",
                            "reason": "a .txt file without any column the codebook knows (notes, not answers)"})
            continue
        try:
            found, skipped = read_tables(path, name)
        except ValidationError as exc:
            problems.extend(exc.problems)
            unreadable.extend(exc.problems)
            # the file's rows are lost to the analysis: counted where they can be, said where not
            counted = getattr(exc, "rows", None)
            note = "rows counted in the workbook"
            if counted is None:
                counted, note = _count_rows(path), "rows counted as lines"
            sources.append({"file": name, "sha256": _sha256(path), "format": path.suffix.lower().lstrip("."),
                            "encoding": None, "rows_in": counted or 0, "rows_kept": 0, "rows_rejected": 0,
                            "unreadable": True, "rows_unreadable": counted,
                            "note": note if counted is not None else "rows cannot be counted"})
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
