"""The annual report: papermill run, HTML without code, embedded figures, Chinese that renders, and
words that follow from the numbers by one standard."""
from __future__ import annotations


import re

import nbformat
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
import pandas as pd
import pytest

from satisfaction import io as sio
from satisfaction import plotting
from satisfaction.cli import main as cli_main
from satisfaction.kernel import KERNEL_NAME, ensure_kernel, kernel_installed
from satisfaction.labels import TEXT
from satisfaction.report import AnnualReport, embedded_images, run_report
from conftest import REPORT_SETTINGS, ROOT, make_project


SETTINGS = REPORT_SETTINGS


def block(report, key):
    """The table ``key`` of the report (display and unrounded data)."""
    return report.tables()[key]


def test_report_folder_contents(published):
    assert (published.name, published.parent.name, published.parent.parent.name) == ("zh", "guangxi", "2024")
    names = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()}
    tables = ["scores", "ranking", "indicators", "rates", "regions", "groups", "trend_province", "trend_changes",
              "trend_cities", "change", "priorities", "precision", "reliability", "quality", "weights",
              "rank_uncertainty", "sensitivity", "model_paths"]
    figures = ["index_by_city", "dimensions_by_city", "rank_sets", "trend", "importance_performance",
               "rank_uncertainty", "pairwise_differences"]
    assert {"report.html", "report.pdf", "report.ipynb", "tables.xlsx", "report.json",
            *(f"tables/{t}.csv" for t in tables), *(f"figures/{f}.{ext}" for f in figures for ext in ("png", "svg"))} <= names
    reports = published.parents[2]
    assert not [p for p in reports.rglob("*") if p.name.startswith(".") and ".staging" not in p.parts]


def test_html_has_no_code_and_embeds_images(published):
    html = (published / "report.html").read_text(encoding="utf-8")
    assert "AnnualReport(" not in html and "import " not in html and "report.save_outputs" not in html
    assert "<script" not in html                       # nothing fetched from the network
    assert '<html lang="zh-CN">' in html
    images = embedded_images(html)
    assert len(images) >= 6 and all(img.startswith(b"\x89PNG") for img in images)
    assert "<img src=\"http" not in html and "figures/" not in html
    sections = ["一、摘要", "二、总体与三个维度", "三、城市排名", "四、二级指标", "五、满意率", "六、分区域、分人群",
                "七、多年趋势", "八、问题与建议", "九、规划目标", "十、城市通报", "十一、附录：测评方法与技术说明"]
    positions = [html.index(s) for s in sections]
    assert positions == sorted(positions)               # in order, numbered by the report
    for text in ("发布单位：示例发布单位（演示数据）", "2025年3月15日", "主要发现与建议", "排名置信集", "可重复性"):
        assert text in html, text


def test_notebook_has_a_heading_cell_per_section():
    nb = nbformat.read(str(ROOT / "notebooks" / "annual_report.ipynb"), as_version=4)
    headings = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    from satisfaction.report.sections import SECTIONS

    assert len(headings) == len(SECTIONS)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name in ("year", "lang", "publish", "replicates", "draws", "seed", "issued"):
        assert f"\n{name}: " in params.source


def test_summary_states_the_headline(report, codebook):
    """The first section names the official composite with its CI, its change with CI, the three
    dimensions and the best and weakest indicators — the same numbers as the tables."""
    from satisfaction.report import fmt

    summary = "\n".join(b.text for b in report.render("summary") if hasattr(b, "text"))
    prov = report.ctx.province_now.set_index("node")
    idx = codebook.tree.code
    assert f"{fmt.num(prov.loc[idx, 'estimate'])} 分" in summary
    assert fmt.interval(prov.loc[idx, "ci_low"], prov.loc[idx, "ci_high"]) in summary
    change = report.ctx.province_change().set_index("node").loc[idx]
    assert fmt.signed(change["change"]) in summary
    assert fmt.interval(change["ci_low"], change["ci_high"], signed_values=True) in summary
    for dim in codebook.dimensions:
        assert f"{dim.zh} {fmt.num(prov.loc[dim.code, 'estimate'])} 分" in summary
    indicators = prov[prov["level"] == 2]["estimate"]
    assert f"“{codebook.label(indicators.idxmax())}”" in summary and f"“{codebook.label(indicators.idxmin())}”" in summary
    # the province row of the scores table shows the same rounded number
    scores = block(report, "scores")
    assert scores.display.iloc[0][codebook.label(idx)] == fmt.num(prov.loc[idx, "estimate"])
    findings = summary.split("主要发现与建议")[1]
    assert 3 <= findings.count("\n") + 1 and findings.count("。") >= 3


def test_every_rank_statement_follows_the_rank_sets(report, codebook):
    """Tiers, top/bottom sets and the ranking table say nothing the simultaneous rank sets do not."""
    ranking = block(report, "ranking").data
    third = -(-len(ranking) // 3)
    expected = np.where(ranking["rank_upper"] <= third, "top",
                        np.where(ranking["rank_lower"] > len(ranking) - third, "bottom", "middle"))
    assert (ranking["tier"] == expected).all()
    sentence = report.tier_sentence()
    if (ranking["tier"] == "middle").all():
        # no city can be placed at either end: the sentence says so and names only what the
        # Holm-adjusted comparison with the average supports
        assert "不能确定" in sentence
        for position, word in (("above", "高于全区平均的城市："), ("below", "低于全区平均的城市：")):
            named = [report.city(c) for c in ranking.loc[ranking["position"] == position, "city"]]
            assert word + (report.join(named) or "无") in sentence
            assert (ranking.loc[ranking["position"] == position, "p_holm"] < 0.05).all()
    else:
        for tier in ("top", "middle", "bottom"):
            named = [report.city(c) for c in ranking.loc[ranking["tier"] == tier, "city"]]
            assert report.join(named) in sentence or (not named and "无" in sentence)
    third = -(-len(ranking) // 3)
    best = report.ctx.ranking["best"]
    assert report.ctx.ranking["tau"] == third and best["in_set"].sum() >= (ranking["tier"] == "top").sum()
    sets = report.ctx.ranking["sets"].set_index("city")
    assert ((sets["lower"] <= sets["rank"]) & (sets["rank"] <= sets["upper"])).all()
    # the rank sets are the one standard: the appendix's Monte Carlo is titled as sampling and method together
    appendix = "\n".join(b.text for b in report.render("appendix") if hasattr(b, "text"))
    assert "抽样误差与方法选择" in appendix


def test_no_change_is_called_significant_unless_it_survives_holm(report):
    change = block(report, "change").data
    from statsmodels.stats.multitest import multipletests

    assert np.allclose(change["p_holm"], multipletests(change["p"], method="holm")[1])
    assert (change["significant"] == (change["p_holm"] < 0.05)).all()
    shown = block(report, "change").display
    for (_, row), verdict in zip(change.iterrows(), shown["结论"]):
        assert (verdict in ("显著上升", "显著下降")) == bool(row["significant"])
    raw_only = change[(change["p"] < 0.05) & ~change["significant"]]
    text = report.text()
    for city in raw_only["city"]:       # significant before adjustment only: never named as a change
        assert f"显著上升的城市：{report.city(city)}" not in text and f"显著下降的城市：{report.city(city)}" not in text
    steps = block(report, "trend_changes").data
    assert np.allclose(steps["p_holm"], multipletests(steps["p"], method="holm")[1])


def test_meeting_the_requirement_uses_precision_at_the_observed_design_effect(report, codebook):
    from dataclasses import replace

    from satisfaction.index import respondent_scores
    from satisfaction.survey.estimate import mean

    p = block(report, "precision").data
    design = report.ctx.design
    scores = respondent_scores(design.data, codebook)[codebook.tree.code]
    observed = mean(replace(design, data=design.data.assign(s=scores.to_numpy())), "s", by="city").set_index("city")["deff"]
    np.testing.assert_allclose(p["deff"], observed.loc[p["city"]].to_numpy(), rtol=1e-12)
    moe = 1.959963984540054 * np.sqrt(0.25 * p["deff"] / p["n"])
    np.testing.assert_allclose(p["moe_proportion"], moe, rtol=1e-9)
    assert (p["meets"] == (p["moe_proportion"] <= 0.05)).all()
    assert not p["meets"].all() and (p["n"] >= p["minimum"]).all()   # counting interviews would say 14/14


def test_every_number_is_rounded_once(report, published, codebook):
    """Display cells equal the unrounded value rounded once; the XLSX holds the unrounded value with
    the report's number format; the chart labels use the same formatter."""
    from openpyxl import load_workbook

    from satisfaction.report import fmt

    scores = block(report, "scores")
    idx = codebook.tree.code
    assert list(scores.display[codebook.label(idx)]) == [fmt.num(v) for v in scores.data[idx]]
    assert fmt.num(76.253) == "76.3" and fmt.num(76.25) == f"{76.25:.1f}"
    wb = load_workbook(published / "tables.xlsx")
    ws = wb["总体与维度"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index(idx) + 1)
    assert cell.number_format == "0.0" and abs(cell.value - scores.data[idx].iloc[0]) < 1e-9


#: Identifiers a reader may see in the Chinese report: data file names (the method note lists them)
#: and checksums (the reproducibility line).
IDENTIFIERS = re.compile(r"[\w./-]+\.(?:csv|txt|xlsx|xlsm|sav)\b|\b[0-9a-f]{12}\b")


def test_chinese_body_text_has_no_latin_words(report):
    """Outside the glossary (where the technical terms are defined), no Latin word in the zh report:
    text, table headers and cells."""
    texts = [report.heading_markdown()]
    for key, blocks in report.all_blocks.items():
        for b in blocks:
            if hasattr(b, "text"):
                texts.append(b.text.split("### 术语说明")[0])
            elif hasattr(b, "display"):
                texts.append(" ".join(map(str, b.display.columns)) + " " + b.display.astype(str).to_string())
                texts.append(b.note or "")
    body = IDENTIFIERS.sub(" ", "\n".join(texts))
    words = set(re.findall(r"[A-Za-z]+", body)) - {"p"}     # "p 值", as official statistics write it
    assert words == set(), sorted(words)


def test_english_report(processed, codebook):
    report = AnnualReport(2024, processed_dir=processed, codebook=codebook, lang="en", **SETTINGS)
    assert report.title == "Guangxi Zhuang Autonomous Region: consumer satisfaction evaluation, 2024"
    assert report.numbered()[0][0] == "1. Summary"
    scores = block(report, "scores").display
    assert "Hezhou" in set(scores["City"])
    text = report.text()
    assert not re.search(r"[\u4e00-\u9fff]", text.replace(codebook.title["zh"], ""))


def test_report_scores_are_weighted(report, codebook):
    from satisfaction.index import unit_scores

    weighted = report.ctx.scores.set_index("city")["CSI"]
    unweighted = unit_scores(report.ctx.survey.data, codebook).set_index("city")["CSI"]
    assert not np.allclose(weighted, unweighted.loc[weighted.index])
    assert report.ctx.design.weight_diagnostics["converged"].all()


def test_figures_render_without_missing_glyphs(report):
    for name, fig in report.figures().items():
        assert plotting.figure_png(fig).startswith(b"\x89PNG"), name


def test_report_without_earlier_years_leaves_the_trend_out(tmp_path, codebook):
    only = tmp_path / "processed"
    sio.ingest(2024, raw_root=ROOT / "data" / "raw", out_root=only, codebook=codebook)
    report = AnnualReport(2024, processed_dir=only, codebook=codebook, **SETTINGS)
    assert "trend" not in {s.key for s in report.sections}
    assert report.findings.change is None and "与上年" not in report.render("summary")[1].text


def test_notebook_of_the_report_beside_it(published, report):
    nb = nbformat.read(str(published / "report.ipynb"), as_version=4)
    assert nb.metadata["satisfaction"]["year"] == 2024 and nb.metadata["satisfaction"]["lang"] == "zh"
    assert [c.id for c in nb.cells][1:] == [f"section-{s.key}" for s in report.sections]
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]


def test_failed_run_leaves_previous_report_untouched(published, tmp_path):
    before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    nb = nbformat.read(str(ROOT / "notebooks" / "annual_report.ipynb"), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "show_section" in c.source)
    nb.cells.insert(at, nbformat.v4.new_code_cell("raise RuntimeError('broken analysis')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, str(broken))
    project = published.parents[3]
    with pytest.raises(Exception, match="broken analysis") as failed:
        run_report(2024, project=project, notebook=broken, progress=False, **SETTINGS)
    assert failed.value.exit_code == 4 and "partial notebook: reports/failed/2024-guangxi-zh.ipynb" in str(failed.value)
    kept = nbformat.read(str(project / "reports" / "failed" / "2024-guangxi-zh.ipynb"), as_version=4)
    assert any(o.output_type == "error" for c in kept.cells if c.cell_type == "code" for o in c.outputs)
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in published.parent.iterdir()] == ["zh"]
    # the session's published project is shared: leave it as found (other modules check it has no leftovers)
    (project / "reports" / "failed" / "2024-guangxi-zh.ipynb").unlink()
    (project / "reports" / "failed").rmdir()


def test_every_label_has_glyphs_in_the_font(codebook):
    family = plotting.use_cjk_font()
    texts = [n.zh for n in codebook.nodes()] + [c.zh for c in codebook.cities.values()] + [i.zh for i in codebook.items.values()]
    texts += list(TEXT["zh"].values()) + [codebook.region["zh"], codebook.title["zh"]]
    assert plotting.missing_glyphs("".join(texts), family) == set()


def test_missing_glyph_is_an_error():
    plotting.use_cjk_font()
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().set_title("\U0001F600 \u0F00")  # an emoji and a Tibetan syllable: not in Noto CJK
    with pytest.raises(RuntimeError, match="cannot draw"):
        plotting.figure_png(fig)


def test_unknown_region_is_refused(processed, codebook):
    with pytest.raises(ValueError, match="not the codebook's region"):
        AnnualReport(2024, processed_dir=processed, codebook=codebook, region="guangdong")


def test_cli_report_without_processed_data(tmp_path, capsys):
    code = cli_main(["report", "--year", "2031", "--processed-dir", str(tmp_path), "--out-dir", str(tmp_path / "r"), "--quiet"])
    assert code == 3
    assert "run `satisfaction ingest --year 2031` first" in capsys.readouterr().err


def test_kernel_is_registered_in_this_environment():
    assert ensure_kernel() == KERNEL_NAME
    assert kernel_installed()


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


def test_tables_render_to_the_same_bytes_every_time():
    """No random table id: the same table gives the same HTML (a report can be compared byte for byte)."""
    from satisfaction.report import show_table

    df = pd.DataFrame({"城市": ["南宁", "柳州"], "指数": [77.14, 75.2]})
    first, second = show_table(df).data, show_table(df.copy()).data
    assert first == second and "T_" in first
    assert show_table(df.assign(指数=[70.0, 71.0])).data != first


def test_a_weak_city_and_a_small_cell_never_block_the_report(tmp_path, codebook):
    """One city at 25 interviews and one population group under 30 (the oldest age group, so that
    no city can be raked by sex × age any more): the report is produced, every city weighted by
    the fallback and flagged, the weak city's own cells flagged and its rates suppressed, and the
    small group's cells suppressed with a note."""
    from dataclasses import replace

    full = sio.read_processed(sio.ingest(2024, raw_root=ROOT / "data" / "raw", out_root=tmp_path / "full",
                                         codebook=codebook)[1], codebook)
    weak = "451100"
    data = full.data
    keep = (data["city"] != weak) | (data.groupby("city").cumcount() < 25)
    oldest = (data["age_group"] == data["age_group"].max()) & (data["city"] != weak)
    keep &= ~oldest | (oldest.cumsum() <= 20)
    small = replace(full, data=data[keep].reset_index(drop=True),
                    dont_know=full.dont_know[keep.to_numpy()].reset_index(drop=True))
    assert (small.data["age_group"] == data["age_group"].max()).sum() < codebook.min_cell
    sio.write_processed(small, tmp_path / "processed" / "2024", year=2024)
    folder = run_report(2024, processed_root=tmp_path / "processed", output_root=tmp_path / "reports", progress=False,
                        **SETTINGS)
    html = (folder / "report.html").read_text(encoding="utf-8")
    name = codebook.city_label(weak, "zh")
    assert f"样本量 25 低于最低要求 {codebook.min_valid_per_city}" in html
    assert "改按文化程度、居住地类型加权" in html and "的样本不足，结果仅供参考" in html
    report = AnnualReport(2024, processed_dir=tmp_path / "processed", codebook=codebook, **SETTINGS)
    scores = block(report, "scores").display.set_index(TEXT["zh"]["col_city"])
    assert scores.loc[name, TEXT["zh"]["col_flag"]].startswith("样本量 25")
    rates = block(report, "rates")
    assert (rates.display.set_index(TEXT["zh"]["col_city"]).loc[name] == "—").all() and "不予公布" in rates.note
    groups = block(report, "groups")
    small_rows = (groups.data["n"] < codebook.min_cell).to_numpy()
    assert small_rows.sum() == 1 and (groups.display.loc[small_rows, "消费者满意度指数"] == "—").all()
    assert "不予公布" in groups.note
    priorities = block(report, "priorities").display.set_index(TEXT["zh"]["col_city"])[TEXT["zh"]["col_concentrate"]]
    assert priorities[name] == "样本不足，未作分析"


@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40))
def test_holm_follows_its_definition(p):
    """The report's Holm adjustment (NumPy, every family of the report and the bulletins) against the
    definition written out: with the m non-missing p-values sorted, ``p̃_(i) = max_{j≤i} min(1,
    (m − j + 1) p_(j))``; missing p-values stay missing."""
    from satisfaction.report.context import holm

    p = np.asarray(p)
    out = holm(p)
    ok = np.flatnonzero(~np.isnan(p))
    assert np.isnan(out[np.isnan(p)]).all()
    order = sorted(ok, key=lambda i: (p[i], i))
    m = len(order)
    for rank, i in enumerate(order):
        expected = max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))
        assert out[i] == pytest.approx(expected, abs=1e-15)


def test_holm_agrees_with_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from satisfaction.report.context import holm

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.0001, 0.04, 0.9, 0.005])
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    with_nan = np.r_[p[:3], np.nan, p[3:]]
    np.testing.assert_allclose(np.delete(holm(with_nan), 3), holm(p), rtol=0, atol=0)
