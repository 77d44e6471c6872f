"""Designs added to the survey engine, checked against R survey 4.1.1.

Fixtures: ``tests/reference/survey_designs.R`` → ``survey_designs.json`` and the
``data/designs_*.csv`` files it writes (the data and weights R used). Agreement at a relative 1e-6
(absolute 1e-8 for numerical zeros), covariance matrices included.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from satisfaction import estimate as est
from satisfaction import weighting as wt
from satisfaction.design import DesignError, Replicates, SurveyDesign, brr_weights, jackknife_weights
from satisfaction.survey.replicates import hadamard
from satisfaction.survey.variance import ReplicateNAWarning

HERE = Path(__file__).parent / "reference"
R = json.loads((HERE / "survey_designs.json").read_text(encoding="utf-8"))


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / f"designs_{name}.csv", dtype={"cds": str})


def close(ours, ref, rtol=1e-6, atol=1e-8):
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray([np.nan if v is None else v for v in np.ravel(ref)], dtype=float).reshape(np.shape(ref))
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol)


def check_stat(frame: pd.DataFrame, ref: dict, *, vcov=True):
    """A tidy estimate table against one of R's svymean/svytotal/svyratio results."""
    close(frame["estimate"], ref["estimate"])
    # an SE that calibration makes zero is a rounding residue in both: compare on the estimate's scale
    scale = float(np.nanmax(np.abs(frame["estimate"])))
    close(frame["se"], ref["se"], atol=max(1e-6, 1e-11 * scale))
    if vcov:
        close(est.vcov(frame), ref["vcov"], atol=max(1e-6, 1e-11 * scale) ** 2 + 1e-6)


def check_design(design: SurveyDesign, ref: dict, *, total=True, by="stype"):
    check_stat(est.mean(design, ["api00", "api99"]), ref["mean"])
    if total:
        check_stat(est.total(design, "enroll"), ref["total"])
    if by and f"by_{by}" in ref:
        b = est.mean(design, "api00", by=by)
        assert b[by].astype(str).tolist() == ref[f"by_{by}"]["domains"]
        close(b["estimate"], ref[f"by_{by}"]["estimate"])
        # R's svyby SE column comes from the domain's subset design; its covmat from the whole design,
        # which is what ours are (they differ only for lonely PSUs with "average": see the lonely tests)
        close(est.vcov(b), ref[f"by_{by}"]["vcov"], atol=1e-6)
    assert design.degf() == ref["degf"]


# ---- multistage ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clus2():
    return data("apiclus2")


def test_two_stage_design_with_fpc_at_both_stages(clus2):
    design = SurveyDesign(clus2, weights="w_two_stage_fpc", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    check_design(design, R["two_stage_fpc"])


def test_two_stage_design_without_fpc_is_the_ultimate_cluster_estimator(clus2):
    design = SurveyDesign(clus2, weights="pw", cluster=["dnum", "snum"])
    check_design(design, R["two_stage_nofpc"])
    one_stage = SurveyDesign(clus2, weights="pw", cluster="dnum")
    close(est.mean(one_stage, "api00")["se"], R["two_stage_nofpc"]["mean"]["se"][0])


def test_stratified_two_stage_design(clus2):
    design = SurveyDesign(clus2, weights="w_two_stage_strat", strata="dstratum", cluster=["dnum", "snum"],
                          fpc=["fpc1_strat", "fpc2"])
    check_design(design, R["two_stage_strat"])


def test_jackknife_of_a_two_stage_design_uses_the_first_stage(clus2):
    design = SurveyDesign(clus2, weights="w_two_stage_fpc", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    jk = jackknife_weights(design, "jk1")
    ref = R["two_stage_fpc_jk1"]
    assert jk.replicates.scale == pytest.approx(ref["replicates"]["scale"], rel=1e-12)
    check_stat(est.mean(jk, ["api00", "api99"]), ref["mean"])
    assert jk.degf() == ref["degf"]


# ---- lonely PSUs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lonely():
    return data("lonely")


@pytest.mark.parametrize("rule", ["certainty", "remove", "adjust", "average"])
def test_lonely_psu_rules_as_survey_lonely_psu(lonely, rule):
    design = SurveyDesign(lonely, weights="pw", strata="stype", cluster="dnum", lonely_psu=rule)
    ref = R[f"lonely_{rule}"]
    # survey 4.1.1 centres an "adjust" lonely PSU's total on zero, survey ≥ 4.2 on the grand mean of the
    # PSU totals (as documented); the two agree for means, whose influence values sum to zero —
    # totals under "adjust" are checked against the documented rule below.
    check_design(design, ref, total=rule != "adjust")
    b = est.mean(design, "api00", by="dom")
    close(b["estimate"], ref["by_dom"]["estimate"])
    close(est.vcov(b), ref["by_dom"]["vcov"], atol=1e-6)
    if rule != "average":  # R's se column of svyby(…"average") counts only the strata inside the domain
        close(b["se"], ref["by_dom"]["se"], atol=1e-6)
    jk = jackknife_weights(design, "jkn")
    jref = ref["jkn"]
    assert jk.replicates.n_replicates == jref["replicates"]["n_replicates"]
    assert jk.replicates.scale == pytest.approx(jref["replicates"]["scale"], rel=1e-12)
    np.testing.assert_allclose(np.sort(jk.replicates.rscales), np.sort(jref["replicates"]["rscales"]), rtol=1e-12)
    check_stat(est.mean(jk, ["api00", "api99"]), jref["mean"])
    assert jk.degf() == jref["degf"]


def test_adjust_centres_a_lonely_psu_on_the_grand_mean(lonely):
    """Totals under "adjust": the lonely PSU's total minus the mean of all PSU totals (survey ≥ 4.2)."""
    design = SurveyDesign(lonely, weights="pw", strata="stype", cluster="dnum", lonely_psu="adjust")
    removed = SurveyDesign(lonely, weights="pw", strata="stype", cluster="dnum", lonely_psu="remove")
    z = (lonely["pw"] * lonely["enroll"]).to_numpy()
    totals = pd.Series(z).groupby([lonely["stype"].to_numpy(), lonely["dnum"].to_numpy()]).sum()   # PSUs nest in strata
    lonely_total = totals["H"].iloc[0]
    expected = est.total(removed, "enroll")["se"][0] ** 2 + (lonely_total - totals.mean()) ** 2
    assert est.total(design, "enroll")["se"][0] ** 2 == pytest.approx(expected, rel=1e-10)


def test_lonely_psu_fail_names_the_stratum(lonely):
    design = SurveyDesign(lonely, weights="pw", strata="stype", cluster="dnum")
    with pytest.raises(DesignError, match=r"stratum 'H' has only one PSU"):
        est.mean(design, "api00")
    with pytest.raises(DesignError, match=r"stratum 'H' has only one PSU"):
        jackknife_weights(design, "jkn")


def test_unknown_lonely_psu_rule_is_refused(lonely):
    with pytest.raises(DesignError, match=r"lonely_psu must be one of 'fail', 'certainty', 'remove', 'adjust', "
                                          r"'average'.*got 'ignore'"):
        SurveyDesign(lonely, weights="pw", strata="stype", cluster="dnum", lonely_psu="ignore")


# ---- jackknife with FPC -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strat():
    return data("apistrat")


@pytest.fixture(scope="module")
def clus1():
    return data("apiclus1")


def test_fpc_designs_and_their_jackknives(strat, clus1):
    strat_fpc = SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    clus_fpc = SurveyDesign(clus1, weights="pw", cluster="dnum", fpc="fpc")
    check_design(strat_fpc, R["strat_fpc"])
    check_design(clus_fpc, R["clus_fpc"])
    jkn, jk1 = jackknife_weights(strat_fpc, "jkn"), jackknife_weights(clus_fpc, "jk1")
    for design, key in ((jkn, "jkn_fpc"), (jk1, "jk1_fpc")):
        ref = R[key]
        assert design.replicates.scale == pytest.approx(ref["replicates"]["scale"], rel=1e-12)
        np.testing.assert_allclose(np.sort(design.replicates.rscales), np.sort(ref["replicates"]["rscales"]), rtol=1e-12)
        check_design(design, ref)
    # R's analysis weights, one column per dropped PSU (ours: PSUs in sorted order)
    theirs = pd.read_csv(HERE / R["jk1_fpc"]["analysis_weights_csv"]).drop(columns="id").to_numpy()
    order = np.argsort([int(p) for p in R["jk1_fpc"]["dropped_psu"]])
    np.testing.assert_allclose(jk1.replicates.weights, theirs[:, order], rtol=1e-12)


# ---- BRR and Fay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 7, 11, 15, 27, 100])
def test_hadamard_matrices_are_rs(n):
    ref = R["hadamard"][f"n{n}"]
    np.testing.assert_array_equal(hadamard(n), np.array(ref["matrix"]))


@pytest.mark.parametrize("name, cluster", [("clus", "dnum"), ("strat", None)])
def test_brr_and_fay_replicates_as_as_svrepdesign(name, cluster):
    frame = data(f"brr_api{'clus1' if name == 'clus' else 'strat'}")
    lin = SurveyDesign(frame, weights="pw", strata="pair", cluster=cluster)
    check_design(lin, R[f"brr_{name}_lin"])
    for kind, rho in (("brr", 0.0), ("fay", 0.3)):
        ref = R[f"{kind}_{name}"]
        design = brr_weights(lin, fay_rho=rho)
        multipliers = pd.read_csv(HERE / ref["replication_weights_csv"]).drop(columns="id").to_numpy()
        np.testing.assert_allclose(design.replicates.weights / frame["pw"].to_numpy()[:, None], multipliers, rtol=1e-12)
        assert design.replicates.scale == pytest.approx(ref["replicates"]["scale"], rel=1e-12)
        check_design(design, ref)


def test_brr_needs_pairs(strat):
    odd = strat.drop(index=strat.index[strat["stype"] == "H"][:1])
    with pytest.raises(DesignError, match="BRR needs two PSUs in every stratum .*stratum 'H' has 49"):
        brr_weights(SurveyDesign(odd, weights="pw", strata="stype"))


# ---- calibration on replicate designs ----------------------------------------------------------------


POP = R["calibration_populations"]


def _start(frame: pd.DataFrame, kind: str) -> SurveyDesign:
    if kind == "jkn":
        return jackknife_weights(SurveyDesign(frame, weights="pw", strata="stype"), "jkn")
    return jackknife_weights(SurveyDesign(frame, weights="pw", cluster="dnum"), "jk1")


def _calibrated(frame, kind, how):
    pop = POP["apistrat" if kind == "jkn" else "apiclus1"]
    stype = dict(zip("EHM", pop["stype"]))
    design = _start(frame, kind)
    if how == "cal_linear":
        totals = {"(Intercept)": pop["N"], "stypeH": stype["H"], "stypeM": stype["M"], "enroll": pop["enroll"]}
        return wt.calibrate_design(design, formula="~ stype + enroll", population=totals)
    if how == "cal_raking":
        totals = {"(Intercept)": pop["N"], "stypeH": stype["H"], "stypeM": stype["M"]}
        return wt.calibrate_design(design, formula="~ stype", population=totals, method="raking", tol=1e-13)
    if how == "poststrat":
        return wt.poststratify_design(design, "stype", stype)
    return wt.rake_design(design, {"stype": stype, "sch.wide": dict(zip(["No", "Yes"], pop["sch.wide"]))}, tol=1e-13)


@pytest.mark.parametrize("kind", ["jkn", "jk1"])
@pytest.mark.parametrize("how", ["cal_linear", "cal_raking", "poststrat", "rake"])
def test_calibration_of_replicate_designs(strat, clus1, kind, how):
    frame = strat if kind == "jkn" else clus1
    ref = R[f"{kind}_{how}"]
    design = _calibrated(frame, kind, how)
    close(design.weights, ref["weights"], rtol=1e-8)
    check_design(design, ref)
    if "analysis_weights_csv" in ref:
        theirs = pd.read_csv(HERE / ref["analysis_weights_csv"]).drop(columns="id").to_numpy()
        order = np.argsort([int(p) for p in R["jk1_fpc"]["dropped_psu"]])
        np.testing.assert_allclose(design.replicates.weights, theirs[:, order], rtol=1e-7, atol=1e-9)


def test_replicates_drawn_after_calibration_are_recalibrated(clus1):
    """Calibrating and then drawing the jackknife gives R's calibrated replicate design."""
    pop = POP["apiclus1"]
    stype = dict(zip("EHM", pop["stype"]))
    first = wt.poststratify_design(SurveyDesign(clus1, weights="pw", cluster="dnum"), "stype", stype)
    later = jackknife_weights(first, "jk1")
    now = _calibrated(clus1, "jk1", "poststrat")
    np.testing.assert_allclose(later.replicates.weights, now.replicates.weights, rtol=1e-12)
    check_stat(est.mean(later, ["api00", "api99"]), R["jk1_poststrat"]["mean"])


# ---- a domain empty in some replicates ----------------------------------------------------------------


def test_domain_empty_in_a_replicate_drops_it_with_rs_warning():
    tiny = data("tiny_domain")
    lin = SurveyDesign(tiny, weights="w", cluster="psu")
    check_stat(est.mean(lin, "y", by="dom"), R["tiny_lin"]["by_dom"], vcov=False)
    jk = jackknife_weights(lin, "jk1")
    with pytest.warns(ReplicateNAWarning, match="1 replicates gave NA results and were discarded."):
        b = est.mean(jk, "y", by="dom")
    ref = R["tiny_jk1"]["by_dom"]
    close(b["estimate"], ref["estimate"])
    close(b["se"], ref["se"])                       # the SE of x is 0, not NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplicateNAWarning)
        # R's covmat drops the NA replicate for every domain; ours per estimate, as its SE column does
        v = est.vcov(b).to_numpy()
    assert v[1, 1] == pytest.approx(ref["se"][1] ** 2, rel=1e-9)
    assert v[0, 0] == 0 and v[0, 1] == 0


# ---- covariance across domains and variables; contrasts --------------------------------------------------


@pytest.mark.parametrize("key, build", [
    ("by2_lin", lambda s, c: SurveyDesign(s, weights="pw", strata="stype", fpc="fpc")),
    ("by2_jkn", lambda s, c: jackknife_weights(SurveyDesign(s, weights="pw", strata="stype", fpc="fpc"), "jkn")),
    ("by2_clus", lambda s, c: SurveyDesign(c, weights="pw", cluster="dnum", fpc="fpc")),
])
def test_covariance_of_domain_means_and_contrasts(strat, clus1, key, build):
    ref = R[key]
    design = build(strat, clus1)
    b = est.mean(design, ["api00", "api99"], by="stype")
    # R orders E:api00, H:api00, M:api00, E:api99, …
    order = b.sort_values(["variable", "stype"]).index
    b = b.loc[order]
    close(b["estimate"], ref["by"]["estimate"])
    close(b["se"], ref["by"]["se"])
    close(est.vcov(b), ref["by"]["vcov"], atol=1e-6)
    api00 = b[b["variable"] == "api00"]
    c = est.contrast(api00, {"H - E": {"H": 1, "E": -1}, "M - E": {"M": 1, "E": -1}, "M - H": {"M": 1, "H": -1}})
    close(c["estimate"], ref["contrasts"]["estimate"])
    close(c["se"], ref["contrasts"]["se"])
    pairs = est.compare(api00)
    # ours: E − H, E − M, H − M; R's: H − E, M − E, M − H
    close(-pairs["difference"], ref["contrasts"]["estimate"])
    close(pairs["p"], ref["pvalues"]["raw"])
    close(pairs["p_holm"], ref["pvalues"]["holm"])
    close(pairs["p_bh"], ref["pvalues"]["BH"])
    # multcomp integrates with mvtnorm at its default abseps = 1e-3 (the critical value to about 1e-3),
    # ours by quasi-Monte Carlo (≈ 2e-4; see test_ranking for the agreement at mvtnorm's abseps = 1e-5)
    assert pairs.attrs["critical_value"] == pytest.approx(ref["glht"]["critical"], rel=1.5e-3)
    close(-pairs["ci_high"], ref["glht"]["lower"], rtol=1.5e-3)


# ---- estimators on a replicate design use its replicates -----------------------------------------------


def test_fixed_bootstrap_replicates_are_used_by_default(strat):
    reps = pd.read_csv(HERE / R["boot"]["replicate_weights_csv"]).drop(columns="id").to_numpy()
    B = reps.shape[1]
    design = SurveyDesign(strat, weights="pw", replicates=Replicates(reps, "bootstrap", 1 / (B - 1), np.ones(B)))
    ref = R["boot"]
    check_design(design, ref)
    check_stat(est.ratio(design, "api00", "api99"), ref["ratio"])
    r = est.ratio(design, "api00", "api99", by="stype")
    close(r["estimate"], ref["by_stype_ratio"]["estimate"])
    close(est.vcov(r), ref["by_stype_ratio"]["vcov"], atol=1e-12)
    # asking for linearisation still gives it
    lin = est.mean(design, "api00", method="linearization")
    assert lin["se"][0] != pytest.approx(ref["mean"]["se"][0], rel=1e-3)


def test_degrees_of_freedom_as_degf(strat, clus1, clus2, lonely):
    designs = {
        "strat_lin": SurveyDesign(strat, weights="pw", strata="stype"),
        "clus_lin": SurveyDesign(clus1, weights="pw", cluster="dnum"),
        "two_stage_fpc": SurveyDesign(clus2, weights="w_two_stage_fpc", cluster=["dnum", "snum"], fpc=["fpc1", "fpc2"]),
        "jkn_strat": _start(strat, "jkn"), "jk1_clus": _start(clus1, "jk1"),
        "jkn_cal_linear": _calibrated(strat, "jkn", "cal_linear"), "jkn_rake": _calibrated(strat, "jkn", "rake"),
    }
    for key, design in designs.items():
        assert design.degf() == R["degf"][key]["value"], key
