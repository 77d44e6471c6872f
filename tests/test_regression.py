"""Design-based regression agrees with R's svyglm (survey 4.1.1) at relative 1e-6.

Reference numbers: tests/reference/survey_regression.json, written by
tests/reference/survey_regression.R from the API samples shipped with R's survey package
(tests/reference/data/regression_*.csv hold exactly the rows R used).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from satisfaction import weighting as wt
from satisfaction.design import DesignError, SurveyDesign, bootstrap_weights, jackknife_weights
from satisfaction.errors import SatisfactionError
from satisfaction.survey.regression import ModelError, SurveyGLMResult, glm
from satisfaction.survey.variance import ReplicateNAWarning

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "survey_regression.json").read_text())
RTOL = 1e-6

MODELS = {
    "gaussian": ("api00 ~ ell + meals + mobility", "gaussian", None),
    "factor": ("api00 ~ ell + stype", "gaussian", None),
    "interaction": ("api00 ~ ell * stype", "gaussian", None),
    "quasibinomial": ("sch.wide ~ ell + meals", "quasibinomial", None),
    "quasipoisson": ("enroll ~ ell + meals", "quasipoisson", None),
    "missing": ("api00 ~ acs.k3 + meals", "gaussian", None),
    "subset_gaussian": ("api00 ~ ell + meals + mobility", "gaussian", 'stype == "E"'),
    "subset_quasibinomial": ("sch.wide ~ ell + meals", "quasibinomial", 'stype == "E"'),
}
DESIGNS = ["strat_fpc", "clus_fpc", "ps_clus", "jk1", "jkn"]


def close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.ravel(np.asarray(ours, float)), np.ravel(np.asarray(theirs, float)),
                               rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def api():
    return {name: pd.read_csv(REF / "data" / f"regression_{name}.csv") for name in ("apistrat", "apiclus1")}


@pytest.fixture(scope="module")
def designs(api):
    strat, clus = api["apistrat"], api["apiclus1"]
    clus_fpc = SurveyDesign(clus, weights="pw", cluster="dnum", fpc="fpc")
    return {
        "strat_fpc": SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc"),
        "clus_fpc": clus_fpc,
        "ps_clus": wt.poststratify_design(clus_fpc, "stype", {"E": 4421, "H": 755, "M": 1018}),
        "jk1": jackknife_weights(SurveyDesign(clus, weights="pw", cluster="dnum"), "jk1"),
        "jkn": jackknife_weights(SurveyDesign(strat, weights="pw", strata="stype"), "jkn"),
    }


# ---- agreement with R ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", DESIGNS)
def test_svyglm(designs, name, model):
    formula, family, subset = MODELS[model]
    design = designs[name]
    ref = R[name][model]
    fit = glm(design, formula, family=family, subset=subset)
    assert fit.method == ("replicate" if name.startswith("jk") else "linearization")
    assert list(fit.params.index) == ref["names"]
    close(fit.params, ref["coef"])
    close(fit.vcov.to_numpy().T, ref["vcov"])          # R's vcov is column-major
    close(fit.se, ref["se"])
    assert fit.df_resid == ref["df_residual"]
    assert fit.nobs == ref["nobs"] or name == "ps_clus"   # R keeps a calibrated design's rows, weight 0
    table = fit.table()
    assert list(table.columns) == ["term", "estimate", "se", "t", "p_value", "ci_low", "ci_high"]
    close(table.t, ref["t"])
    close(table.p_value, ref["p"])
    close(table.ci_low, ref["ci_low"])
    close(table.ci_high, ref["ci_high"])
    if model == "missing":
        return   # R's dispersion with missing values: see test_dispersion_with_missing_values
    if name.startswith("jk"):
        # survey < 4.4-1 scaled svrepglm's Pearson residuals by √n (fixed in 4.4-1): R 4.1.1's
        # dispersion is n times ours, n the rows of its design.
        close(fit.dispersion * ref["design_rows"], ref["dispersion"])
    else:
        close(fit.dispersion, ref["dispersion"])


def test_dispersion_with_missing_values(designs, api):
    """R rescales the weights to mean 1 over the design's rows before dropping the rows with
    missing values, and the Pearson residuals' weights over the rows kept, so its dispersion is
    ours times mean(w | rows in the model) / mean(w | all rows). Ours is the plain svyvar of the
    Pearson residuals of the respondents in the model."""
    fit = glm(designs["strat_fpc"], "api00 ~ acs.k3 + meals")
    w = api["apistrat"].pw
    used = api["apistrat"]["acs.k3"].notna()
    close(fit.dispersion * w[used].mean() / w.mean(), R["strat_fpc"]["missing"]["dispersion"])
    r = api["apistrat"].api00[used] - fit.predict()
    a = w[used]
    n = used.sum()
    close(fit.dispersion, (a * (r - (a * r).sum() / a.sum()) ** 2).sum() / a.sum() * n / (n - 1), rtol=1e-12)


def test_confint_level(designs):
    fit = glm(designs["clus_fpc"], "sch.wide ~ ell + meals", family="quasibinomial")
    ref = R["confint90_clus_quasibinomial"]
    ci = fit.confint(0.9)
    close(ci.ci_low, ref["ci_low"]); close(ci.ci_high, ref["ci_high"])
    table = glm(designs["clus_fpc"], "sch.wide ~ ell + meals", family="quasibinomial", level=0.9).table()
    close(table.ci_low, ref["ci_low"]); close(table.ci_high, ref["ci_high"])


@pytest.mark.parametrize("key, name, formula, family, kind", [
    ("strat_gaussian", "strat_fpc", "api00 ~ ell + meals + mobility", "gaussian", "response"),
    ("clus_quasibinomial_response", "clus_fpc", "sch.wide ~ ell + meals", "quasibinomial", "response"),
    ("clus_quasibinomial_link", "clus_fpc", "sch.wide ~ ell + meals", "quasibinomial", "link"),
    ("jk1_quasibinomial_response", "jk1", "sch.wide ~ ell + meals", "quasibinomial", "response"),
])
def test_predict(designs, api, key, name, formula, family, kind):
    fit = glm(designs[name], formula, family=family)
    data = api["apistrat" if name.startswith("strat") else "apiclus1"].head(6)
    pred = fit.predict(data, type=kind, se=True)
    close(pred.estimate, R["predict"][key]["fit"])
    close(pred.se, R["predict"][key]["se"])
    close(fit.predict(data, type=kind), R["predict"][key]["fit"])


# ---- behaviour ------------------------------------------------------------------------------------


def test_predict_fitted_and_missing_covariates(designs, api):
    fit = glm(designs["strat_fpc"], "api00 ~ acs.k3 + meals")
    fitted = fit.predict()
    used = api["apistrat"]["acs.k3"].notna()
    assert list(fitted.index) == list(np.flatnonzero(used))
    new = api["apistrat"].head(8)
    pred = fit.predict(new)
    assert pred.isna().tolist() == new["acs.k3"].isna().tolist()
    close(pred[used.head(8)], fitted.reindex(new.index[used.head(8)]), rtol=1e-12)


def test_domain_by_mask_equals_expression(designs, api):
    d = designs["clus_fpc"]
    a = glm(d, "api00 ~ ell + meals", subset='stype == "E"')
    b = glm(d, "api00 ~ ell + meals", subset=(api["apiclus1"].stype == "E").to_numpy())
    close(a.params, b.params, rtol=1e-12); close(a.vcov, b.vcov, rtol=1e-12)


def test_categorical_outcomes_for_quasibinomial(designs, api):
    d = designs["clus_fpc"]
    ref = glm(d, "sch.wide ~ ell + meals", family="quasibinomial")
    data = api["apiclus1"].assign(yes_no=np.where(api["apiclus1"]["sch.wide"] == 1, "Yes", "No"),
                                  flag=api["apiclus1"]["sch.wide"] == 1)
    d2 = SurveyDesign(data, weights="pw", cluster="dnum", fpc="fpc")
    for outcome in ("yes_no", "flag"):   # R: the first level is failure, the second success
        fit = glm(d2, f"{outcome} ~ ell + meals", family="quasibinomial")
        close(fit.params, ref.params, rtol=1e-12); close(fit.vcov, ref.vcov, rtol=1e-12)
    binomial = glm(d, "sch.wide ~ ell + meals", family="binomial")
    close(binomial.params, ref.params, rtol=1e-12); close(binomial.se, ref.se, rtol=1e-12)
    assert binomial.family == "binomial"


def test_lazy_replicates_match_materialised(api):
    base = SurveyDesign(api["apistrat"], weights="pw", strata="stype")
    lazy = glm(bootstrap_weights(base, 50, seed=3, lazy=True), "sch.wide ~ ell + meals", family="quasibinomial")
    full = glm(bootstrap_weights(base, 50, seed=3, lazy=False), "sch.wide ~ ell + meals", family="quasibinomial")
    close(lazy.vcov, full.vcov, rtol=1e-12)
    assert lazy.replicate_params.shape == (50, 3)


def test_replicates_equal_separate_fits(designs, api):
    """The simultaneous Newton steps give each replicate the fit of its own weights."""
    d = designs["jk1"]
    fit = glm(d, "sch.wide ~ ell + meals", family="quasibinomial")
    reps = d.replicates.weights
    for b in (0, 7, 14):
        one = glm(SurveyDesign(api["apiclus1"], weights=reps[:, b]), "sch.wide ~ ell + meals", family="quasibinomial")
        close(fit.replicate_params.iloc[b], one.params, rtol=1e-7)


def test_singular_replicate_is_dropped_with_warning():
    # level "b" of g lives only in PSU 0: the replicate that deletes PSU 0 cannot estimate it
    rng = np.random.default_rng(1)
    n = 60
    psu = np.repeat(np.arange(6), 10)
    data = pd.DataFrame({"psu": psu, "g": np.where(psu == 0, "b", "a"), "x": rng.normal(size=n)})
    data["y"] = 1 + data.x + (data.g == "b") + rng.normal(size=n)
    d = jackknife_weights(SurveyDesign(data, cluster="psu"), "jk1")
    with pytest.warns(ReplicateNAWarning):
        fit = glm(d, "y ~ x + g")
    assert fit.replicate_params.iloc[0].isna().all() and fit.replicate_params.iloc[1:].notna().all().all()
    thetas = fit.replicate_params.to_numpy()[1:]
    dev = thetas - thetas.mean(axis=0)
    close(fit.vcov, d.replicates.scale * dev.T @ dev, rtol=1e-10)


def test_method_override_and_repr(designs):
    lin = glm(designs["jk1"], "api00 ~ ell", method="linearization")
    assert lin.method == "linearization" and lin.replicate_params is None
    assert "api00 ~ ell" in repr(lin) and isinstance(lin, SurveyGLMResult)
    with pytest.raises(DesignError):
        glm(designs["clus_fpc"], "api00 ~ ell", method="replicate")


# ---- bad input ------------------------------------------------------------------------------------


def test_unknown_column_is_named(designs):
    with pytest.raises(ModelError, match="'ell_pct'.*not a column"):
        glm(designs["strat_fpc"], "api00 ~ ell_pct + meals")
    with pytest.raises(ModelError, match="'sch.wider'"):
        glm(designs["strat_fpc"], "sch.wider ~ meals", family="quasibinomial")


def test_quasibinomial_needs_0_1_outcome(designs):
    with pytest.raises(ModelError, match=r"outcome 'api00' must be 0/1.*quasibinomial.*row \d+"):
        glm(designs["strat_fpc"], "api00 ~ ell", family="quasibinomial")
    with pytest.raises(ModelError, match="more than two levels"):
        glm(designs["strat_fpc"], "stype ~ ell", family="quasibinomial")


def test_unknown_family(designs):
    with pytest.raises(ModelError, match="family must be one of 'gaussian', 'quasibinomial'.*'gamma'"):
        glm(designs["strat_fpc"], "api00 ~ ell", family="gamma")
    with pytest.raises(SatisfactionError):
        glm(designs["strat_fpc"], "api00 ~ ell", family=None)


def test_other_bad_input(designs, api):
    d = designs["strat_fpc"]
    with pytest.raises(ModelError, match="outcome ~ terms"):
        glm(d, "api00")
    with pytest.raises(ModelError, match="'I\\(2 \\* ell\\)' .*linear combination"):
        glm(d, "api00 ~ ell + I(2 * ell)")
    with pytest.raises(ModelError, match="'stypeH'.*zero for every respondent"):
        glm(d, "api00 ~ ell + stype", subset='stype == "E"')
    with pytest.raises(ModelError, match="one value per row"):
        glm(d, "api00 ~ ell", subset=np.ones(3, bool))
    with pytest.raises(ModelError, match="selects no respondents"):
        glm(d, "api00 ~ ell", subset='stype == "X"')
    with pytest.raises(ModelError, match="must be finite"), np.errstate(divide="ignore"):
        glm(d, "api00 ~ np.log(ell)")          # ell is 0 for some schools
    with pytest.raises(ValueError, match="level"):
        glm(d, "api00 ~ ell", level=95)
    with pytest.raises(ModelError, match="type must be"):
        glm(d, "api00 ~ ell").predict(type="terms")


# ---- properties -----------------------------------------------------------------------------------


@st.composite
def samples(draw):
    n_psu = draw(st.integers(3, 8))
    size = draw(st.lists(st.integers(2, 6), min_size=n_psu, max_size=n_psu))
    psu = np.repeat(np.arange(n_psu), size)
    n = len(psu)
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"psu": psu, "x": rng.normal(size=n), "w": rng.uniform(0.5, 3, size=n)})
    data["y"] = 2 + data.x + rng.normal(size=n)
    data["b"] = (rng.uniform(size=n) < 0.5).astype(float)
    return data


@settings(derandomize=True, deadline=None, max_examples=25)
@given(samples())
def test_intercept_only_is_the_mean(data):
    """``y ~ 1`` is the weighted mean, with the mean's influence values w (y − ȳ)/Σw."""
    d = SurveyDesign(data, weights="w", cluster="psu")
    fit = glm(d, "y ~ 1")
    w, y = data.w.to_numpy(), data.y.to_numpy()
    ybar = (w * y).sum() / w.sum()
    var = d.linearized_variance((w * (y - ybar) / w.sum())[:, None])[0, 0]
    close(fit.params, [ybar], rtol=1e-10); close(fit.se, [np.sqrt(var)], rtol=1e-8)


@settings(derandomize=True, deadline=None, max_examples=25)
@given(samples(), st.floats(0.01, 100))
def test_weight_scale_and_row_order_do_not_matter(data, c):
    try:
        base = glm(SurveyDesign(data, weights="w", cluster="psu"), "b ~ x", family="quasibinomial")
    except ModelError:   # separation in a tiny sample
        assume(False)
    scaled = glm(SurveyDesign(data.assign(w=data.w * c), weights="w", cluster="psu"), "b ~ x", family="quasibinomial")
    shuffled = data.sample(frac=1, random_state=0)
    permuted = glm(SurveyDesign(shuffled, weights="w", cluster="psu"), "b ~ x", family="quasibinomial")
    for other in (scaled, permuted):
        close(other.params, base.params, rtol=1e-6); close(other.vcov, base.vcov, rtol=1e-5)
