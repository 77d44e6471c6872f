"""Proportions with svyciprop's intervals and all-category shares agree with R's survey package.

Reference numbers: tests/reference/survey_proportion.json, written by
tests/reference/survey_proportion.R (R survey 4.1.1) from the API samples shipped with survey
(tests/reference/data/proportion_*.csv): a stratified design with FPC (apistrat), a one-stage
cluster design (apiclus1), its JK1 replicates and a post-stratified (calibrated) version. `sat5`
is a 5-point score with missing answers; sat5 >= 4 is a common share (~85 %), sat5 == 1 a rare
one (~3 %); domains stype (E large, H and M a few dozen) and top (where the shares are 0 or 1).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction.design import SurveyDesign, jackknife_weights
from satisfaction.estimate import vcov
from satisfaction.errors import SatisfactionError
from satisfaction.survey.proportion import INTERVALS, ProportionError, categories, ciprop, r_spline
from satisfaction.weighting import poststratify_design

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "survey_proportion.json").read_text())
RTOL = 1e-6
INDICATORS = {"common": {"at_least": 4}, "rare": {"category": 1}}
DESIGNS = ("strat", "clus", "jk1", "ps")


def arr(values) -> np.ndarray:
    """R's numbers (NA written as null) as floats."""
    return np.array([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)


def close(ours, theirs, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(ours, float), arr(theirs), rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture(scope="module")
def designs():
    strat = pd.read_csv(REF / "data" / "proportion_apistrat.csv")
    clus = pd.read_csv(REF / "data" / "proportion_apiclus1.csv")
    out = {"strat": SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc"),
           "clus": SurveyDesign(clus, weights="pw", cluster="dnum")}
    out["jk1"] = jackknife_weights(out["clus"], "jk1")
    out["ps"] = poststratify_design(out["clus"], "stype", {"E": 4421, "H": 755, "M": 1018})
    return out


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---- svyciprop, every interval ---------------------------------------------------------------------


def reference(name, ind, interval, part):
    """R's numbers; for likelihood on replicate weights those of R with summary.svrepglm's
    dispersion corrected (R 4.1.1 itself gives NA there)."""
    if name == "jk1" and interval == "likelihood":
        fixed = R["jk1_likelihood_fixed"]
        if part == "whole":
            return fixed[ind]
        if part == "by_stype" and ind == "common":
            return fixed["common_by_stype"]
        return None
    ref = R["ciprop"][name][ind][interval][part]
    return None if "error" in ref else ref


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("ind", INDICATORS)
@pytest.mark.parametrize("name", DESIGNS)
def test_whole_sample_matches_svyciprop(designs, name, ind, interval):
    out = quiet(ciprop, designs[name], "sat5", interval=interval, **INDICATORS[ind])
    ref = reference(name, ind, interval, "whole")
    assert list(out.columns) == ["variable", "estimate", "se", "ci_low", "ci_high", "n", "deff", "interval"]
    assert out.interval.iloc[0] == interval
    close(out.estimate, ref["estimate"])
    close(out.se, ref["se"])
    close([out.ci_low.iloc[0], out.ci_high.iloc[0]], ref["ci"])
    entry = R["ciprop"][name][ind]
    close(out.deff, entry["deff"])
    assert out.n.iloc[0] == entry["n"]


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("ind", INDICATORS)
@pytest.mark.parametrize("name", DESIGNS)
def test_domains_match_svyby_svyciprop(designs, name, ind, interval):
    """Small (H, M) and large (E) domains, each with its own degrees of freedom as svyby gives."""
    out = quiet(ciprop, designs[name], "sat5", by="stype", interval=interval, **INDICATORS[ind])
    assert list(out.columns[:2]) == ["stype", "variable"]
    close(out.deff, R["ciprop"][name][ind]["by_stype_deff"])
    ref = reference(name, ind, interval, "by_stype")
    if ref is None:  # rare answer on JK1 by likelihood: R stops; only E is referenced
        ref = R["jk1_likelihood_fixed"]["rare_by_stype_E"]
        e = out[out.stype == "E"]
        close([e.ci_low.iloc[0], e.ci_high.iloc[0]], ref["ci"])
        return
    assert out.stype.tolist() == ref["names"]
    close(out.estimate, ref["estimate"])
    close(out.se, ref["se"])
    close(out.ci_low, ref["ci_low"])
    close(out.ci_high, ref["ci_high"])


def test_r_likelihood_on_replicates_is_na_and_ours_is_not(designs):
    """R 4.1.1 returns NA for the likelihood interval on replicate weights (a dispersion bug in
    summary.svrepglm); we return the interval R gives once that is corrected."""
    assert R["ciprop"]["jk1"]["common"]["likelihood"]["whole"]["ci"] == [None, None]
    out = ciprop(designs["jk1"], "sat5", at_least=4, interval="likelihood")
    assert 0 < out.ci_low.iloc[0] < out.estimate.iloc[0] < out.ci_high.iloc[0] < 1


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("ind", INDICATORS)
@pytest.mark.parametrize("name", DESIGNS)
def test_domains_where_the_share_is_0_or_1(designs, name, ind, interval):
    """In domain top == "yes" sat5 >= 4 is 1 and sat5 == 1 is 0. R: mean gives [p, p]; logit a
    point interval ~1e-12 from p (its non-converged fit, reproduced); xlogit, asin, beta NaN;
    likelihood stops with an error (we give NaN)."""
    out = quiet(ciprop, designs[name], "sat5", by="top", interval=interval, **INDICATORS[ind])
    edge = out[out.top == "yes"].iloc[0]
    assert edge.estimate == (1.0 if ind == "common" else 0.0) and edge.se == 0
    ref = reference(name, ind, interval, "by_top")
    if ref is None:
        assert np.isnan(edge.ci_low) and np.isnan(edge.ci_high)
        inner = out[out.top == "no"].iloc[0]
        assert 0 < inner.ci_low < inner.estimate < inner.ci_high < 1
        return
    assert out.top.tolist() == ref["names"]
    close(out.estimate, ref["estimate"], atol=1e-9)   # R's logit estimate is expit(β̂) ≈ 3e-12
    close(out.se, ref["se"])
    close(out.ci_low, ref["ci_low"], atol=1e-15)
    close(out.ci_high, ref["ci_high"], atol=1e-15)


@pytest.mark.parametrize("interval", INTERVALS)
def test_level_and_normal_quantile(designs, interval):
    out = ciprop(designs["clus"], "sat5", at_least=4, interval=interval, level=0.9)
    close([out.ci_low.iloc[0], out.ci_high.iloc[0]], R["level90"][interval]["ci"])
    out = ciprop(designs["clus"], "sat5", category=1, interval=interval, df=np.inf)
    if interval == "beta":  # R ignores df for beta; we use it
        default = ciprop(designs["clus"], "sat5", category=1, interval=interval)
        assert out.ci_high.iloc[0] < default.ci_high.iloc[0]
    else:
        close([out.ci_low.iloc[0], out.ci_high.iloc[0]], R["df_inf"][interval]["ci"])


def test_replicate_design_by_linearization_is_the_cluster_design(designs):
    ours = ciprop(designs["jk1"], "sat5", at_least=4, by="stype", interval="likelihood", method="linearization")
    ref = R["ciprop"]["clus"]["common"]["likelihood"]["by_stype"]
    close(ours.ci_low, ref["ci_low"])
    close(ours.ci_high, ref["ci_high"])


# ---- all categories ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DESIGNS)
def test_categories_match_svymean_factor(designs, name):
    out = categories(designs[name], "sat5")
    ref = R["categories"][name]
    assert list(out.columns) == ["variable", "category", "estimate", "se", "ci_low", "ci_high", "n", "deff"]
    assert out.category.tolist() == [1, 2, 3, 4, 5]
    close(out.estimate, ref["estimate"])
    close(out.se, ref["se"])
    close(out.deff, ref["deff"])
    np.testing.assert_allclose(vcov(out).to_numpy(), np.asarray(ref["vcov"]), rtol=RTOL)
    z = 1.959963984540054
    close(out.ci_low, arr(ref["estimate"]) - z * arr(ref["se"]))
    assert out.n.nunique() == 1 and out.n.iloc[0] == designs[name].data.sat5.notna().sum()


@pytest.mark.parametrize("name", DESIGNS)
def test_categories_by_domain_match_svyby_with_covariance(designs, name):
    out = categories(designs[name], "sat5", by="stype")
    ref = R["categories"][name]["by_stype"]
    assert out.stype.tolist() == [s for s in ref["names"] for _ in range(5)]
    assert [str(c) for c in out.category[:5]] == ref["levels"]
    close(out.estimate, ref["estimate"], atol=1e-15)
    close(out.se, ref["se"], atol=1e-15)
    close(out.deff, ref["deff"])
    cov = vcov(out).to_numpy()
    assert cov.shape == (15, 15)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), out.se)
    if "vcov" in ref:  # R orders its covariance category by category; ours is row by row
        perm = (np.arange(5)[None, :] * 3 + np.arange(3)[:, None]).ravel()
        np.testing.assert_allclose(cov, np.asarray(ref["vcov"])[np.ix_(perm, perm)], rtol=RTOL, atol=1e-15)
    else:  # calibrated: R's svyby cannot give the covariance across domains
        assert np.isfinite(cov).all() and np.allclose(cov, cov.T)


def test_categories_of_strings_and_categoricals(designs):
    d = designs["strat"]
    base = categories(d, "sat5", by="stype")
    labels = {1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "很满意"}
    data = d.data.assign(text=d.data.sat5.map(labels),
                         cat=pd.Categorical(d.data.sat5.map(labels), categories=list(labels.values()) + ["无"]))
    sd = SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    cat = categories(sd, "cat", by="stype")
    assert cat.category[:5].tolist() == list(labels.values())   # categorical order, unused dropped
    np.testing.assert_allclose(cat.estimate, base.estimate)
    np.testing.assert_allclose(vcov(cat).to_numpy(), vcov(base).to_numpy())
    text = categories(sd, "text")
    assert text.category.tolist() == sorted(labels.values())
    share = ciprop(sd, "text", category="满意", interval="mean")
    row = text[text.category == "满意"].iloc[0]
    assert share.estimate.iloc[0] == pytest.approx(row.estimate) and share.se.iloc[0] == pytest.approx(row.se)


# ---- R's spline, used by the likelihood interval ------------------------------------------------------


def test_fmm_spline_matches_r():
    s = R["spline"]
    xout, yout = r_spline(s["x"], s["y"])
    close(xout, s["xout"], rtol=1e-12)
    close(yout, s["yout"], rtol=1e-12)
    _, yout4 = r_spline(s["x"][:4], s["y"][:4])
    close(yout4, s["yout4"], rtol=1e-12)
    xout3, yout3 = r_spline(s["x"][:3], s["y"][:3], 7)
    close(xout3, s["xout3"], rtol=1e-12)
    close(yout3, s["yout3"], rtol=1e-12)


# ---- missing values ----------------------------------------------------------------------------------


def test_missing_answers_are_left_out_as_a_domain(designs):
    d = designs["clus"]
    out = ciprop(d, "sat5", at_least=4, by="stype")
    answered = d.data[d.data.sat5.notna()]
    assert out.n.tolist() == answered.groupby("stype").size().tolist()
    # the same share computed on the answered rows only, by hand
    w, y = answered.pw, answered.sat5 >= 4
    assert ciprop(d, "sat5", at_least=4).estimate.iloc[0] == pytest.approx((w * y).sum() / w.sum(), rel=1e-12)


def test_missing_domain_values_belong_to_no_domain(designs):
    d = designs["strat"]
    data = d.data.copy()
    data["area"] = np.where(data.snum % 5 == 0, None, data.stype)
    labelled = data.assign(area=data.area.fillna("other"))
    for interval in INTERVALS:
        a = ciprop(SurveyDesign(data, weights="pw", strata="stype", fpc="fpc"), "sat5", at_least=4, by="area",
                   interval=interval)
        b = ciprop(SurveyDesign(labelled, weights="pw", strata="stype", fpc="fpc"), "sat5", at_least=4, by="area",
                   interval=interval)
        assert a.area.tolist() == ["E", "H", "M"]
        b = b[b.area != "other"].reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns="deff"), b.drop(columns="deff"))


def test_domain_without_answers_gives_nan_not_an_error(designs):
    for name in ("clus", "jk1"):
        d = designs[name]
        data = d.data.assign(sat5=np.where(d.data.stype == "H", np.nan, d.data.sat5))
        sd = SurveyDesign(data, weights="pw", cluster="dnum", replicates=d.replicates)
        for interval in INTERVALS:
            with warnings.catch_warnings():
                warnings.simplefilter("error")   # no spurious "replicates gave NA" warning
                out = ciprop(sd, "sat5", at_least=4, by="stype", interval=interval)
            h = out[out.stype == "H"].iloc[0]
            assert h.n == 0 and np.isnan([h.estimate, h.se, h.ci_low, h.ci_high]).all()
            assert np.isfinite(out[out.stype == "E"][["ci_low", "ci_high"]].to_numpy()).all()
        cats = categories(sd, "sat5", by="stype")
        assert cats[cats.stype == "H"].estimate.isna().all()


# ---- bad arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of at_least= .* or category="),
    ({"at_least": 4, "category": 5}, "exactly one of at_least="),
    ({"at_least": 4, "interval": "wilson"}, "'logit', 'likelihood', 'asin', 'beta', 'mean', 'xlogit'; got 'wilson'"),
    ({"at_least": 4, "level": 95}, "level must be a number between 0 and 1"),
    ({"at_least": "4"}, "at_least must be a finite number"),
    ({"at_least": 4, "by": "city"}, "by= names column.*city"),
    ({"at_least": 4, "df": "many"}, "df must be a number"),
])
def test_bad_arguments_are_named(designs, kwargs, message):
    with pytest.raises(ProportionError, match=message) as info:
        ciprop(designs["strat"], "sat5", **kwargs)
    assert isinstance(info.value, SatisfactionError) and isinstance(info.value, ValueError)


def test_bad_columns_and_designs(designs):
    with pytest.raises(ProportionError, match="no column 'q9'"):
        ciprop(designs["strat"], "q9", at_least=4)
    with pytest.raises(ProportionError, match="no column 'q9'"):
        categories(designs["strat"], "q9")
    with pytest.raises(ProportionError, match="numeric answers; column 'stype' row 0 has 'E'"):
        ciprop(designs["strat"], "stype", at_least=2)
    with pytest.raises(ProportionError, match="SurveyDesign"):
        ciprop(designs["strat"].data, "sat5", at_least=4)
    with pytest.raises(ValueError, match="method"):
        ciprop(designs["strat"], "sat5", at_least=4, method="bootstrap")
    with pytest.raises(SatisfactionError, match="no replicate weights"):
        ciprop(designs["strat"], "sat5", at_least=4, method="replicate")
    with pytest.warns(UserWarning, match="no respondent answered 9"):
        out = ciprop(designs["strat"], "sat5", category=9, interval="mean")
    assert out.estimate.iloc[0] == 0


# ---- properties --------------------------------------------------------------------------------------


@st.composite
def surveys(draw):
    n_psu = draw(st.integers(4, 8))
    sizes = draw(st.lists(st.integers(2, 6), min_size=n_psu, max_size=n_psu))
    n = sum(sizes)
    psu = np.repeat(np.arange(n_psu), sizes)
    weights = np.array(draw(st.lists(st.floats(0.5, 20), min_size=n, max_size=n)))
    answers = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=n, max_size=n)))
    answered = answers[~np.isnan(answers)]
    if len(answered) < 4 or answered.min() == answered.max():
        answers[:4] = [0.0, 1.0, 0.0, 1.0]
    return pd.DataFrame({"psu": psu, "w": weights, "y": answers, "y0": 1 - answers})


@settings(derandomize=True, deadline=None, max_examples=25)
@given(surveys())
def test_intervals_of_a_share_and_its_complement_mirror(data):
    d = SurveyDesign(data, weights="w", cluster="psu")
    for interval in INTERVALS:
        yes = ciprop(d, "y", category=1, interval=interval)
        no = ciprop(d, "y0", category=1, interval=interval)
        np.testing.assert_allclose(yes.estimate, 1 - no.estimate, rtol=1e-12)
        np.testing.assert_allclose(yes.se, no.se, rtol=1e-9)
        np.testing.assert_allclose(yes.ci_low, 1 - no.ci_high, rtol=1e-7, atol=1e-9)   # the interval solvers meet their ends to ~1e-10
        np.testing.assert_allclose(yes.ci_high, 1 - no.ci_low, rtol=1e-7, atol=1e-9)   # the interval solvers meet their ends to ~1e-10


@settings(derandomize=True, deadline=None, max_examples=25)
@given(surveys(), st.floats(0.01, 100))
def test_intervals_do_not_depend_on_the_scale_of_the_weights(data, factor):
    a = SurveyDesign(data, weights="w", cluster="psu")
    b = SurveyDesign(data.assign(w=data.w * factor), weights="w", cluster="psu")
    for interval in INTERVALS:
        x, y = ciprop(a, "y", at_least=1, interval=interval), ciprop(b, "y", at_least=1, interval=interval)
        for col in ("estimate", "se", "ci_low", "ci_high"):
            np.testing.assert_allclose(x[col], y[col], rtol=1e-7, atol=1e-12)
    shares = categories(a, "y")
    assert shares.estimate.sum() == pytest.approx(1)
    # the shares of all answers sum to 1, so their covariance matrix sums to 0 along rows
    np.testing.assert_allclose(vcov(shares).to_numpy().sum(axis=1), 0, atol=1e-12)
