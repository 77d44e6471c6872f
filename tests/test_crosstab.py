"""Cross-tables, their proportions and the tests of independence agree with R's survey 4.1.1
(svytable, svymean(~interaction(a, b)), svyby(svymean), svychisq) at relative 1e-6.

Reference numbers: tests/reference/survey_crosstab.json, written by
tests/reference/survey_crosstab.R from the API samples shipped with survey (the data it used are in
tests/reference/data/crosstab_*.csv).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from satisfaction import weighting as wt
from satisfaction.design import SurveyDesign, jackknife_weights
from satisfaction.errors import SatisfactionError
from satisfaction.survey import tables as ct
from satisfaction.survey.variance import critical_value

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "survey_crosstab.json").read_text())
RTOL = 1e-6
TABLES = {"t22": ("sch.wide", "comp.imp"), "t43": ("apicat", "stype"), "t43na": ("apicat_na", "stype"),
          "t34": ("stype", "apicat")}
WITH_DF = ("F", "Chisq", "Wald", "adjWald")


def close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.ravel(np.asarray(ours, float)), np.ravel(np.asarray(theirs, float)),
                               rtol=rtol, atol=0)


def close_p(ours, theirs):
    """p-values: relative 1e-6 above 1e-12, absolute 1e-12 below."""
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-12)


@pytest.fixture(scope="module")
def designs():
    strat = pd.read_csv(REF / "data" / "crosstab_apistrat.csv")
    clus = pd.read_csv(REF / "data" / "crosstab_apiclus1.csv")
    return {
        "strat_fpc": SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc"),
        "clus_fpc": SurveyDesign(clus, weights="pw", cluster="dnum", fpc="fpc"),
        "jk1": jackknife_weights(SurveyDesign(clus, weights="pw", cluster="dnum"), "jk1"),
    }


def check_test(test, ref, statistic):
    r = ref[statistic]
    close(test.statistic, r["statistic"])
    close_p(test.p_value, r["p_value"])
    par = r["parameter"]
    if statistic in ("F", "Wald", "adjWald"):
        close([test.ndf, test.ddf], [par["ndf"], par["ddf"]])
    elif statistic == "Chisq":
        close(test.ndf, par["df"])
        assert np.isnan(test.ddf)
    else:
        assert np.isnan(test.ndf) and np.isnan(test.ddf)
    close(test.pearson, ref["pearson"])
    close_p(test.pearson_p, ref["pearson_p"])
    assert test.pearson_df == ref["pearson_df"]
    close(test.eigenvalues, ref["eigenvalues"])
    assert test.n == ref["N"]


# ---- svychisq ------------------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald", "saddlepoint"])
@pytest.mark.parametrize("table_name", list(TABLES))
@pytest.mark.parametrize("design_name", ["strat_fpc", "clus_fpc", "jk1"])
def test_chisq_matches_svychisq(designs, design_name, table_name, statistic):
    d = designs[design_name]
    row, column = TABLES[table_name]
    test = ct.chisq(d, row, column, statistic=statistic)
    check_test(test, R[f"{design_name}_{table_name}"]["chisq"], statistic)
    assert test.df_design == R["degf"][design_name]


@pytest.mark.parametrize("design_name", ["strat_fpc", "jk1"])
@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald", "saddlepoint"])
def test_chisq_by_domain_matches_svychisq_on_subsets(designs, design_name, statistic):
    """One test per domain = svychisq(~a + b, subset(design, awards == level)): N, the categories
    and ν are the domain's own (for JK1, the rank of the domain's replicate weights minus one)."""
    res = ct.chisq(designs[design_name], "apicat_na", "stype", by="awards", statistic=statistic)
    assert res.awards.tolist() == ["No", "Yes"]
    for i, level in enumerate(["No", "Yes"]):
        ref = R[f"{design_name}_by_awards_{level}"]
        r = ref["chisq"][statistic]
        close(res.statistic[i], r["statistic"])
        close_p(res.p_value[i], r["p_value"])
        if statistic in ("F", "Wald", "adjWald"):
            close([res.ndf[i], res.ddf[i]], [r["parameter"]["ndf"], r["parameter"]["ddf"]])
        close(res.eigenvalues[i], ref["chisq"]["eigenvalues"])
        close(res.pearson[i], ref["chisq"]["pearson"])
        assert res.n[i] == ref["N"] and res.df_design[i] == ref["degf"]


@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald", "saddlepoint"])
def test_chisq_on_a_calibrated_design(designs, statistic):
    """Post-stratified (the influence values are residualised); within domains R's subset keeps
    every row of a calibrated design, so N and ν stay the whole design's."""
    ps = wt.poststratify_design(designs["strat_fpc"], "awards", {"No": 2600, "Yes": 3594})
    check_test(ct.chisq(ps, "apicat", "stype", statistic=statistic), R["ps_t43"]["chisq"], statistic)
    res = ct.chisq(ps, "apicat", "stype", by="comp.imp", statistic=statistic)
    for i, level in enumerate(["No", "Yes"]):
        ref = R[f"ps_by_comp.imp_{level}"]
        close(res.statistic[i], ref["chisq"][statistic]["statistic"])
        close_p(res.p_value[i], ref["chisq"][statistic]["p_value"])
        assert res.n[i] == ref["N"] == ps.n


def test_replicate_design_can_be_linearised(designs):
    """method="linearization" on a replicate design uses its clusters, as the design without
    replicates would."""
    plain = SurveyDesign(designs["jk1"].data, weights="pw", cluster="dnum")
    a = ct.chisq(designs["jk1"], "apicat", "stype", method="linearization")
    b = ct.chisq(plain, "apicat", "stype")
    close(a.statistic, b.statistic, rtol=1e-12)
    assert a.df_design == b.df_design == 14


def test_chisq_result_reads_as_a_tidy_row(designs):
    test = ct.chisq(designs["strat_fpc"], "sch.wide", "comp.imp")
    row = test.table()
    assert list(row.columns) == ["statistic", "ndf", "ddf", "p_value", "test", "pearson", "pearson_df",
                                 "pearson_p", "mean_deff", "eigenvalues", "df_design", "n"]
    assert len(row) == 1 and row.test[0] == "F"
    close(row.mean_deff, np.mean(test.eigenvalues), rtol=1e-12)
    assert "Rao & Scott" in str(test) and "sch.wide × comp.imp" in str(test)


# ---- lincom: Imhof's exact distribution ------------------------------------------------------------


@pytest.mark.parametrize("k, x", [(1, 3.0), (3, 0.5), (6, 12.0), (12, 30.0)])
def test_imhof_is_exact_for_equal_design_effects(k, x):
    """With every δ_j = 1, Σ δ_j χ²₁ is χ²_k and the F form is F(k, ddf)."""
    close(ct._imhof(np.ones(k), np.ones(k), x), stats.chi2.sf(x, k), rtol=1e-8)
    ddf = 43.7
    close(ct._imhof(np.r_[np.ones(k), -x / ddf], np.r_[np.ones(k), ddf], 0.0), stats.f.sf(x / k, k, ddf),
          rtol=1e-8)


@pytest.mark.parametrize("design_name", ["clus_fpc", "jk1"])
def test_lincom_is_near_the_saddlepoint_approximation(designs, design_name):
    """R without CompQuadForm falls back to the saddlepoint approximation, which is close."""
    lincom = ct.chisq(designs[design_name], "apicat", "stype", statistic="lincom")
    saddle = R[f"{design_name}_t43"]["chisq"]["saddlepoint"]["p_value"]
    assert lincom.p_value == pytest.approx(saddle, rel=0.02)
    assert lincom.description == "Pearson's X^2: asymptotic exact distribution"


# ---- svytable ------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_name", list(TABLES))
@pytest.mark.parametrize("design_name", ["strat_fpc", "clus_fpc", "jk1"])
def test_table_matches_svytable(designs, design_name, table_name):
    d = designs[design_name]
    row, column = TABLES[table_name]
    ref = R[f"{design_name}_{table_name}"]
    # R's svytable on a replicate design rescales to the sum of all weights (its default Ntotal)
    total = d.weights.sum() if design_name == "jk1" else None
    tbl = ct.table(d, row, column, total=total)
    assert list(tbl.columns) == [row, column, "count"]
    m = ct.as_matrix(tbl, row, column)
    assert list(m.index) == ref["row_levels"] and list(m.columns) == ref["column_levels"]
    close(m.to_numpy().T.ravel(), ref["table"])        # R: column-major


def test_table_by_domain_matches_svytable(designs):
    tbl = ct.table(designs["strat_fpc"], "apicat", "stype", by="awards")
    assert list(tbl.columns) == ["awards", "apicat", "stype", "count"] and len(tbl) == 2 * 4 * 3
    close(tbl.sort_values(["awards", "stype", "apicat"])["count"], R["by_awards_table"]["strat_fpc"])
    d = designs["jk1"]
    tbl = ct.table(d, "apicat_na", "stype", by="awards", total=d.weights.sum())
    close(tbl.sort_values(["awards", "stype", "apicat_na"])["count"], R["by_awards_table"]["jk1"])


def test_one_way_table_and_categorical_levels(designs):
    d = designs["strat_fpc"]
    one = ct.table(d, "stype")
    assert list(one.columns) == ["stype", "count"]
    close(one["count"], d.data.groupby("stype")["pw"].sum())
    # a categorical column keeps its own order and its empty categories, as a factor in xtabs
    data = d.data.assign(grade=pd.Categorical(d.data["apicat"], categories=["a4_high", "a3_midhigh", "a2_midlow",
                                                                         "a1_low", "none"]))
    tbl = ct.table(SurveyDesign(data, weights="pw", strata="stype"), "grade", "stype")
    assert list(dict.fromkeys(tbl.grade)) == ["a4_high", "a3_midhigh", "a2_midlow", "a1_low", "none"]
    assert (tbl[tbl.grade == "none"]["count"] == 0).all()


# ---- proportions -----------------------------------------------------------------------------------


def r_order(frame, nr, nc, within):
    """Our rows run row category, then column category; R's interaction and svyby(~b, ~a) run
    the row category fastest, svyby(~a, ~b) the column category fastest."""
    if within == "column":
        return frame
    index = np.arange(nr * nc).reshape(nr, nc).T.ravel()
    return frame.iloc[index]


@pytest.mark.parametrize("within, key", [("table", "cell"), ("row", "row"), ("column", "column")])
@pytest.mark.parametrize("table_name", list(TABLES))
@pytest.mark.parametrize("design_name", ["strat_fpc", "clus_fpc", "jk1"])
def test_proportions_match_svymean_and_svyby(designs, design_name, table_name, within, key):
    d = designs[design_name]
    row, column = TABLES[table_name]
    ref = R[f"{design_name}_{table_name}"]
    nr, nc = len(ref["row_levels"]), len(ref["column_levels"])
    out = ct.crosstab(d, row, column, within=within)
    assert list(out.columns) == [row, column, "estimate", "se", "ci_low", "ci_high", "n", "n_base", "deff"]
    ours = r_order(out, nr, nc, within)
    close(ours.estimate, ref[key]["estimate"])
    close(ours.se, ref[key]["se"])
    close(ours.deff, ref[key]["deff"])
    q = critical_value(0.95)
    close(out.ci_low, out.estimate - q * out.se, rtol=1e-12)
    close(out.ci_high, out.estimate + q * out.se, rtol=1e-12)


def test_proportion_counts_and_bases(designs):
    d = designs["strat_fpc"]
    out = ct.crosstab(d, "apicat_na", "stype", within="row")
    answered = d.data.dropna(subset=["apicat_na"])
    counts = answered.groupby(["apicat_na", "stype"]).size()
    assert out.n.tolist() == counts.tolist()
    assert out.n_base.tolist() == answered.groupby("apicat_na").size().repeat(3).tolist()
    cell = ct.crosstab(d, "apicat_na", "stype", level=0.9)
    assert (cell.n_base == len(answered)).all()
    q = critical_value(0.9)
    close(cell.ci_high - cell.estimate, q * cell.se, rtol=1e-12)


def test_proportions_by_domain_are_the_domain_proportions(designs):
    """Domain estimation: within each awards level, the same numbers as the table restricted to it
    (the estimates; the SEs keep the whole design's strata)."""
    d = designs["strat_fpc"]
    out = ct.crosstab(d, "apicat", "stype", by="awards", within="row")
    assert list(out.columns[:3]) == ["awards", "apicat", "stype"]
    for level, part in out.groupby("awards"):
        sub = d.data[d.data.awards == level]
        shares = sub.groupby(["apicat", "stype"])["pw"].sum() / sub.groupby("apicat")["pw"].sum()
        close(part.set_index(["apicat", "stype"]).estimate, shares.reindex(part.set_index(["apicat", "stype"]).index).fillna(0))


# ---- bad input -------------------------------------------------------------------------------------


def test_a_question_with_one_category_is_refused(designs):
    d = designs["strat_fpc"]
    data = d.data.assign(same="Yes")
    one = SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(ct.CrosstabError, match=r"column 'same' has 1 answer category"):
        ct.chisq(one, "same", "stype")
    with pytest.raises(SatisfactionError, match="'same'"):
        ct.chisq(one, "stype", "same", statistic="Wald")
    # within a domain: the message names the domain
    grouped = SurveyDesign(data.assign(grp=np.where(data.stype == "E", "e", "other")), weights="pw")
    with pytest.raises(ct.CrosstabError, match=r"column 'stype' has 1 answer category in domain grp='e'"):
        ct.chisq(grouped, "apicat", "stype", by="grp")


def test_unknown_statistic_lists_the_allowed_ones(designs):
    with pytest.raises(ct.CrosstabError, match="'F', 'Chisq', 'Wald', 'adjWald', 'saddlepoint', 'lincom'.*'Pearson'"):
        ct.chisq(designs["strat_fpc"], "apicat", "stype", statistic="Pearson")
    with pytest.raises(ValueError):
        ct.chisq(designs["strat_fpc"], "apicat", "stype", statistic="f")


def test_other_bad_input_is_named(designs):
    d = designs["strat_fpc"]
    with pytest.raises(ct.CrosstabError, match="row variable 'nope' is not a column"):
        ct.chisq(d, "nope", "stype")
    with pytest.raises(ct.CrosstabError, match="column variable 'nope'"):
        ct.crosstab(d, "stype", "nope")
    with pytest.raises(ct.CrosstabError, match="must differ"):
        ct.table(d, "stype", "stype")
    with pytest.raises(ct.CrosstabError, match="by column 'nope'"):
        ct.table(d, "stype", "apicat", by="nope")
    with pytest.raises(ct.CrosstabError, match="'table', 'row', 'column'"):
        ct.crosstab(d, "stype", "apicat", within="cell")
    with pytest.raises(ValueError, match="method"):
        ct.crosstab(d, "stype", "apicat", method="bootstrap")
    with pytest.raises(SatisfactionError, match="no replicate weights"):
        ct.chisq(d, "stype", "apicat", method="replicate")


# ---- invariants --------------------------------------------------------------------------------------


@st.composite
def samples(draw):
    n = draw(st.integers(40, 120))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    nr, nc = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    return pd.DataFrame({
        "a": rng.integers(0, nr, n), "b": np.array(list("xyz"))[rng.integers(0, nc, n)],
        "psu": rng.integers(0, 12, n), "w": rng.uniform(0.5, 3.0, n),
    })


@settings(derandomize=True, deadline=None, max_examples=25)
@given(samples(), st.floats(0.01, 100.0))
def test_invariants(df, factor):
    d = SurveyDesign(df, weights="w", cluster="psu")
    cell = ct.crosstab(d, "a", "b")
    assert cell.estimate.sum() == pytest.approx(1.0)
    rows = ct.crosstab(d, "a", "b", within="row")
    assert np.allclose(rows.groupby("a").estimate.sum(), 1.0)
    assert ct.table(d, "a", "b")["count"].sum() == pytest.approx(df.w.sum())
    scaled = SurveyDesign(df.assign(w=df.w * factor), weights="w", cluster="psu")
    for statistic in ("F", "Wald"):
        base = ct.chisq(d, "a", "b", statistic=statistic)
        # the tests do not depend on the scale of the weights, nor on which question is the row
        for other in (ct.chisq(scaled, "a", "b", statistic=statistic), ct.chisq(d, "b", "a", statistic=statistic)):
            if np.isfinite(base.statistic):
                assert other.statistic == pytest.approx(base.statistic, rel=1e-8)
                assert other.p_value == pytest.approx(base.p_value, rel=1e-6, abs=1e-12)
