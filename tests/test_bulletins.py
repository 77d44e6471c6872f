"""City bulletins (城市通报): the shared numbers, the targets' verdicts, the bulletin against the
provincial tables, its files (HTML, A4 PDF, Word) and publishing — by papermill and in batches."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPORT_SETTINGS, make_project, papermill_command

HEZHOU = "451100"


@pytest.fixture(scope="module")
def shared(report):
    return report.shared


@pytest.fixture(scope="module")
def hezhou(shared, report):
    from satisfaction.report.bulletin import CityBulletin

    return CityBulletin(shared, report.codebook, "贺州", issued=REPORT_SETTINGS["issued"])


# ---- the shared numbers ------------------------------------------------------------------------------

def test_shared_numbers_are_the_reports_own(shared, report):
    """The nodes, the province, the index's rank sets and tiers, the change: the provincial report's
    numbers, not a second computation of them."""
    ctx = report.ctx
    idx = report.codebook.tree.code
    mine = shared.nodes.set_index(["city", "node"])["estimate"]
    theirs = ctx.node_scores.set_index(["city", "node"])["estimate"]
    pd.testing.assert_series_equal(mine, theirs.reindex(mine.index))
    sets = ctx.ranking["sets"].set_index("city")
    ranks = shared.node_ranks[shared.node_ranks["node"] == idx].set_index("city")
    assert (ranks["lower"] == sets.loc[ranks.index, "lower"]).all() and (ranks["upper"] == sets.loc[ranks.index, "upper"]).all()
    assert shared.tiers.to_dict() == ctx.ranking["tiers"].to_dict()
    assert shared.cities == list(ctx.scores["city"])


def test_versus_province_is_the_contrast_of_independent_cities(shared, report):
    """City minus the size-weighted province, per node: the estimate is ``s_c − Σ a_k s_k`` and the SE
    that of the contrast ``e_c − a`` under the scores' own covariance (``estimate.contrast``, checked
    against R's svycontrast)."""
    from satisfaction.survey.estimate import contrast

    ctx = report.ctx
    sizes = ctx.sizes()
    for node in ("CSI", "R", "S5"):
        part = ctx.node_scores[ctx.node_scores["node"] == node].reset_index(drop=True)
        a = sizes.reindex(part["city"]).to_numpy(dtype=float)
        a = a / a.sum()
        for i, city in enumerate(part["city"]):
            coef = -a.copy()
            coef[i] += 1
            expected = contrast(part, {"d": coef})
            row = shared.versus[(shared.versus["city"] == city) & (shared.versus["node"] == node)].iloc[0]
            assert row["difference"] == pytest.approx(float(expected["estimate"].iloc[0]), abs=1e-10)
            assert row["se"] == pytest.approx(float(expected["se"].iloc[0]), rel=1e-9)


def test_positions_follow_holm_within_each_city_and_level(shared):
    from statsmodels.stats.multitest import multipletests

    for (city, level), part in shared.versus.groupby(["city", "level"]):
        assert np.allclose(part["p_holm"], multipletests(part["p"], method="holm")[1])
        called = part["position"] != "none"
        assert (called == (part["p_holm"] < 0.05)).all()
        assert ((part.loc[called, "difference"] > 0) == (part.loc[called, "position"] == "above")).all()


def test_batched_relative_weights_equal_the_single_fit(report):
    """The importances recomputed under every replicate come from a batched version of Johnson's
    relative weights; under the full-sample weights it gives exactly the single fit."""
    from satisfaction.drivers import _relative_weights_stack, relative_weights
    from satisfaction.index import rescale_items, respondent_scores

    design, cb = report.ctx.design, report.codebook
    indicators = [ind.code for dim in cb.dimensions for ind in dim.children]
    frame = respondent_scores(design.data, cb)[indicators].assign(OVERALL=rescale_items(design.data[["OVERALL"]], cb)["OVERALL"])
    rows = (design.data["city"] == HEZHOU).to_numpy() & frame.notna().all(axis=1).to_numpy()
    x = frame.to_numpy(dtype=float)[rows]
    w = design.weights[rows]
    single = relative_weights(frame[rows], indicators, "OVERALL", weights=w)["share"].to_numpy()
    stacked = _relative_weights_stack(x, np.column_stack([w, 2 * w]))
    np.testing.assert_allclose(stacked[0], single, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stacked[1], single, rtol=0, atol=1e-12)     # scale-free in the weights


def test_a_priority_is_named_only_where_its_interval_allows(shared):
    d = shared.drivers.dropna(subset=["importance"])
    p = d.groupby("city")["indicator"].count().iloc[0]
    assert (d.loc[d["priority"], "ci_low"] > 1 / p).all()
    assert (d.loc[d["priority"], "candidate"]).all()
    assert (d["se"] > 0).all()


def test_tier_gap_reaches_the_next_tier_and_no_less(shared, report):
    """At the required score the city's rank set places it in the next tier up; a tenth of a point
    below it does not (the bisection's tolerance is 0.05)."""
    from satisfaction.ranking import rank_sets
    from satisfaction.report.cities import ORDER, _tier_of
    from satisfaction.survey.estimate import vcov

    ctx = report.ctx
    rows = ctx._index_rows(ctx.node_scores).loc[list(ctx.scores["city"])]
    est, var = rows["estimate"].astype(float), vcov(rows.reset_index()).to_numpy()
    gaps = shared.gaps.set_index("city")
    for city in (HEZHOU, shared.cities[0]):
        g = gaps.loc[city]
        if g["next_tier"] is None or np.isnan(g["required"]):
            continue

        def tier_at(score):
            moved = est.copy()
            moved[city] = score
            s = rank_sets(moved, var, n_draws=ctx.rank_draws, seed=ctx.seed).set_index("city").loc[city]
            return ORDER[_tier_of(int(s["lower"]), int(s["upper"]), len(est))]

        assert tier_at(g["required"]) >= ORDER[g["next_tier"]]
        assert tier_at(g["required"] - 0.1) < ORDER[g["next_tier"]]
        assert g["gap"] == pytest.approx(g["required"] - est[city])


# ---- plan targets -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def replicates_400(report):
    from satisfaction.survey.weighting import replicate_design

    return replicate_design(report.ctx.design, report.codebook, replicates=400, seed=11)


def _targets(codebook, rows, confidence=0.95):
    from satisfaction.targets import Target, TargetSet

    targets = tuple(Target(key=f"targets[{i}]", unit=u, measure=m, of=o, threshold=t, year=2024)
                    for i, (u, m, o, t) in enumerate(rows))
    return TargetSet(path="constructed", confidence=confidence, targets=targets, sha256="-")


def test_target_verdicts_on_constructed_cases(report, shared, replicates_400):
    """Far below the estimate → 已达成 with probability ≈ 1; far above → 未达成; at the estimate →
    尚难判断 with probability ≈ 0.5; and the probability from the replicate distribution agrees with
    the normal approximation from the replicate SE within Monte Carlo error."""
    from satisfaction.report.cities import evaluate_targets
    from satisfaction.targets import VERDICTS

    nodes = shared.nodes.set_index(["city", "node"])
    prov = shared.province.set_index("node")
    rates = shared.rates.set_index(["city", "dimension"])
    cases = []
    for unit, measure, of, est in ((HEZHOU, "score", "CSI", nodes.loc[(HEZHOU, "CSI"), "estimate"]),
                                   ("province", "score", "R", prov.loc["R", "estimate"]),
                                   (HEZHOU, "rate", "R", 100 * rates.loc[(HEZHOU, "R"), "rate"]),
                                   ("province", "rate", "overall", 100 * rates.loc[("province", "overall"), "rate"])):
        cases += [(unit, measure, of, est - 20), (unit, measure, of, est + 20), (unit, measure, of, est)]
    out = evaluate_targets(_targets(report.codebook, cases), report, replicates_400, shared.nodes, shared.province,
                           shared.rates)
    words = {k: VERDICTS["zh"][v] for k, v in zip(out["key"], out["verdict"])}
    B = replicates_400.require_replicates().n_replicates
    mc = 3 * np.sqrt(0.25 / B)
    for i in range(0, len(out), 3):
        below, above, at = out.iloc[i], out.iloc[i + 1], out.iloc[i + 2]
        assert below["probability"] == pytest.approx(1.0) and words[below["key"]] == "已达成"
        assert above["probability"] == pytest.approx(0.0) and words[above["key"]] == "未达成"
        assert abs(at["probability"] - 0.5) <= mc and words[at["key"]] == "尚难判断"
    # against the normal approximation at thresholds across the distribution, with the replicate SE
    from scipy import stats

    from satisfaction.index import aggregate_arrays, replicate_item_means
    from satisfaction.schemes import fixed_weights

    cb = report.codebook
    reps = aggregate_arrays(replicate_item_means(replicates_400, cb, by="city"), cb.index_items, cb, fixed_weights(cb).weights)
    cities = sorted(report.ctx.node_scores["city"].unique())
    theta = reps["CSI"][:, cities.index(HEZHOU)]
    est = nodes.loc[(HEZHOU, "CSI"), "estimate"]
    se_rep = float(np.sqrt(replicates_400.replicate_variance(theta[:, None], np.array([est]))[0]))
    grid = est + se_rep * np.array([-1.5, -0.5, 0.0, 0.5, 1.5])
    out = evaluate_targets(_targets(cb, [(HEZHOU, "score", "CSI", t) for t in grid]), report, replicates_400,
                           shared.nodes, shared.province, shared.rates)
    normal = stats.norm.sf((grid - est) / se_rep)
    # Dvoretzky–Kiefer–Wolfowitz: the empirical distribution is within ε of the true one everywhere
    # with probability 1 − 2·exp(−2Bε²); ε for 10⁻⁶, plus the replicates' own departure from normality
    eps = np.sqrt(np.log(2 / 1e-6) / (2 * B)) + 0.02
    assert np.abs(out["probability"].to_numpy() - normal).max() <= eps


def test_every_kind_of_target_is_evaluated(shared, report):
    """The demo's targets: scores and rates (of a dimension, overall, and of one item), for cities and
    the province; each estimate is the published one."""
    t = shared.targets
    assert len(t) >= 8 and set(t["measure"]) == {"score", "rate"} and "province" in set(t["unit"])
    assert {"met", "not_met", "undecided"} <= set(t["verdict"])
    assert t[["estimate", "se", "ci_low", "ci_high", "probability"]].notna().all().all()
    nodes = shared.nodes.set_index(["city", "node"])
    rates = shared.rates.set_index(["city", "dimension"])
    for _, row in t.iterrows():
        if row["measure"] == "score" and row["unit"] != "province":
            assert row["estimate"] == nodes.loc[(row["unit"], row["of"]), "estimate"]
        if row["measure"] == "rate" and (row["unit"], row["of"]) in rates.index:
            assert row["estimate"] == pytest.approx(100 * rates.loc[(row["unit"], row["of"]), "rate"])


# ---- the bulletin against the provincial tables ----------------------------------------------------------

def test_hezhou_bulletin_agrees_with_the_provincial_tables(hezhou, report):
    """贺州's bulletin and the provincial report's tables: the same numbers after one rounding."""
    from satisfaction.report import fmt

    tables = report.tables()
    scores = tables["scores"].data.set_index("city")
    ranking = tables["ranking"].data.set_index("city")
    text = hezhou.text()
    row = scores.loc[HEZHOU]
    idx = report.codebook.tree.code
    assert f"**{fmt.num(row[idx])} 分**（95%置信区间 {fmt.interval(row['ci_low'], row['ci_high'])}）" in text
    assert f"第 {int(ranking.loc[HEZHOU, 'rank_lower'])}–{int(ranking.loc[HEZHOU, 'rank_upper'])} 名" in text
    tier = {"top": "领先", "middle": "居中", "bottom": "靠后"}[report.ctx.ranking["tiers"][HEZHOU]]
    assert f"属“{tier}”组" in text
    change = tables["change"].data.set_index("city").loc[HEZHOU]
    assert f"变化 {fmt.signed(change['change'])} 分" in text
    # every dimension and indicator: the city's score, as the provincial indicators table shows it
    mine = hezhou.tables()["indicators"]
    shown = dict(zip(mine.data["node"], mine.display[hezhou.t("col_city_score")]))
    provincial = tables["indicators"].data.set_index("indicator") if "indicator" in tables["indicators"].data else None
    for code, value in shown.items():
        expected = report.ctx.node_scores.set_index(["city", "node"]).loc[(HEZHOU, code), "estimate"]
        assert value == fmt.num(expected)
        if provincial is not None and code in provincial.index and HEZHOU in provincial.columns:
            assert value == fmt.num(provincial.loc[code, HEZHOU])
    # satisfaction rates: the rates table's own numbers
    rates = tables["rates"].data
    overall = rates[(rates["city"] == HEZHOU) & (rates["dimension"] == "overall")].iloc[0]
    assert hezhou.tables()["rates"].display.iloc[0, 1].startswith(fmt.pct(overall["rate"]))


def test_bulletin_words_follow_the_standard(hezhou, shared):
    import re

    text = hezhou.text()
    assert "{" not in text and "}" not in text
    # plain official Chinese: no Latin words in the body (the issuer's name aside; "p 值" as statistics write it)
    assert set(re.findall(r"[A-Za-z]+", text)) - {"p"} == set()
    headings = [h for _, h in hezhou.numbered()]
    assert headings[0] == "一、总体结果" and headings[-1] == "七、说明"
    vs = shared.city_versus(HEZHOU)
    ind = vs[vs["level"] == 2]
    for code, row in ind.iterrows():
        name = hezhou.node(code)
        if row["position"] == "none":
            assert f"**优势**（显著高于全区）：{name}" not in text and f"**短板**（显著低于全区）：{name}" not in text
    named = shared.drivers[(shared.drivers["city"] == HEZHOU) & shared.drivers["priority"]]
    if named.empty:
        assert "本年度不列改进重点" in text or "不足以进行驱动因素分析" in text
    for verdict in shared.city_targets(HEZHOU)["verdict"]:
        assert {"met": "已达成", "not_met": "未达成", "undecided": "尚难判断"}[verdict] in text


def test_english_bulletin(shared, report):
    from satisfaction.report.bulletin import CityBulletin

    b = CityBulletin(shared, report.codebook, "Hezhou", lang="en", issued=REPORT_SETTINGS["issued"])
    text = b.text()
    assert b.city == HEZHOU and "Hezhou" in b.title
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text.replace(report.codebook.raw["issuer"]["zh"], ""))
    assert [h for _, h in b.numbered()][0] == "1. Overall result"


def test_unknown_city_is_refused(shared, report):
    from satisfaction.errors import UsageError
    from satisfaction.report.bulletin import CityBulletin

    with pytest.raises(UsageError, match="梧洲"):
        CityBulletin(shared, report.codebook, "梧洲")


# ---- the files ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hezhou_files(hezhou):
    from satisfaction.report.bulletin import bulletin_files

    return bulletin_files(hezhou, pdf=True)


def test_bulletin_pdf_is_one_or_two_a4_pages(hezhou_files):
    from pypdf import PdfReader

    pdf = PdfReader(io.BytesIO(hezhou_files[f"{HEZHOU}.pdf"]))
    assert 1 <= len(pdf.pages) <= 2
    for page in pdf.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - 595) < 2 and abs(h - 842) < 2
    import unicodedata

    # the extracted text may spell some characters as their Kangxi-radical twins: NFKC folds them
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in pdf.pages))
    assert "贺州" in text and "规划目标" in text
    # a link to another file would be printed as a path of the machine that printed it: none is kept
    uris = [a.get_object().get("/A", {}).get("/URI") for page in pdf.pages for a in (page.get("/Annots") or [])]
    assert not [u for u in uris if u], uris


def test_bulletin_docx_opens_with_its_tables(hezhou_files, hezhou):
    import docx

    doc = docx.Document(io.BytesIO(hezhou_files[f"{HEZHOU}.docx"]))
    assert doc.core_properties.title == hezhou.title
    paragraphs = [p.text for p in doc.paragraphs]
    assert any(p == hezhou.title for p in paragraphs)
    assert "一、总体结果" in paragraphs and "六、规划目标" in paragraphs
    shown = hezhou.tables()
    assert len(doc.tables) == len(shown)
    for table, block in zip(doc.tables, shown.values()):
        cells = [[c.text for c in row.cells] for row in table.rows]
        assert cells[0] == list(block.display.columns)
        assert cells[1:] == block.display.astype(str).values.tolist()
    assert len(doc.inline_shapes) == len(hezhou.figures())


def test_bulletin_json_lists_every_file(hezhou_files):
    summary = json.loads(hezhou_files["bulletin.json"])
    assert set(summary["outputs"]) == set(hezhou_files) - {"bulletin.json"}
    for name, digest in summary["outputs"].items():
        assert hashlib.sha256(hezhou_files[name]).hexdigest() == digest
    assert summary["city"] == HEZHOU and summary["index"]["tier"] in ("top", "middle", "bottom")


def test_same_inputs_same_files(hezhou, hezhou_files):
    from satisfaction.report.bulletin import bulletin_files

    again = bulletin_files(hezhou, pdf=False)
    for name in (f"{HEZHOU}.html", f"{HEZHOU}.docx", "figures/differences.png"):
        assert again[name] == hezhou_files[name], name


# ---- publishing: papermill, batches, the provincial report's links --------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory, processed_years, shared):
    """A project holding the demo's inputs, and the year's shared numbers the session has computed
    already (same inputs and settings, same cache key: every bulletin here reads them)."""
    import shutil

    folder = make_project(tmp_path_factory.mktemp("bulletins"), processed_years)
    shutil.copytree(processed_years.parent / "interim", folder / "data" / "interim")
    return folder


def _bulletin_command(project: Path, output: Path, **params) -> list[str]:
    return papermill_command(project, output, notebook="city_bulletin.ipynb", **params)


def _complete(folder: Path) -> dict:
    summary = json.loads((folder / "bulletin.json").read_text(encoding="utf-8"))
    for name, digest in summary["outputs"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    return summary


def test_papermill_publishes_one_bulletin(project):
    """The bulletin notebook run by papermill directly, as Airflow's PapermillOperator runs it."""
    done = subprocess.run(_bulletin_command(project, project / "run.ipynb", year=2024, city="贺州", publish=True,
                                            replicates=REPORT_SETTINGS["replicates"], issued=REPORT_SETTINGS["issued"]),
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = project / "reports" / "2024" / "guangxi" / "cities" / "zh" / HEZHOU
    summary = _complete(folder)
    assert {f"{HEZHOU}.html", f"{HEZHOU}.pdf", f"{HEZHOU}.docx"} <= set(summary["outputs"])


def test_exploring_writes_nothing(tmp_path, processed_years):
    """The bulletin notebook opened in JupyterLab (``publish`` False) computes what it shows and
    writes nothing: no bulletin, no lock, not even the shared numbers' cache."""
    from satisfaction.report.publish import finish_bulletin, open_bulletin

    project = make_project(tmp_path / "explore", processed_years)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    bulletin = open_bulletin({}, project=str(project), city="贺州", replicates=20, issued=REPORT_SETTINGS["issued"])
    assert "贺州" in bulletin.text()
    assert finish_bulletin(bulletin) is None
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_papermill_refuses_a_foreign_city(project):
    before = sorted(p.relative_to(project).as_posix() for p in (project / "reports").rglob("*")) \
        if (project / "reports").exists() else []
    done = subprocess.run(_bulletin_command(project, project / "bad.ipynb", year=2024, city="梧洲", publish=True),
                          cwd=project, capture_output=True, text=True)
    assert done.returncode != 0
    assert "梧洲" in done.stderr and "not a city of the codebook" in done.stderr
    after = sorted(p.relative_to(project).as_posix() for p in (project / "reports").rglob("*")) \
        if (project / "reports").exists() else []
    assert [p for p in after if ".lock" not in p] == [p for p in before if ".lock" not in p]


def test_batch_publishes_every_city_and_the_report_links_them(project, processed_years):
    """``--cities all``: 14 bulletins in zh, HTML, A4 PDF and Word, each complete; then the provincial
    report links each city's files."""
    from satisfaction.report import AnnualReport
    from satisfaction.report.batch import run_bulletins

    result = run_bulletins(2024, cities="all", project=project, replicates=REPORT_SETTINGS["replicates"],
                           issued=REPORT_SETTINGS["issued"], workers=2, progress=False)
    assert len(result.folders) == 14
    for city, folder in result.folders.items():
        summary = _complete(folder)
        assert {f"{city}.html", f"{city}.pdf", f"{city}.docx"} <= set(summary["outputs"])
    report = AnnualReport(2024, processed_dir=project / "data" / "processed", codebook=project / "data" / "raw" / "codebook.yaml",
                          **REPORT_SETTINGS)
    report.bulletins_root = project / "reports" / "2024" / "guangxi" / "cities"
    heading, section = report.section("bulletins")
    links = section.blocks()[0].text
    assert f"(../cities/zh/{HEZHOU}/{HEZHOU}.pdf)" in links and "尚未发布" not in links
    # the page link from the bulletin back to the report resolves to where the report is published
    html = (result.folders[HEZHOU] / f"{HEZHOU}.html").read_text(encoding="utf-8")
    assert 'href="../../../zh/report.html"' in html
    assert (result.folders[HEZHOU] / "../../../zh").resolve() == (project / "reports" / "2024" / "guangxi" / "zh").resolve()


def test_batch_refuses_while_a_city_is_being_published(project):
    from satisfaction.errors import PublishError
    from satisfaction.ingest.swap import Publication
    from satisfaction.report.batch import run_bulletins
    from satisfaction.report.publish import bulletin_folder

    target = bulletin_folder(project / "reports", 2024, "guangxi", "zh", HEZHOU)
    with Publication(target, root=project / "reports"):
        with pytest.raises(PublishError) as info:
            run_bulletins(2024, cities="贺州,柳州", project=project, replicates=REPORT_SETTINGS["replicates"],
                          workers=1, progress=False)
    assert info.value.exit_code == 5


def test_a_failed_bulletin_leaves_the_previous_one_whole(project, monkeypatch):
    from satisfaction.report.batch import BatchFailed, run_bulletins
    from satisfaction.report.publish import bulletin_folder

    target = bulletin_folder(project / "reports", 2024, "guangxi", "zh", HEZHOU)
    if not (target / "bulletin.json").exists():
        run_bulletins(2024, cities="贺州", project=project, replicates=REPORT_SETTINGS["replicates"],
                      issued=REPORT_SETTINGS["issued"], workers=1, progress=False)
    before = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    monkeypatch.setenv("SATISFACTION_FAULT_AT", "docx:raise")
    with pytest.raises(BatchFailed, match=HEZHOU) as info:
        run_bulletins(2024, cities="贺州", project=project, replicates=REPORT_SETTINGS["replicates"],
                      issued="2025-04-01", workers=1, progress=False)
    assert info.value.exit_code == 4          # the analysis (rendering) stopped; nothing was published
    after = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before


def test_cli_rejects_bad_batch_options(project):
    for args, needle in ((["--cities", "梧洲"], "梧洲"), (["--cities", "all", "--workers", "0"], "--workers"),
                         (["--workers", "2"], "--cities")):
        done = subprocess.run([str(Path(sys.executable).with_name("satisfaction")), "--project", str(project), "report",
                               "--year", "2024", *args], capture_output=True, text=True)
        assert done.returncode == 2, (args, done.stderr)
        assert needle in done.stderr
