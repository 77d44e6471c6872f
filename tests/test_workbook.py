"""The report's spreadsheet and CSV files: laid out for readers (styled header, frozen panes,
widths, number formats, a notes sheet defining every column and saying where the numbers come
from), numeric for machines, and the same bytes for the same report."""
from __future__ import annotations

import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from satisfaction.report import AnnualReport
from satisfaction.report.columns import COLUMNS, TABLE_COLUMNS, describe, number_format
from satisfaction.report.labels import TEXT
from satisfaction.report.workbook import report_csvs, report_workbook
from satisfaction.xlsx import HEADER_FILL, display_width, workbook_bytes
from conftest import CODEBOOK, ROOT

SETTINGS = {"replicates": 20, "draws": 50, "issued": "2025-03-15"}
YEARS = (2019, 2020, 2021, 2022, 2023, 2024)

# ---- the generic writer ------------------------------------------------------------------------


def small_frame() -> pd.DataFrame:
    return pd.DataFrame({"city": ["450100", "南宁南宁南宁南宁"], "score": [76.25, np.nan], "n": [578, 12],
                         "ok": [True, False], "note": ["=1+1", None], "rank": pd.array([1, None], dtype="Int64")})


def load(blob: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(blob))


def test_workbook_layout_of_a_sheet():
    wb = load(workbook_bytes({"t": small_frame()}, formats={"t": {"score": "0.0"}}, headers={"t": {"score": "得分"}}))
    ws = wb["t"]
    assert [c.value for c in ws[1]] == ["city", "score", "n", "ok", "note", "rank"]
    assert all(c.font.b and c.fill.fgColor.rgb.endswith(HEADER_FILL) for c in ws[1])
    assert ws.freeze_panes == "B2"                      # the first column names the row
    assert ws.auto_filter.ref == "A1:F3"
    assert ws["B1"].comment.text == "得分"
    assert (ws["B2"].value, ws["B2"].number_format) == (76.25, "0.0")
    assert ws["B3"].value is None                       # NaN: an empty cell
    assert (ws["C2"].value, ws["C2"].number_format) == (578, "0")       # integers default to "0"
    assert ws["D2"].data_type == "b" and ws["D2"].value is True and ws["D3"].value is False
    assert ws["E2"].data_type == "s" and ws["E2"].value == "=1+1"      # text, never a formula
    assert ws["F2"].value == 1 and ws["F3"].value is None
    # widths from the content, wide characters counted twice
    assert ws.column_dimensions["A"].width >= display_width("南宁南宁南宁南宁") == 16
    assert ws.column_dimensions["C"].width < ws.column_dimensions["A"].width


def test_workbook_default_float_format_and_numeric_first_column():
    ws = load(workbook_bytes({"t": pd.DataFrame({"year": [2023, 2024], "x": [0.5, 0.25]})}))["t"]
    assert ws.freeze_panes == "A2"
    assert ws["B2"].number_format == "0.00"


def test_workbook_notes_sheet_first_with_about_block():
    notes = pd.DataFrame({"sheet": ["t"], "column": ["score"], "label": ["得分"], "definition": ["很长的说明" * 20], "unit": ["分"]})
    wb = load(workbook_bytes({"t": small_frame()}, notes=notes, notes_title="说明",
                             about=[("来源", "示例"), ("校验码", "a.csv", "f" * 64)]))
    assert wb.sheetnames == ["说明", "t"]
    rows = list(wb["说明"].iter_rows(values_only=True))
    assert rows[0] == ("sheet", "column", "label", "definition", "unit")
    assert rows[1][:3] == ("t", "score", "得分")
    assert rows[3][:2] == ("项目", "内容")
    assert rows[5][:3] == ("校验码", "a.csv", "f" * 64)
    assert wb["说明"]["D2"].alignment.wrap_text


def test_workbook_bytes_carry_no_clock_time():
    import zipfile

    blob = workbook_bytes({"t": small_frame()})
    assert workbook_bytes({"t": small_frame()}) == blob
    assert workbook_bytes({"t": small_frame().assign(n=[578, 13])}) != blob
    archive = zipfile.ZipFile(io.BytesIO(blob))
    assert {info.date_time for info in archive.infolist()} == {(2000, 1, 1, 0, 0, 0)}
    core = archive.read("docProps/core.xml").decode()
    stamps = re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]*)<", core)
    assert stamps == ["2000-01-01T00:00:00Z"] * 2


@pytest.mark.parametrize("name", ["a" * 32, "a/b", "x[1]", "何?"])
def test_workbook_rejects_sheet_names_excel_cannot_hold(name):
    with pytest.raises(ValueError, match="sheet name"):
        workbook_bytes({name: small_frame()})


def test_workbook_rejects_sheet_names_equal_but_for_case():
    with pytest.raises(ValueError, match="used twice"):
        workbook_bytes({"Scores": small_frame(), "scores": small_frame()})


# ---- the report's files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbook_blob(report):
    return report_workbook(report)


@pytest.fixture(scope="module")
def book(workbook_blob):
    return load(workbook_blob)


def rebuilt(report):
    """The report's tables computed again from its context (the sections re-run)."""
    report.forget_blocks()
    return report


def test_sheets_are_the_tables_in_chinese_after_the_notes(report, book):
    names = [TEXT["zh"][f"sheet_{k}"] for k in report.tables()]
    assert book.sheetnames == ["说明", *names]


def test_data_sheets_are_laid_out_for_readers(report, book):
    from openpyxl.utils import get_column_letter

    for key, tb in report.tables().items():
        ws = book[TEXT["zh"][f"sheet_{key}"]]
        header = [c.value for c in ws[1]]
        assert header == [str(c) for c in tb.data.columns]           # the CSV names
        assert all(c.font.b and c.fill.fgColor.rgb.endswith(HEADER_FILL) for c in ws[1]), key
        first_is_text = not pd.api.types.is_numeric_dtype(tb.data.iloc[:, 0])
        assert ws.freeze_panes == ("B2" if first_is_text else "A2"), key
        assert ws.auto_filter.ref.startswith("A1:"), key
        for j, column in enumerate(tb.data.columns, start=1):
            assert ws.column_dimensions[get_column_letter(j)].width >= 6, (key, column)
            series = tb.data[column]
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                cells = [r[0] for r in ws.iter_rows(min_row=2, min_col=j, max_col=j) if r[0].value is not None]
                assert all(c.data_type == "n" and c.number_format != "General" for c in cells), (key, column)


def test_report_rounding_and_percentages_are_number_formats(book):
    scores = book[TEXT["zh"]["sheet_scores"]]
    header = [c.value for c in scores[1]]
    assert scores.cell(row=2, column=header.index("ci_low") + 1).number_format == "0.0"
    assert scores.cell(row=2, column=header.index("se") + 1).number_format == "0.00"
    rates = book[TEXT["zh"]["sheet_rates"]]
    header = [c.value for c in rates[1]]
    cell = rates.cell(row=2, column=header.index("rate") + 1)
    assert cell.number_format == "0.0%" and 0 < cell.value < 1       # stored as a proportion, unrounded
    assert cell.value != round(cell.value, 3)


def test_intervals_and_rank_sets_are_numbers(report, book):
    seen = set()
    for key, tb in report.tables().items():
        ws = book[TEXT["zh"][f"sheet_{key}"]]
        header = [c.value for c in ws[1]]
        for column in ("ci_low", "ci_high", "rank_lower", "rank_upper"):
            if column in header:
                seen.add(column)
                j = header.index(column) + 1
                values = [r[0] for r in ws.iter_rows(min_row=2, min_col=j, max_col=j)]
                assert all(c.data_type == "n" for c in values), (key, column)
                assert any(isinstance(c.value, (int, float)) for c in values), (key, column)
    assert seen == {"ci_low", "ci_high", "rank_lower", "rank_upper"}
    ranking = report.tables()["ranking"].data
    assert (ranking["rank_lower"] <= ranking["rank"]).all() and (ranking["rank"] <= ranking["rank_upper"]).all()


INTERVAL_TEXT = re.compile(r"[\[(（]\s*[−+-]?\d+(\.\d+)?\s*[,，–]\s*[−+-]?\d+(\.\d+)?\s*[\])）]|^\s*[−+-]?\d+(\.\d+)?\s*[–~]\s*\d")


def test_no_table_holds_numbers_as_text(report):
    for key, tb in report.tables().items():
        for column in tb.data.columns:
            series = tb.data[column]
            if pd.api.types.is_numeric_dtype(series):
                continue
            texts = series.dropna().astype(str)
            assert not texts.map(lambda s: bool(INTERVAL_TEXT.search(s))).any(), (key, column)
            # a text column of numbers would be a numeric column written as text
            assert not (len(texts) and texts.str.fullmatch(r"[−+-]?\d+\.\d+").all()), (key, column)


def test_priorities_are_tidy_and_give_the_order_the_report_lists(report):
    from satisfaction.drivers import QUADRANTS

    tb = report.tables()["priorities"]
    data = tb.data
    assert list(data.columns[:2]) == ["city", "name"]
    assert pd.api.types.is_float_dtype(data["importance"]) and pd.api.types.is_float_dtype(data["performance"])
    assert set(data["quadrant"]) <= {"concentrate", "keep", "low", "overkill", "too_few"}
    shown = dict(zip(tb.display.iloc[:, 0], tb.display.iloc[:, 1]))
    for city, part in data.groupby("city", sort=False):
        name = report.city(city)
        focus = part[part["priority"].notna()].sort_values("priority")
        assert list(focus["priority"]) == list(range(1, len(focus) + 1))
        assert (focus["quadrant"] == "concentrate").all()
        if (part["quadrant"] == "too_few").all():
            assert shown[name] == QUADRANTS["zh"]["too_few"]
        elif len(focus):
            assert shown[name] == report.join(focus["label"])
        else:
            assert shown[name] == "—"


def test_notes_sheet_defines_every_column_of_every_sheet(report, book):
    rows = list(book["说明"].iter_rows(values_only=True))
    assert rows[0] == ("工作表", "文件", "列名", "名称", "含义", "单位")
    rows = rows[:rows.index((None,) * 6)]            # the column table ends where the provenance block begins
    listed = {(r[0], r[2]) for r in rows[1:] if r[0] and r[2]}
    for ws in book.worksheets[1:]:
        for c in ws[1]:
            assert (ws.title, c.value) in listed, (ws.title, c.value)
    for r in rows[1:]:
        if r[0] and r[2]:
            assert r[3] and r[4] and r[5], r                              # label, definition, unit
    # per-city columns are described by the city's name
    city = next(iter(report.ctx.scores["city"]))
    by_column = {(r[0], r[2]): r for r in rows[1:] if r[0]}
    assert report.city(city) in by_column[(TEXT["zh"]["sheet_indicators"], city)][3]
    assert report.city(city) in by_column[(TEXT["zh"]["sheet_indicators"], f"rank_{city}")][3]


def test_notes_sheet_hashes_match_the_manifest(report, book):
    rows = [r for r in book["说明"].iter_rows(values_only=True)]
    hashes = {r[1]: r[2] for r in rows if r[0] == "原始数据文件校验码"}
    manifest = report.ctx.survey.manifest
    assert hashes == {s["file"]: s["sha256"] for s in manifest["inputs"]}
    assert len(hashes) >= 2
    about = {r[0]: r[1] for r in rows if r[0]}
    assert about["发布日期"] == "2025-03-15"
    assert about["指标体系文件校验码"] == report.codebook.sha256


def test_every_column_has_a_description_in_both_languages(report):
    for key, tb in report.tables().items():
        for column in tb.data.columns:
            for lang in ("zh", "en"):
                label, definition, unit = describe(key, str(column), lang, report.codebook)
                assert label and definition and unit, (key, column, lang)
    assert set(COLUMNS["zh"]) == set(COLUMNS["en"]) and set(TABLE_COLUMNS["zh"]) == set(TABLE_COLUMNS["en"])
    with pytest.raises(KeyError, match="no_such_column"):
        describe("scores", "no_such_column", "zh", report.codebook)


def test_number_formats_follow_the_report():
    assert number_format("scores", "ci_low", digits=1) == "0.0"
    assert number_format("rates", "rate", digits=3) == "0.0%"
    assert number_format("ranking", "rank_lower") == "0"
    assert number_format("change", "se") == "0.00"


def test_workbook_is_the_same_bytes_when_built_again(report, workbook_blob):
    assert report_workbook(rebuilt(report)) == workbook_blob


def test_csvs_are_numeric_and_the_same_when_built_again(report):
    first = report_csvs(report)
    assert set(first) == {f"{k}.csv" for k in report.tables()}
    for name, blob in first.items():
        assert blob.startswith(b"\xef\xbb\xbf") and b"\r" not in blob, name
        back = pd.read_csv(io.BytesIO(blob), encoding="utf-8-sig")
        data = report.tables()[name[:-4]].data
        assert list(back.columns) == [str(c) for c in data.columns], name
        for column in data.columns:
            series = data[column]
            if pd.api.types.is_bool_dtype(series):
                assert back[str(column)].dtype == bool, (name, column)
                raw = pd.read_csv(io.BytesIO(blob), encoding="utf-8-sig", dtype=str)[str(column)]
                assert set(raw) <= {"true", "false"}, (name, column)
            elif pd.api.types.is_integer_dtype(series) and series.notna().all():
                assert pd.api.types.is_integer_dtype(back[str(column)]), (name, column)
            elif pd.api.types.is_numeric_dtype(series):
                assert pd.api.types.is_float_dtype(back[str(column)]) or pd.api.types.is_integer_dtype(back[str(column)]), (name, column)
                # unrounded: the numbers read back exactly
                np.testing.assert_array_equal(back[str(column)].to_numpy(dtype=float), series.to_numpy(dtype=float, na_value=np.nan))
    assert report_csvs(rebuilt(report)) == first
