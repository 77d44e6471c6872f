"""The annual report: papermill run, HTML without code, embedded figures, Chinese that renders."""
from __future__ import annotations


import nbformat
import numpy as np
import pandas as pd
import pytest

from satisfaction import io as sio
from satisfaction import plotting
from satisfaction.cli import main as cli_main
from satisfaction.kernel import KERNEL_NAME, ensure_kernel, kernel_installed
from satisfaction.labels import TEXT
from satisfaction.report import AnnualReport, embedded_images, run_report
from conftest import ROOT


@pytest.fixture(scope="module")
def processed(tmp_path_factory, codebook):
    out = tmp_path_factory.mktemp("processed")
    for year in (2023, 2024):
        sio.ingest(year, raw_root=ROOT / "data" / "raw", out_root=out, codebook=codebook)
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory, processed):
    out = tmp_path_factory.mktemp("reports")
    folder = run_report(2024, processed_root=processed, output_root=out, progress=False)
    return folder


def test_report_folder_contents(published):
    assert published.name == "guangxi" and published.parent.name == "2024"
    names = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()}
    assert {"report.html", "annual_report.ipynb", "tables.xlsx", "scores.csv", "sample.csv", "indicators.csv",
            "reliability.csv", "quality.csv", "weights.csv", "rank_uncertainty.csv", "sensitivity.csv", "priorities.csv",
            "model_paths.csv", "model_constructs.csv", "figures/model_index_by_city.png",
            "ranking.csv", "change.csv", "figures/rank_sets.png", "figures/pairwise_differences.png",
            "figures/rank_movement.png",
            "figures/index_by_city.png", "figures/dimensions_by_city.png", "figures/rank_uncertainty.png",
            "figures/importance_performance.png"} <= names
    assert not [p for p in published.parent.iterdir() if p.name.startswith(".")]


def test_html_has_no_code_and_embeds_images(published):
    html = (published / "report.html").read_text(encoding="utf-8")
    assert "AnnualReport(" not in html and "import " not in html and "report.save_outputs" not in html
    assert "<script" not in html                       # nothing fetched from the network
    assert '<html lang="zh-CN">' in html
    images = embedded_images(html)
    assert len(images) >= 4 and all(img.startswith(b"\x89PNG") for img in images)
    assert "<img src=\"http" not in html and "figures/" not in html
    for text in ("2024年广西壮族自治区消费者满意度测评报告", "样本概况", "消费者满意度指数", "消费供给", "消费环境", "消费维权", "贺州", "南宁",
                 "95%置信区间", "设计效应", "加权", "问卷信度与数据质量", "可以合并为一个得分", "直线作答",
                 "全区综合指数", "排名的稳健性", "层次分析法", "Sobol", "重要性—表现分析", "重点改进",
                 "顾客满意度指数模型", "路径系数", "rhoA", "排名的统计推断", "排名置信集", "与上年相比", "Kendall"):
        assert text in html, text


def test_html_ranks_cities(published, codebook):
    scores = pd.read_csv(published / "scores.csv", encoding="utf-8-sig")
    assert scores["排名"].tolist() == sorted(scores["排名"].tolist())
    assert len(scores) == 14 and scores["消费者满意度指数"].is_monotonic_decreasing
    assert {"标准误", "95%置信区间"} <= set(scores.columns)
    assert (scores["标准误"] > 0).all()
    low, high = zip(*(ci.split("–") for ci in scores["95%置信区间"]))
    assert (pd.Series(low, dtype=float) < scores["消费者满意度指数"]).all()
    assert (pd.Series(high, dtype=float) > scores["消费者满意度指数"]).all()
    sample = pd.read_csv(published / "sample.csv", encoding="utf-8-sig")
    assert (sample["样本量"] >= 538).all() and set(sample["是否达标"]) == {"是"}
    assert (sample["设计效应"] >= 1).all() and (sample["有效样本量"] < sample["样本量"]).all()


def test_report_scores_are_weighted(processed, codebook):
    from satisfaction.index import unit_scores

    report = AnnualReport(2024, processed_dir=processed, codebook=codebook)
    weighted = report.scores.set_index("city")["CSI"]
    unweighted = unit_scores(report.survey.data, codebook).set_index("city")["CSI"]
    assert not np.allclose(weighted, unweighted.loc[weighted.index])
    assert report.design.weight_diagnostics["converged"].all()


def test_executed_notebook_beside_the_report(published):
    nb = nbformat.read(str(published / "annual_report.ipynb"), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert nb.metadata["papermill"]["input_path"] == "notebooks/annual_report.ipynb"
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "year = 2024" in injected[0].source


def test_failed_run_leaves_previous_report_untouched(published, processed, tmp_path):
    before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    nb = nbformat.read(str(ROOT / "notebooks" / "annual_report.ipynb"), as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('broken analysis')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, str(broken))
    with pytest.raises(Exception, match="broken analysis"):
        run_report(2024, processed_root=processed, output_root=published.parent.parent, notebook=broken, progress=False)
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in published.parent.iterdir() if p.name.startswith(".")]


def test_every_label_has_glyphs_in_the_font(codebook):
    family = plotting.use_cjk_font()
    texts = [n.zh for n in codebook.nodes()] + [c.zh for c in codebook.cities.values()] + [i.zh for i in codebook.items.values()]
    texts += list(TEXT["zh"].values()) + [codebook.region["zh"], codebook.title["zh"]]
    assert plotting.missing_glyphs("".join(texts), family) == set()


def test_figures_render_without_missing_glyphs(processed, codebook):
    for lang in ("zh", "en"):
        report = AnnualReport(2024, processed_dir=processed, codebook=codebook, lang=lang)
        for png in report.figures().values():
            assert png.startswith(b"\x89PNG")


def test_missing_glyph_is_an_error():
    plotting.use_cjk_font()
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().set_title("\U0001F600 \u0F00")  # an emoji and a Tibetan syllable: not in Noto CJK
    with pytest.raises(RuntimeError, match="cannot draw"):
        plotting.figure_png(fig)


def test_english_report_tables(processed, codebook):
    report = AnnualReport(2024, processed_dir=processed, codebook=codebook, lang="en")
    table = report.scores_table()
    assert list(table.columns[:4]) == ["Rank", "City", "Interviews", "Consumer satisfaction index"]
    assert "Hezhou" in set(table["City"])
    assert report.title == "Consumer satisfaction evaluation 2024: Guangxi Zhuang Autonomous Region"


def test_unknown_region_is_refused(processed, codebook):
    with pytest.raises(ValueError, match="not the codebook's region"):
        AnnualReport(2024, processed_dir=processed, codebook=codebook, region="guangdong")


def test_cli_report_without_processed_data(tmp_path, capsys):
    code = cli_main(["report", "--year", "2031", "--processed-dir", str(tmp_path), "--out-dir", str(tmp_path / "r"), "--quiet"])
    assert code == 2
    assert "run `satisfaction ingest --year 2031` first" in capsys.readouterr().err


def test_kernel_is_registered_in_this_environment():
    assert ensure_kernel() == KERNEL_NAME
    assert kernel_installed()


def test_robustness_and_priorities_tables(published, codebook):
    weights = pd.read_csv(published / "weights.csv", encoding="utf-8-sig")
    assert weights.groupby("上级指标")["采用权重"].sum().round(6).eq(1).all()
    for col in ("等权", "AHP", "熵权", "主成分"):
        assert weights.groupby("上级指标")[col].sum().round(2).eq(1).all(), col
    ranks = pd.read_csv(published / "rank_uncertainty.csv", encoding="utf-8-sig")
    assert sorted(ranks["公布排名"]) == list(range(1, 15))
    scores = pd.read_csv(published / "scores.csv", encoding="utf-8-sig")
    assert ranks["城市"].tolist() == scores["城市"].tolist()   # nominal ranking = published ranking
    sobol = pd.read_csv(published / "sensitivity.csv", encoding="utf-8-sig")
    assert len(sobol) == 4 and sobol["总指数"].between(0, 1.5).all()
    priorities = pd.read_csv(published / "priorities.csv", encoding="utf-8-sig")
    assert len(priorities) == 14


def test_cli_index_with_other_schemes(processed, tmp_path, capsys):
    from satisfaction.cli import main

    out = tmp_path / "entropy.csv"
    assert main(["index", "--year", "2024", "--processed-dir", str(processed), "--scheme", "entropy",
                 "--aggregation", "geometric", "--replicates", "30", "--out", str(out)]) == 0
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert len(table) == 14 and (table["se"] > 0).all()
    assert main(["index", "--year", "2024", "--processed-dir", str(processed), "--scheme", "ahp"]) == 0
    with pytest.raises(SystemExit) as exit_:   # argparse refuses it: exit code 2 and the rule
        main(["index", "--year", "2024", "--processed-dir", str(processed), "--min-share", "2"])
    assert exit_.value.code == 2
    assert "min_share must be between 0 and 1" in capsys.readouterr().err


def test_ranking_tables(published):
    ranking = pd.read_csv(published / "ranking.csv", encoding="utf-8-sig")
    sets = ranking["排名置信集"].str.strip("[]").str.split(", ", expand=True).astype(int)
    assert ((sets[0] <= ranking["排名"]) & (ranking["排名"] <= sets[1])).all()
    assert ranking["分组"].str.len().gt(0).all()
    change = pd.read_csv(published / "change.csv", encoding="utf-8-sig")
    assert len(change) == 14 and change["p 值"].between(0, 1).all()


def test_report_without_last_year_says_so(tmp_path, codebook):
    from satisfaction.report import AnnualReport

    only = tmp_path / "processed"
    sio.ingest(2024, raw_root=ROOT / "data" / "raw", out_root=only, codebook=codebook)
    report = AnnualReport(2024, processed_dir=only, codebook=codebook)
    assert report.previous is None and "2023" in report.change_markdown() and report.change_table() is None


def test_tables_render_to_the_same_bytes_every_time():
    """No random table id: the same table gives the same HTML (a report can be compared byte for byte)."""
    from satisfaction.report import show_table

    df = pd.DataFrame({"城市": ["南宁", "柳州"], "指数": [77.14, 75.2]})
    first, second = show_table(df).data, show_table(df.copy()).data
    assert first == second and "T_" in first
    assert show_table(df.assign(指数=[70.0, 71.0])).data != first


def test_the_same_inputs_give_the_same_report(published, processed, tmp_path):
    """Byte-identical HTML, tables and figures; the executed notebook identical but for papermill's
    run times."""
    again = run_report(2024, processed_root=processed, output_root=tmp_path, progress=False)
    files = sorted(p.relative_to(published) for p in published.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix != ".ipynb":
            assert (published / rel).read_bytes() == (again / rel).read_bytes(), rel

    def without_times(folder, output_root):
        nb = nbformat.read(str(folder / "annual_report.ipynb"), as_version=4)
        nb.metadata.pop("papermill", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        return nbformat.writes(nb).replace(str(output_root), "OUTPUT")   # the output folder is a parameter

    assert without_times(published, published.parent.parent) == without_times(again, tmp_path)


def test_a_weak_city_is_reported_with_a_note_and_never_blocks_the_report(tmp_path, codebook):
    """A year in which one city has 25 interviews: the report is published, its sample section
    and its score table say that the city is below the minimum and weighted to fewer margins, and
    no other city carries a note."""
    from dataclasses import replace

    full = sio.read_processed(sio.ingest(2024, raw_root=ROOT / "data" / "raw", out_root=tmp_path / "full",
                                         codebook=codebook)[1], codebook)
    weak = "451100"
    keep = (full.data["city"] != weak) | (full.data.groupby("city").cumcount() < 25)
    small = replace(full, data=full.data[keep].reset_index(drop=True),
                    dont_know=full.dont_know[keep.to_numpy()].reset_index(drop=True))
    sio.write_processed(small, tmp_path / "processed" / "2024", year=2024)
    folder = run_report(2024, processed_root=tmp_path / "processed", output_root=tmp_path / "reports", progress=False)
    html = (folder / "report.html").read_text(encoding="utf-8")
    name = codebook.city_label(weak, "zh")
    note = TEXT["zh"]["flags_note"].split("{")[0]
    assert note in html and f"{name}（样本量 25 低于最低要求 {codebook.min_valid_per_city}" in html
    assert "改按文化程度、居住地类型加权" in html
    report = AnnualReport(2024, processed_dir=tmp_path / "processed", codebook=codebook)
    flags = report.scores_table().set_index(TEXT["zh"]["col_city"])[TEXT["zh"]["col_flag"]]
    assert flags[name] and (flags.drop(index=name) == "").all()
    priorities = report.priorities_table().set_index(TEXT["zh"]["col_city"])[TEXT["zh"]["col_concentrate"]]
    assert priorities[name] == "样本不足，未作分析" and "样本不足" not in "".join(priorities.drop(index=name))
