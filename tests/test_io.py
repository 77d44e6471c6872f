"""Ingestion: every format, every rule, and nothing lost (rows in = rows kept + rows rejected)."""
from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import satisfaction as sat
from satisfaction import io as sio
from satisfaction.cli import main as cli_main
from satisfaction.io import xlsx_bytes
from conftest import header_of, write_csv


def load(path, codebook, **kw):
    return sat.load_survey(path, codebook, **kw)


def only_problem(exc_info, rule):
    problems = [p for p in exc_info.value.problems if p.rule == rule]
    assert problems, f"no {rule} problem in: {exc_info.value}"
    return problems


def encoding_problem(path, blob, codebook):
    """Write ``blob`` to ``path`` and load it strictly: exactly one encoding problem is raised.
    Returns it and every problem raised."""
    path.write_bytes(blob)
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "encoding")
    return p, info.value.problems


# ---- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"),
                                               ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"),
                                               ("gb18030", "gb18030"), ("utf-16", "utf-16")])
def test_reads_csv_encodings(tmp_path, codebook, export, encoding, expected):
    path = write_csv(export, tmp_path / "a.csv", encoding)
    survey = load(path, codebook)
    assert survey.rows_kept == len(export)
    assert survey.sources[0]["encoding"] == expected
    assert set(survey.data["city"]) == {"450100", "451100"}


def test_gbk_and_utf8_give_the_same_data(tmp_path, codebook, export):
    a = load(write_csv(export, tmp_path / "u.csv", "utf-8"), codebook).data.drop(columns="source_file")
    b = load(write_csv(export, tmp_path / "g.csv", "gbk"), codebook).data.drop(columns="source_file")
    pd.testing.assert_frame_equal(a, b)


def test_reads_xlsx(tmp_path, codebook, export):
    path = tmp_path / "a.xlsx"
    path.write_bytes(xlsx_bytes({"问卷数据": export}))
    survey = load(path, codebook)
    assert survey.rows_kept == len(export) and survey.sources[0]["format"] == "xlsx"
    ref = load(write_csv(export, tmp_path / "a.csv"), codebook)
    pd.testing.assert_frame_equal(survey.data.drop(columns="source_file"), ref.data.drop(columns="source_file"))


def test_reads_spss_sav_with_labels(tmp_path, codebook, demo_2024):
    pyreadstat = pytest.importorskip("pyreadstat")
    rows = demo_2024.head(30).copy()
    # SPSS variable names are short codes; the Chinese header is the variable label.
    df = pd.DataFrame({f"V{i}": rows[c] for i, c in enumerate(rows.columns)})
    df["V0"] = df["V0"].astype(str)
    df["V1"] = df["V1"].astype(str)
    labels = []
    for c in rows.columns:
        labels.append(header_of(codebook, c))
    path = tmp_path / "a.sav"
    pyreadstat.write_sav(df, str(path), column_labels=labels)
    survey = load(path, codebook)
    assert survey.rows_kept == 30 and survey.sources[0]["format"] == "sav"
    np.testing.assert_array_equal(survey.data["sex"].to_numpy(dtype=float), rows["sex"].to_numpy(dtype=float))


def test_full_width_digits_and_category_labels(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "S1a")] = "４"        # full-width digit
    export.loc[1, header_of(codebook, "sex")] = "女"         # label instead of code
    survey = load(write_csv(export, tmp_path / "a.csv"), codebook)
    assert survey.data.loc[0, "S1a"] == 4.0
    assert survey.data.loc[1, "sex"] == 2


# ---- recoding ----------------------------------------------------------------------------------


def test_missing_codes_reverse_items_and_dont_know(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "S1a")] = "9"     # don't know
    export.loc[1, header_of(codebook, "S1a")] = "99"    # refused
    export.loc[2, header_of(codebook, "S1a")] = ""      # not answered
    export.loc[3, header_of(codebook, "E1b")] = "1"     # never met price fraud → best
    export.loc[4, header_of(codebook, "R3a")] = "98"    # 10-point item: don't know
    survey = load(write_csv(export, tmp_path / "a.csv"), codebook)
    d, dk = survey.data, survey.dont_know
    assert np.isnan(d.loc[0, "S1a"]) and dk.loc[0, "S1a"]
    assert np.isnan(d.loc[1, "S1a"]) and not dk.loc[1, "S1a"]
    assert np.isnan(d.loc[2, "S1a"]) and not dk.loc[2, "S1a"]
    assert d.loc[3, "E1b"] == 5.0
    assert np.isnan(d.loc[4, "R3a"]) and dk.loc[4, "R3a"]
    assert d[codebook.item_codes].dtypes.eq(float).all()


# ---- every rule, with a file that triggers it ------------------------------------------------------


def test_empty_file(tmp_path, codebook):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "empty_file")
    assert p.file.endswith("empty.csv") and "empty" in p.message


def test_header_only_file(tmp_path, codebook, export):
    path = write_csv(export.head(0), tmp_path / "header_only.csv")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    assert "no answer rows" in only_problem(info, "empty_file")[0].message


def test_wrong_encoding(tmp_path, codebook, export):
    blob = export.to_csv(index=False).encode("utf-8").replace("南宁".encode("utf-8"), b"\xff\xfe\xfd", 1)
    path = tmp_path / "latin.csv"
    p, problems = encoding_problem(path, blob, codebook)
    assert "0xFF" in p.message and p.row == 2


def test_unsupported_format(tmp_path, codebook):
    path = tmp_path / "a.json"
    path.write_text("{}")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    only_problem(info, "unsupported_format")


def test_unreadable_xlsx(tmp_path, codebook):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 definitely not a workbook")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    only_problem(info, "unreadable")


def test_missing_required_column(tmp_path, codebook, export):
    path = write_csv(export.drop(columns=[header_of(codebook, "S2b")]), tmp_path / "a.csv")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "missing_column")
    assert p.column == "S2b" and "服务质量" in p.message and "Q04 服务质量" in p.message


def test_unknown_header(tmp_path, codebook, export):
    export["Q99 额外问题"] = "3"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    (p,) = only_problem(info, "unknown_header")
    assert p.column == "Q99 额外问题"


def test_duplicate_column(tmp_path, codebook, export):
    export["S1a"] = export[header_of(codebook, "S1a")]  # the same item under its short header
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    (p,) = only_problem(info, "duplicate_column")
    assert p.column == "S1a"


@pytest.mark.parametrize("header,values", [
    ("受访者姓名", ["张三", "李四"]),
    ("手机号码", ["13812345678", "13987654321"]),
    ("身份证号", ["450102199001011234", "45010219900101123X"]),
    ("备注", ["13812345678", "15912345678"]),          # no telling header: caught by its values
])
def test_personal_data_columns(tmp_path, codebook, export, header, values):
    export[header] = (values * len(export))[: len(export)]
    path = write_csv(export, tmp_path / "a.csv")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "personal_data")
    assert p.column == header
    # lenient: the rows are kept, the column never is
    survey = load(path, codebook, strict=False)
    assert survey.rows_kept == len(export)
    assert header not in survey.data.columns and header not in survey.rejects.columns
    assert not survey.data.astype(str).isin(values).any().any()


def test_out_of_range_answer(tmp_path, codebook, export):
    export.loc[5, header_of(codebook, "S3a")] = "7"
    export.loc[6, header_of(codebook, "S5a")] = "3.5"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    problems = only_problem(info, "out_of_range")
    assert {(p.row, p.column, p.value) for p in problems} == {(7, "Q05 商业网点布局", "7"), (8, "Q09 价格合理程度", "3.5")}
    assert "whole number from 1 to 5" in problems[0].message


def test_non_numeric_answer(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "E3a")] = "满意"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    (p,) = only_problem(info, "non_numeric")
    assert (p.row, p.column, p.value) == (2, "Q15 食品安全", "满意")


def test_unknown_city(tmp_path, codebook, export):
    export.loc[3, header_of(codebook, "city")] = "广州"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    (p,) = only_problem(info, "unknown_city")
    assert (p.row, p.column, p.value) == (5, "城市", "广州")


def test_city_spellings(tmp_path, codebook, export):
    col = header_of(codebook, "city")
    export.loc[0, col], export.loc[1, col], export.loc[2, col] = "南宁市", "450100", "Nanning"
    survey = load(write_csv(export, tmp_path / "a.csv"), codebook)
    assert (survey.data.loc[:2, "city"] == "450100").all()


def test_unknown_category(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "age_group")] = "8"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    (p,) = only_problem(info, "unknown_category")
    assert p.column == "年龄段" and p.value == "8" and "5=60岁及以上" in p.message


def test_missing_required_value(tmp_path, codebook, export):
    export.loc[2, header_of(codebook, "respondent_id")] = ""
    export.loc[3, header_of(codebook, "sex")] = ""
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    assert {(p.row, p.column) for p in only_problem(info, "missing_value")} == {(4, "问卷编号"), (5, "性别")}


def test_wrong_year_and_bad_date(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "year")] = "2023"
    export.loc[1, header_of(codebook, "interview_date")] = "下周三"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook, year=2024)
    assert only_problem(info, "wrong_year")[0].row == 2
    assert only_problem(info, "bad_date")[0].value == "下周三"


def test_duplicate_id_within_and_across_files(tmp_path, codebook, export):
    id_col = header_of(codebook, "respondent_id")
    export.loc[1, id_col] = export.loc[0, id_col]
    a = write_csv(export.iloc[:20], tmp_path / "raw" / "a.csv")
    b = write_csv(export.iloc[[0] + list(range(20, 40))], tmp_path / "raw" / "b.csv")  # row 0 again
    with pytest.raises(sat.ValidationError) as info:
        load([a, b], codebook)
    problems = only_problem(info, "duplicate_id")
    assert len(problems) == 2
    assert {p.file.split("/")[-1] for p in problems} == {"a.csv", "b.csv"}
    assert all("already used at" in p.message and "a.csv, row 2" in p.message for p in problems)
    survey = load([a, b], codebook, strict=False)
    assert survey.rows_in == 41 and survey.rows_kept == 39 and survey.rows_rejected == 2
    assert survey.data["respondent_id"].is_unique


def test_strict_lists_every_problem(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "S1a")] = "6"
    export.loc[1, header_of(codebook, "city")] = "北京"
    export.loc[2, header_of(codebook, "S2a")] = "x"
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(export, tmp_path / "a.csv"), codebook)
    assert {p.rule for p in info.value.problems} == {"out_of_range", "unknown_city", "non_numeric"}
    text = str(info.value)
    assert "3 problem(s)" in text and "a.csv, row 3, column '城市': [unknown_city]" in text and "(value '北京')" in text


def test_lenient_keeps_good_rows_and_rejects_bad_ones_with_reasons(tmp_path, codebook, export):
    export.loc[0, header_of(codebook, "S1a")] = "6"
    export.loc[0, header_of(codebook, "S1b")] = "0"
    export.loc[7, header_of(codebook, "city")] = "北京"
    survey = load(write_csv(export, tmp_path / "a.csv"), codebook, strict=False)
    assert (survey.rows_in, survey.rows_kept, survey.rows_rejected) == (40, 38, 2)
    rej = survey.rejects.set_index("source_row")
    assert "[out_of_range]" in rej.loc[2, "reasons"] and "Q02 商品质量" in rej.loc[2, "reasons"]
    assert rej.loc[2, "Q01 商品种类丰富程度"] == "6"       # the raw row is kept as it was
    assert "[unknown_city]" in rej.loc[9, "reasons"]


def test_lenient_file_level_problem_rejects_whole_file(tmp_path, codebook, export):
    good = write_csv(export, tmp_path / "raw" / "good.csv")
    bad = write_csv(export.drop(columns=[header_of(codebook, "R5a")]).assign(**{header_of(codebook, "respondent_id"): lambda d: d[header_of(codebook, "respondent_id")] + "b"}),
                    tmp_path / "raw" / "bad.csv")
    survey = load([good, bad], codebook, strict=False)
    assert (survey.rows_in, survey.rows_kept, survey.rows_rejected) == (80, 40, 40)
    assert survey.rejects["reasons"].str.contains("missing_column").all()


corruptions = st.lists(
    st.tuples(st.integers(0, 39), st.sampled_from(["S1a", "E1b", "R3a", "city", "sex", "respondent_id"]),
              st.sampled_from(["", "0", "6", "11", "99", "abc", "广州", "2", "9", "450100"])),
    max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruptions)
def test_rows_in_equals_kept_plus_rejected(tmp_path_factory, codebook, export, edits):
    df = export.copy()
    for row, code, value in edits:
        df.loc[row, header_of(codebook, code)] = value
    path = write_csv(df, tmp_path_factory.mktemp("h") / "a.csv")
    survey = load(path, codebook, strict=False)
    assert survey.rows_in == survey.rows_kept + survey.rows_rejected == len(df)
    assert sum(s["rows_kept"] for s in survey.sources) == survey.rows_kept
    # every kept answer is on its scale or missing
    for code in codebook.item_codes:
        scale = codebook.items[code].scale
        values = survey.data[code].dropna()
        assert values.between(scale.min, scale.max).all()
    if survey.rows_rejected == 0:
        assert not [p for p in survey.problems if p.row is not None]


# ---- writing: manifest, atomicity, command line ----------------------------------------------------


def make_raw_year(tmp_path, export, year=2024):
    raw = tmp_path / "raw"
    write_csv(export, raw / str(year) / "a.csv")
    return raw


def test_ingest_writes_parquet_and_manifest(tmp_path, codebook, export):
    raw = make_raw_year(tmp_path, export)
    survey, out = sio.ingest(2024, raw_root=raw, out_root=tmp_path / "processed", codebook=codebook)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == {"in": 40, "kept": 40, "rejected": 0, "unreadable": 0}
    assert manifest["codebook"]["sha256"] == codebook.sha256
    assert manifest["inputs"][0]["file"] == "2024/a.csv"
    import hashlib
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256((raw / "2024" / "a.csv").read_bytes()).hexdigest()
    assert manifest["package_version"] == sat.__version__
    back = sio.read_processed(out, codebook)
    pd.testing.assert_frame_equal(back.data, survey.data)
    assert not list(tmp_path.joinpath("processed").glob(".*tmp*"))


def test_same_inputs_same_bytes(tmp_path, codebook, export):
    raw = make_raw_year(tmp_path, export)
    _, a = sio.ingest(2024, raw_root=raw, out_root=tmp_path / "p1", codebook=codebook)
    _, b = sio.ingest(2024, raw_root=raw, out_root=tmp_path / "p2", codebook=codebook)
    for name in ("respondents.parquet", "dont_know.parquet", "manifest.json", "rejects.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_failed_ingest_leaves_previous_output_untouched(tmp_path, codebook, export):
    raw = make_raw_year(tmp_path, export)
    _, out = sio.ingest(2024, raw_root=raw, out_root=tmp_path / "processed", codebook=codebook)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = export.copy()
    bad.loc[0, header_of(codebook, "S1a")] = "42"
    write_csv(bad, raw / "2024" / "a.csv")
    with pytest.raises(sat.ValidationError):
        sio.ingest(2024, raw_root=raw, out_root=tmp_path / "processed", codebook=codebook)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_crash_while_writing_leaves_previous_output_untouched(tmp_path, codebook, export, monkeypatch):
    raw = make_raw_year(tmp_path, export)
    _, out = sio.ingest(2024, raw_root=raw, out_root=tmp_path / "processed", codebook=codebook)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = Path.write_bytes

    def flaky(self, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        sio.ingest(2024, raw_root=raw, out_root=tmp_path / "processed", codebook=codebook)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # nothing beside the year but the staging area, which keeps only the folder's lock file
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == [".staging", "2024"]
    assert [p.name for p in (tmp_path / "processed" / ".staging").iterdir()] == ["2024.lock"]


def test_atomic_write_bytes_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "t.txt"
    sio.atomic_write_bytes(target, b"old")

    def boom(*a, **k):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        sio.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_cli_ingest_bad_input_exit_code_and_message(tmp_path, codebook, export, capsys):
    raw = make_raw_year(tmp_path, export)
    bad = export.copy()
    bad.loc[4, header_of(codebook, "R1a")] = "8"
    write_csv(bad, raw / "2024" / "a.csv")
    code = cli_main(["ingest", "--year", "2024", "--raw-dir", str(raw), "--out-dir", str(tmp_path / "p"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert "2024/a.csv, row 6, column 'Q19 投诉渠道畅通': [out_of_range]" in err and "(value '8')" in err
    assert not (tmp_path / "p" / "2024").exists()


def test_cli_ingest_lenient_writes_rejects(tmp_path, codebook, export, capsys):
    raw = make_raw_year(tmp_path, export)
    bad = export.copy()
    bad.loc[4, header_of(codebook, "R1a")] = "8"
    write_csv(bad, raw / "2024" / "a.csv")
    code = cli_main(["ingest", "--year", "2024", "--raw-dir", str(raw), "--out-dir", str(tmp_path / "p"), "--quiet", "--lenient"])
    assert code == 0
    assert "40 rows in, 39 kept, 1 rejected" in capsys.readouterr().out
    rejects = pd.read_csv(tmp_path / "p" / "2024" / "rejects.csv", encoding="utf-8-sig", dtype=str)
    assert rejects["source_row"].tolist() == ["6"] and "out_of_range" in rejects.loc[0, "reasons"]


def test_cli_help_teaches(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["ingest", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--lenient" in out and "rows in = rows kept + rows rejected" in out


def test_a_bom_file_with_gbk_bytes_names_the_file_line_and_offset(tmp_path, codebook, export):
    """A UTF-8 BOM followed by a row saved in GBK: an encoding problem naming the line and byte
    offset, not a bare codec error (and lenient mode reports it the same way)."""
    text = export.to_csv(index=False)
    head, second, rest = text.split("\n", 2)
    blob = codecs_bom() + (head + "\n").encode("utf-8") + (second + "\n").encode("gbk") + rest.encode("utf-8")
    path = tmp_path / "mixed.csv"
    p, problems = encoding_problem(path, blob, codebook)
    assert p.file.endswith("mixed.csv") and p.row == 2 and "byte-order mark" in p.message and "offset" in p.message
    lenient = load(path, codebook, strict=False, allow_unreadable=True)
    assert any(q.rule == "encoding" for q in lenient.problems)


def codecs_bom() -> bytes:
    import codecs

    return codecs.BOM_UTF8


@pytest.mark.parametrize("value, rule", [("inf", "not_finite"), ("1e308", "out_of_range"), ("90000", "out_of_range")])
def test_implausible_durations_are_named(tmp_path, codebook, export, value, rule):
    bad = export.copy()
    bad.loc[3, header_of(codebook, "duration_sec")] = value
    with pytest.raises(sat.ValidationError) as info:
        load(write_csv(bad, tmp_path / "d.csv"), codebook)
    (p,) = only_problem(info, rule)
    assert p.row == 5 and p.value == value and p.column == header_of(codebook, "duration_sec")


def test_a_short_row_under_an_unknown_column_is_a_problem_not_a_crash(tmp_path, codebook, export):
    lines = export.assign(备注="好").to_csv(index=False).splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]          # row 4 ends before the unknown last column
    path = tmp_path / "short.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    assert only_problem(info, "unknown_header")[0].column == "备注"
    lenient = load(path, codebook, strict=False)
    assert len(lenient.data) + len(lenient.rejects) == len(export)


def test_personal_data_in_known_columns_never_passes(tmp_path, codebook, export):
    """A mobile number as interviewer, an ID-card number as respondent id, a phone typed into an
    answer: named problems whose values are masked, rows rejected, and nothing personal in what is
    kept or in the rejects."""
    bad = export.copy()
    bad.loc[1, header_of(codebook, "interviewer")] = "13812345678"
    bad.loc[2, header_of(codebook, "respondent_id")] = "11010519491231002X"
    bad.loc[3, header_of(codebook, "S1a")] = "13912345678"
    path = write_csv(bad, tmp_path / "pii.csv")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    personal = only_problem(info, "personal_data")
    assert {p.row for p in personal} == {3, 4}
    assert {p.value for p in personal} == {"138****5678", "110105********002X"}
    text = str(info.value)
    assert "13812345678" not in text and "11010519491231002X" not in text and "13912345678" not in text
    lenient = load(path, codebook, strict=False)
    everything = lenient.data.astype(str).to_csv() + lenient.rejects.astype(str).to_csv()
    everything += "\n".join(str(p) for p in lenient.problems)
    for secret in ("13812345678", "11010519491231002X", "13912345678"):
        assert secret not in everything
    assert "139****5678" in lenient.rejects.astype(str).to_csv()
    assert len(lenient.data) + len(lenient.rejects) == len(export)


def test_one_stray_comma_rejects_one_row_not_the_file(tmp_path, codebook, export):
    lines = export.to_csv(index=False).splitlines()
    lines[5] = lines[5] + ",oops"                  # row 6 has one field too many
    path = tmp_path / "comma.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "malformed_row")
    assert p.row == 6 and p.value == "oops" and p.file.endswith("comma.csv")
    lenient = load(path, codebook, strict=False)
    assert len(lenient.data) == len(export) - 1 and len(lenient.rejects) == 1
    assert lenient.rows_in == lenient.rows_kept + lenient.rows_rejected == len(export)


def test_answers_continued_on_a_second_sheet_are_read_and_a_notes_sheet_is_skipped(tmp_path, codebook, export):
    notes = pd.DataFrame({"说明": ["本表为2024年调查数据", "第二页为续表"]})
    path = tmp_path / "two.xlsx"
    path.write_bytes(xlsx_bytes({"填表说明": notes, "数据1": export.iloc[:25], "数据2": export.iloc[25:]}))
    survey = load(path, codebook)
    assert survey.rows_kept == len(export)
    files = [s["file"] for s in survey.sources]
    assert files == [f"{path}[数据1]", f"{path}[数据2]"]
    assert survey.sources[0]["sheets_skipped"] == [{"sheet": "填表说明", "rule": "notes_sheet", "reason":
                                                    survey.sources[0]["sheets_skipped"][0]["reason"]}]
    assert survey.rows_in == survey.rows_kept + survey.rows_rejected == len(export)


def test_a_second_sheet_with_another_header_is_not_skipped_silently(tmp_path, codebook, export):
    other = export.iloc[25:].drop(columns=export.columns[-1])
    path = tmp_path / "mixed.xlsx"
    path.write_bytes(xlsx_bytes({"数据1": export.iloc[:25], "数据2": other}))
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "sheet_headers_differ")
    assert p.file.endswith("mixed.xlsx[数据2]")


def test_a_formula_without_a_computed_value_is_named(tmp_path, codebook, export):
    from openpyxl import load_workbook

    path = tmp_path / "formula.xlsx"
    path.write_bytes(xlsx_bytes({"问卷数据": export}))
    wb = load_workbook(path)
    wb.active["Z3"] = "=1+1"                     # as a script saves it: the formula, no cached value
    wb.save(path)
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    (p,) = only_problem(info, "formula_without_value")
    assert "Z3" in p.message and p.value == "=1+1" and p.file.endswith("formula.xlsx[问卷数据]")


def test_an_unreadable_file_stops_a_lenient_run_unless_allowed_and_is_counted(tmp_path, codebook, export):
    raw = tmp_path / "raw"
    write_csv(export, raw / "2024" / "good.csv")
    broken = raw / "2024" / "broken.csv"
    broken.write_bytes(codecs_bom() + (export.to_csv(index=False)).encode("utf-8")[:200] + b"\xff\xfe" +
                       export.to_csv(index=False).encode("utf-8")[200:])    # a BOM file its bytes break
    (raw / "2024" / "truncated.xlsx").write_bytes(xlsx_bytes({"s": export})[:500])
    with pytest.raises(sat.ValidationError) as info:
        load(raw / "2024", codebook, strict=False)
    assert {p.file.rsplit("/", 1)[-1] for p in info.value.problems if p.rule in ("encoding", "unreadable")} >= {
        "broken.csv", "truncated.xlsx"}
    survey = load(raw / "2024", codebook, strict=False, allow_unreadable=True)
    by_file = {s["file"].rsplit("/", 1)[-1]: s for s in survey.sources}
    assert by_file["broken.csv"]["unreadable"] and by_file["broken.csv"]["rows_unreadable"] == len(export)
    assert by_file["truncated.xlsx"]["rows_unreadable"] is None
    assert by_file["truncated.xlsx"]["note"] == "rows cannot be counted"
    assert survey.rows_in == survey.rows_kept + survey.rows_rejected + survey.rows_unreadable == 2 * len(export)
    # the command line: exit 2 and nothing written, unless --allow-unreadable
    out = tmp_path / "processed"
    args = ["ingest", "--year", "2024", "--raw-dir", str(raw), "--out-dir", str(out), "--codebook",
            str(codebook.path), "--lenient", "--quiet"]
    assert cli_main(args) == 3 and not (out / "2024").exists()
    assert cli_main(args + ["--allow-unreadable"]) == 0
    manifest = json.loads((out / "2024" / "manifest.json").read_text(encoding="utf-8"))
    assert any(s.get("unreadable") for s in manifest["inputs"])


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_title_row_above_the_header_is_skipped_and_recorded(tmp_path, codebook, export, kind):
    if kind == "csv":
        path = tmp_path / "titled.csv"
        path.write_text("2024年广西消费者满意度调查 数据导出\n" + export.to_csv(index=False), encoding="utf-8")
    else:
        path = tmp_path / "titled.xlsx"
        titled = pd.concat([pd.DataFrame([export.columns.tolist()], columns=export.columns), export])
        titled.columns = ["2024年广西消费者满意度调查"] + [""] * (len(export.columns) - 1)
        path.write_bytes(xlsx_bytes({"数据": titled}))
    survey = load(path, codebook)
    assert survey.rows_kept == len(export) and survey.sources[0]["title_rows"] == 1
    bad = export.copy()
    bad.loc[0, header_of(codebook, "S1a")] = "6"
    path.write_text("标题\n" + bad.to_csv(index=False), encoding="utf-8") if kind == "csv" else None
    if kind == "csv":
        with pytest.raises(sat.ValidationError) as info:
            load(path, codebook)
        assert only_problem(info, "out_of_range")[0].row == 3   # title row 1, header row 2, first answer row 3


def test_notes_beside_the_exports_are_listed_not_read(tmp_path, codebook, export):
    raw = tmp_path / "raw"
    write_csv(export, raw / "2024" / "a.csv")
    (raw / "2024" / "README.txt").write_text("说明：本文件夹为2024年调查导出。\n请勿修改。\n", encoding="utf-8")
    (raw / "2024" / "问卷.pdf").write_bytes(b"%PDF-1.4")
    survey = load(raw / "2024", codebook)
    assert survey.rows_kept == len(export)
    assert {(i["file"].rsplit("/", 1)[-1], i["rule"]) for i in survey.ignored} == {
        ("README.txt", "not_an_export"), ("问卷.pdf", "not_an_export_type")}
    out = tmp_path / "processed"
    assert cli_main(["ingest", "--year", "2024", "--raw-dir", str(raw), "--out-dir", str(out), "--codebook",
                     str(codebook.path), "--quiet"]) == 0
    manifest = json.loads((out / "2024" / "manifest.json").read_text(encoding="utf-8"))
    assert {i["rule"] for i in manifest["ignored"]} == {"not_an_export", "not_an_export_type"}
    # a tab-separated .txt export is still an export
    tsv = raw / "2024" / "b.txt"
    tsv.write_text(export.assign(**{header_of(codebook, "respondent_id"): lambda d: d[header_of(codebook, "respondent_id")] + "t"})
                   .to_csv(index=False, sep="\t"), encoding="utf-8")
    assert load(raw / "2024", codebook).rows_kept == 2 * len(export)


def test_big5_is_reported_as_an_encoding_problem(tmp_path, codebook):
    text = "問卷編號,城市,調查年份,性別,滿意程度\n" + "".join(f"{i},南寧,2024,男,4\n" for i in range(5))
    path = tmp_path / "tw.csv"
    p, problems = encoding_problem(path, text.encode("big5"), codebook)
    assert "Big5" in p.message and len(problems) == 1    # not dozens of "unknown headers"


def test_a_few_gbk_lines_in_a_utf8_file_are_named(tmp_path, codebook, export):
    lines = export.to_csv(index=False).splitlines(keepends=True)
    blob = b"".join(line.encode("gbk" if i in (4, 7) else "utf-8") for i, line in enumerate(lines))
    path = tmp_path / "mixed.csv"
    p, problems = encoding_problem(path, blob, codebook)
    assert "line(s) 5, 8" in p.message and p.row == 5


def test_renamed_files_are_named_for_what_they_are(tmp_path, codebook, export):
    xlsx_as_csv = tmp_path / "a.csv"
    xlsx_as_csv.write_bytes(xlsx_bytes({"s": export}))
    csv_as_xlsx = tmp_path / "b.xlsx"
    csv_as_xlsx.write_text(export.to_csv(index=False), encoding="utf-8")
    for path, says in ((xlsx_as_csv, "rename it .xlsx"), (csv_as_xlsx, "not a workbook")):
        with pytest.raises(sat.ValidationError) as info:
            load(path, codebook)
        assert says in only_problem(info, "unsupported_format")[0].message
    survey = load([xlsx_as_csv, csv_as_xlsx], codebook, strict=False, allow_unreadable=True)
    assert [s["rows_unreadable"] for s in survey.sources] == [len(export), len(export)]   # the workbook counted as one


# ---- personal data: ID numbers by check digit, names by the codebook's rule ----------------------


def _id_number(area: str, born: str, seq: str) -> str:
    """An 18-character ID number with its GB 11643-1999 check character, computed here from the
    standard's definition (weights 2^(17-i) mod 11, check "10X98765432")."""
    body = area + born + seq
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return body + "10X98765432"[total % 11]


def test_id_card_check_digit_follows_the_standard():
    from satisfaction.ingest.privacy import id_card_valid

    assert id_card_valid("11010519491231002X")          # the example printed in GB 11643-1999
    assert _id_number("110105", "19491231", "002") == "11010519491231002X"
    assert id_card_valid("11010519491231002x")
    assert not id_card_valid("110105194912310021")      # wrong check character
    assert not id_card_valid("11010519491332002X")      # no 32nd of 13th month
    assert not id_card_valid("123456789012345678")      # an 18-digit survey code


@settings(max_examples=200, deadline=None)
@given(area=st.integers(110000, 659999), born=st.dates(dt.date(1920, 1, 1), dt.date(2010, 12, 31)),
       seq=st.integers(0, 999), wrong=st.sampled_from("0123456789X"))
def test_id_numbers_are_recognised_by_their_check_character(codebook, area, born, seq, wrong):
    from satisfaction.ingest.privacy import id_card_valid, mask_personal

    number = _id_number(str(area), born.strftime("%Y%m%d"), f"{seq:03d}")
    assert id_card_valid(number)
    masked = mask_personal(f"身份证 {number}", codebook)
    assert number not in masked and masked == f"身份证 {number[:6]}{'*' * 8}{number[-4:]}"
    if wrong != number[-1]:
        assert not id_card_valid(number[:-1] + wrong)
        assert mask_personal(number[:-1] + wrong, codebook) == number[:-1] + wrong


def test_eighteen_digit_respondent_codes_are_not_taken_for_id_numbers(tmp_path, codebook, export):
    codes = export.copy()
    rid = header_of(codebook, "respondent_id")
    codes[rid] = [f"2024450100{i:08d}" for i in range(len(codes))]
    codes[rid] = [c if not sat.ingest.privacy.id_card_valid(c) else c[:-1] + "A" for c in codes[rid]]
    survey = load(write_csv(codes, tmp_path / "codes.csv"), codebook)
    assert survey.rows_kept == len(codes) and list(survey.data["respondent_id"]) == list(codes[rid])


def test_names_are_personal_data_by_the_codebooks_rule(tmp_path, codebook, export):
    """An interviewer's name in the interviewer column and a name typed into an answer: rows
    rejected, values masked to the surname (张*), nothing written in data/processed/; a column of
    names under an unknown header is left out whole. Cities and categories that begin with a
    surname (贺州, 高中/中专) are not names."""
    bad = export.copy()
    bad.loc[0, header_of(codebook, "interviewer")] = "张伟"
    bad.loc[1, header_of(codebook, "interviewer")] = "欧阳娜娜"
    bad.loc[2, header_of(codebook, "S1a")] = "李先生"
    bad["联络员"] = ["王芳", "陈静", "刘洋", ""] * (len(bad) // 4)
    path = write_csv(bad, tmp_path / "names.csv")
    with pytest.raises(sat.ValidationError) as info:
        load(path, codebook)
    personal = only_problem(info, "personal_data")
    assert {p.value for p in personal if p.row} == {"张*", "欧阳**"}
    assert any(p.column == "联络员" and p.row is None for p in personal)
    assert only_problem(info, "non_numeric")[0].value == "李**"
    lenient = load(path, codebook, strict=False)
    assert lenient.rows_kept + lenient.rows_rejected == len(bad) and lenient.rows_rejected == 3
    out = sat.ingest.write_processed(lenient, tmp_path / "processed", year=2024)
    written = b"".join(f.read_bytes() for f in out.iterdir())
    written += b"".join(pd.read_parquet(f).astype(str).to_csv().encode() for f in out.glob("*.parquet"))
    for secret in ("张伟", "欧阳娜娜", "李先生", "王芳", "陈静", "刘洋"):
        assert secret.encode() not in written, secret
    assert "张*".encode() in written
    kept_cities = set(lenient.data["city"])
    assert kept_cities == {"450100", "451100"}


def test_city_and_category_labels_are_never_taken_for_names(codebook):
    from satisfaction.ingest.privacy import looks_personal_value, mask_personal

    labels = [c.zh for c in codebook.cities.values()]
    labels += [lab["zh"] for d in codebook.demographics.values() for lab in d.categories.values()]
    labels += [c + "市" for c in labels[:len(codebook.cities)]]
    assert not looks_personal_value(pd.Series(labels), codebook).any()
    assert [mask_personal(v, codebook) for v in labels] == labels


def test_a_names_section_without_surnames_is_refused(tmp_path):
    import yaml

    from conftest import CODEBOOK

    raw = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    raw["personal_data"]["names"] = {"titles": ["先生"]}
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(sat.CodebookError, match="personal_data.names"):
        sat.load_codebook(path)


# ---- the lenient invariant on a corpus of broken exports ------------------------------------------


def _corpus(codebook, export) -> dict:
    """Broken exports as agencies deliver them, each ``name → (files {name: bytes}, answer rows)``:
    every case of the bad-input report, generated from the 40-row export."""
    from openpyxl import Workbook

    n = len(export)
    text = export.to_csv(index=False)
    lines = text.splitlines(keepends=True)

    def workbook(sheets, formula_at=None):
        wb = Workbook()
        wb.remove(wb.active)
        for title, frame in sheets.items():
            ws = wb.create_sheet(title)
            ws.append(list(frame.columns))
            for row in frame.itertuples(index=False):
                ws.append(list(row))
        if formula_at:
            wb[list(sheets)[0]][formula_at] = "=1+1"    # saved by a program: no cached value
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    def with_cell(code, row, value):
        bad = export.copy()
        bad.loc[row, header_of(codebook, code)] = value
        return bad.to_csv(index=False).encode()

    notes = pd.DataFrame({"说明": ["本表为调查数据", "请勿修改"]})
    stray = lines[:5] + [lines[5].rstrip("\r\n") + ",extra\n"] + lines[6:]
    short = export.assign(备注="x").to_csv(index=False).splitlines(keepends=True)
    short[3] = ",".join(short[3].split(",")[:5]) + "\n"
    full_xlsx = workbook({"数据": export})
    return {
        "answers on two sheets": ({"a.xlsx": workbook({"一": export.iloc[:25], "二": export.iloc[25:]})}, n),
        "notes sheet first": ({"a.xlsx": workbook({"填表说明": notes, "数据": export})}, n),
        "formula without value": ({"a.xlsx": workbook({"数据": export}, formula_at="AA3")}, n),
        "one extra comma": ({"a.csv": "".join(stray).encode()}, n),
        "UTF-16 without BOM": ({"a.csv": text.encode("utf-16-le")}, n),
        "title row above the header": ({"a.csv": ("2024年消费者满意度调查数据\n" + text).encode()}, n),
        "truncated workbook": ({"a.xlsx": full_xlsx[: len(full_xlsx) // 2]}, n),
        "workbook named .csv": ({"a.csv": full_xlsx}, n),
        "text named .xlsx": ({"a.xlsx": text.encode()}, n),
        "README beside the exports": ({"a.csv": text.encode(), "README.txt": "说明：数据由调查公司提供\n".encode()}, n),
        "unknown column and a short row": ({"a.csv": "".join(short).encode()}, n),
        "BOM then GBK bytes": ({"a.csv": codecs.BOM_UTF8 + text.encode("gbk")}, n),
        "one GBK row in UTF-8": ({"a.csv": b"".join(ln.encode("gbk" if i == 4 else "utf-8") for i, ln in enumerate(lines))}, n),
        "Big5": ({"a.csv": ("問卷編號,城市,調查年份,性別,滿意程度\n"
                            + "".join(f"{i},南寧,2024,男,4\n" for i in range(5))).encode("big5")}, 5),
        "GBK notes beside the exports": ({"a.csv": text.encode(), "说明.txt": "调查说明\n样本由调查公司提供\n".encode("gbk")}, n),
        "duration inf": ({"a.csv": with_cell("duration_sec", 2, "inf")}, n),
        "duration 1e308": ({"a.csv": with_cell("duration_sec", 2, "1e308")}, n),
        "mobile as interviewer": ({"a.csv": with_cell("interviewer", 1, "13812345678")}, n),
        "ID number as respondent id": ({"a.csv": with_cell("respondent_id", 1, "11010519491231002X")}, n),
        "name as interviewer": ({"a.csv": with_cell("interviewer", 1, "张伟")}, n),
        "phone typed into an answer": ({"a.csv": with_cell("S1a", 3, "13912345678")}, n),
        "empty file": ({"a.csv": b""}, 0),
    }


#: case → the rule strict mode stops at (None: the file is read whole and correctly).
CORPUS_CASES = {
    "answers on two sheets": None, "notes sheet first": None, "formula without value": "formula_without_value",
    "one extra comma": "malformed_row", "UTF-16 without BOM": None, "title row above the header": None,
    "truncated workbook": "unreadable", "workbook named .csv": "unsupported_format",
    "text named .xlsx": "unsupported_format", "README beside the exports": None,
    "unknown column and a short row": "unknown_header", "BOM then GBK bytes": "encoding",
    "one GBK row in UTF-8": "encoding", "Big5": "encoding", "GBK notes beside the exports": None,
    "duration inf": "not_finite", "duration 1e308": "out_of_range", "mobile as interviewer": "personal_data",
    "ID number as respondent id": "personal_data", "name as interviewer": "personal_data",
    "phone typed into an answer": "out_of_range", "empty file": "empty_file",
}


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_lenient_mode_accounts_for_every_row(tmp_path, codebook, export, case):
    """Rows in the files = rows kept + rows rejected + rows of unreadable files, on every broken
    export; a file whose rows cannot be counted says so; nothing personal is kept; strict mode
    raises rather than passing anything silently."""
    files, rows = _corpus(codebook, export)[case]
    folder = tmp_path / "2024"
    folder.mkdir()
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    expected = CORPUS_CASES[case]
    if expected is None:
        strict = sat.load_survey(folder, codebook, year=2024)
        assert strict.rows_kept == rows and strict.rows_rejected == 0
    else:
        with pytest.raises(sat.ValidationError) as info:
            sat.load_survey(folder, codebook, year=2024)
        assert only_problem(info, expected)
    survey = sat.load_survey(folder, codebook, year=2024, strict=False, allow_unreadable=True)
    assert survey.rows_in == survey.rows_kept + survey.rows_rejected + survey.rows_unreadable
    uncountable = [s for s in survey.sources if s.get("unreadable") and s.get("rows_unreadable") is None]
    if case == "truncated workbook":     # a broken zip: its rows cannot be counted, and it says so
        assert [s["note"] for s in uncountable] == ["rows cannot be counted"]
    else:
        assert survey.rows_in == rows and not uncountable, survey.sources
    kept = survey.data.astype(str).to_csv() + survey.rejects.astype(str).to_csv()
    kept += "\n".join(str(p) for p in survey.problems)
    for secret in ("13812345678", "11010519491231002X", "张伟", "13912345678"):
        assert secret not in kept


def test_plain_workbook_reads_back_when_openpyxl_uses_lxml():
    """With lxml's serialiser (openpyxl's default when lxml is installed and nothing says otherwise) the
    pinned document properties stay valid XML: the workbook reads back."""
    import subprocess
    import sys

    code = ("import io, os, pandas as pd, openpyxl.xml as x; assert x.LXML; "
            "from satisfaction.ingest.storage import xlsx_bytes; import openpyxl; "
            "openpyxl.load_workbook(io.BytesIO(xlsx_bytes({'a': pd.DataFrame({'x': [1, 2]})})))")
    env = {**os.environ, "OPENPYXL_LXML": "True"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
