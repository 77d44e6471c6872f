"""Atomic storage: the processed year written and read back, files and folders replaced so that a
path always holds the complete old or the complete new version."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..codebook import Codebook, load_codebook
from ..errors import Problem
from .survey import Survey, _display_name, load_survey
from .swap import Publication, _umask, publishing, replace_dir_atomically


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


def xlsx_bytes(sheets: dict[str, pd.DataFrame], *, digits: dict[str, dict[str, int]] | None = None) -> bytes:
    """Plain XLSX bytes (as a field agency's export looks: no styles) that do not depend on the clock.
    The demo survey's raw workbooks are written with it, byte for byte as committed; the report's
    styled workbook is :func:`satisfaction.xlsx.workbook_bytes`.

    openpyxl stamps the document properties and the zip entries with the current time; both are
    pinned here so that the same tables always give the same bytes. ``digits`` (sheet → column →
    decimals) sets a number format, so a cell shows the report's rounding while holding the
    unrounded value.
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
        for column, places in ((digits or {}).get(name) or {}).items():
            if column in df.columns:
                j = list(df.columns).index(column) + 1
                for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = "0" if places == 0 else "0." + "0" * places
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
                data = re.sub(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>",
                              rb"<dcterms:modified\1>2000-01-01T00:00:00Z</dcterms:modified>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    return out.getvalue()


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


def write_processed(survey: Survey, out_dir: str | Path, *, year: int, codebook_path: str | None = None,
                    wait: float = 0.0) -> Path:
    """Write a validated survey to ``out_dir`` (``data/processed/<year>``) atomically.

    Files: ``respondents.parquet`` (one row per respondent), ``dont_know.parquet``, ``rejects.csv``
    (rejected rows with their reasons, personal-data columns never included), ``problems.csv`` and
    ``manifest.json`` (input hashes, codebook hash, row counts, package version).
    """
    from .. import __version__

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

    out_dir = Path(out_dir)
    return replace_dir_atomically(build, out_dir, root=out_dir.parent, wait=wait)


def read_processed(folder: str | Path, codebook: Codebook | str | Path) -> Survey:
    """Read a processed year written by :func:`write_processed` back into a :class:`Survey`."""
    from ..paths import resolve

    folder = resolve(folder)
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
           strict: bool = True, progress: bool = False, allow_unreadable: bool = False,
           wait: float = 0.0) -> tuple[Survey, Path]:
    """Read ``<raw_root>/<year>/``, validate it and write ``<out_root>/<year>/`` atomically (under
    the folder's lock; ``wait`` seconds for another run writing it, else refused)."""
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    folder = Path(raw_root) / str(year)
    if not folder.is_dir():
        raise FileNotFoundError(f"no raw data folder for {year}: {folder}")
    survey = load_survey(folder, cb, strict=strict, year=year, relative_to=Path(raw_root), progress=progress,
                         allow_unreadable=allow_unreadable)
    codebook_name = _display_name(Path(cb.path), Path(raw_root))
    out = write_processed(survey, Path(out_root) / str(year), year=year, codebook_path=codebook_name, wait=wait)
    return survey, out


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    for p in problems:
        yield str(p)
