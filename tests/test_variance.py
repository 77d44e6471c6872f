"""The one replicate-variance function and interval helper, and invariants of the design engine
(hypothesis, derandomised)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import estimate as est
from satisfaction.design import SurveyDesign, bootstrap_weights, jackknife_weights
from satisfaction.errors import SatisfactionError
from satisfaction.survey.variance import ReplicateNAWarning, confint, critical_value, replicate_variance

SETTINGS = settings(derandomize=True, deadline=None, max_examples=40)


def test_critical_values_are_the_normal_and_t_quantiles():
    assert critical_value(0.95) == pytest.approx(1.959963984540054, rel=1e-12)
    assert critical_value(0.90) == pytest.approx(1.6448536269514722, rel=1e-12)
    assert critical_value(0.95, df=10) == pytest.approx(2.228138851986274, rel=1e-12)    # R: qt(0.975, 10)
    assert critical_value(0.95, df=np.inf) == critical_value(0.95)
    low, high = confint([1.0, 2.0], [0.5, 0.0], 0.95)
    np.testing.assert_allclose(low, [1 - 0.5 * 1.959963984540054, 2.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        critical_value(95)


@SETTINGS
@given(st.integers(3, 30), st.integers(1, 4), st.integers(0, 2 ** 31 - 1), st.booleans())
def test_na_replicates_are_dropped_as_svrvar(B, p, seed, mse):
    """A replicate with NA results is left out of that estimate's variance: the same as computing
    on the other replicates with their rscales and the design's scale (R's svrVar)."""
    rng = np.random.default_rng(seed)
    thetas = rng.normal(size=(B, p))
    rscales = rng.uniform(0.5, 1.5, size=B)
    full = rng.normal(size=p)
    drop = rng.random((B, p)) < 0.2
    drop[0] = False  # keep at least one replicate per column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplicateNAWarning)
        ours = replicate_variance(np.where(drop, np.nan, thetas), full, scale=0.7, rscales=rscales, mse=mse)
    for j in range(p):
        keep = ~drop[:, j]
        expected = replicate_variance(thetas[keep, j], full[j], scale=0.7, rscales=rscales[keep], mse=mse)
        assert ours[j] == pytest.approx(expected, rel=1e-12, abs=1e-15)


@SETTINGS
@given(st.integers(3, 30), st.integers(1, 5), st.integers(0, 2 ** 31 - 1))
def test_covariance_diagonal_is_the_variance_and_psd(B, p, seed):
    rng = np.random.default_rng(seed)
    thetas = rng.normal(size=(B, p))
    cov = replicate_variance(thetas, scale=1 / (B - 1), rscales=np.ones(B), full=True)
    np.testing.assert_allclose(np.diag(cov), replicate_variance(thetas, scale=1 / (B - 1), rscales=np.ones(B)))
    assert np.linalg.eigvalsh(cov).min() > -1e-12
    np.testing.assert_allclose(cov, np.cov(thetas, rowvar=False).reshape(p, p), rtol=1e-10, atol=1e-14)


def test_na_warning_says_how_many_as_r():
    with pytest.warns(ReplicateNAWarning, match=r"^2 replicates gave NA results and were discarded\.$"):
        replicate_variance(np.array([1.0, np.nan, 2.0, np.nan, 3.0]), scale=1, rscales=np.ones(5))


def _frame(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "stratum": rng.integers(0, 3, n), "psu": rng.integers(0, 4, n), "ssu": rng.integers(0, 3, n),
        "w": rng.uniform(1, 5, n), "y": rng.normal(70, 10, n), "g": rng.choice(list("ab"), n),
    })


@SETTINGS
@given(st.integers(0, 2 ** 31 - 1))
def test_without_fpc_later_stages_add_nothing(seed):
    """With no first-stage FPC, a multistage design's variance is the ultimate-cluster one (R)."""
    df = _frame(seed)
    one = SurveyDesign(df, weights="w", strata="stratum", cluster="psu", lonely_psu="certainty")
    two = SurveyDesign(df, weights="w", strata="stratum", cluster=["psu", "ssu"], lonely_psu="certainty")
    a, b = est.mean(one, "y", by="g"), est.mean(two, "y", by="g")
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12)


@SETTINGS
@given(st.integers(0, 2 ** 31 - 1))
def test_carried_covariance_matches_the_se_and_contrasts(seed):
    df = _frame(seed)
    design = SurveyDesign(df, weights="w", strata="stratum", cluster="psu", lonely_psu="certainty")
    for d in (design, jackknife_weights(design, "jkn")):
        out = est.mean(d, ["y", "w"], by="g")
        v = est.vcov(out)
        np.testing.assert_allclose(np.sqrt(np.diag(v)), out["se"], rtol=1e-10)
        a_minus_b = est.contrast(out[out["variable"] == "y"], {"a - b": {"a": 1, "b": -1}})
        part = v.loc[[("a", "y"), ("b", "y")], [("a", "y"), ("b", "y")]].to_numpy()
        assert a_minus_b["se"][0] ** 2 == pytest.approx(part[0, 0] + part[1, 1] - 2 * part[0, 1], rel=1e-10)
        # a filtered, re-ordered table finds its own block
        flipped = out.iloc[::-1]
        np.testing.assert_allclose(np.diag(est.vcov(flipped)), flipped["se"] ** 2, rtol=1e-10)


def test_bootstrap_on_a_calibrated_design_recalibrates_every_replicate():
    df = _frame(3, 300)
    design = SurveyDesign(df, weights="w", strata="stratum")
    from satisfaction import weighting as wt

    raked = wt.rake_design(design, {"g": {"a": 500.0, "b": 700.0}})
    boot = bootstrap_weights(raked, 50, seed=1)
    W = boot.replicates.weights
    sums = pd.DataFrame(W).groupby(df["g"].to_numpy()).sum()
    np.testing.assert_allclose(sums.loc["a"], 500.0, rtol=1e-9)
    np.testing.assert_allclose(sums.loc["b"], 700.0, rtol=1e-9)


def test_old_keyword_spellings_still_work_with_a_warning():
    df = _frame(1)
    design = SurveyDesign(df, weights="w", strata="stratum", cluster="psu", lonely_psu="certainty")
    with pytest.warns(DeprecationWarning, match=r"mean\(ci=\) is deprecated; use level="):
        old = est.mean(design, "y", ci=0.9)
    pd.testing.assert_frame_equal(old, est.mean(design, "y", level=0.9))
    with pytest.raises(TypeError, match="both ci= and level="):
        est.mean(design, "y", ci=0.9, level=0.9)


def test_every_deliberate_error_shares_one_base_class():
    from satisfaction import design, drivers, pls, ranking, reliability, schemes, weighting
    from satisfaction.errors import CodebookError, ValidationError
    from satisfaction.survey import proportion, regression, tables

    for cls in (design.DesignError, weighting.WeightingError, ranking.RankingError, pls.PLSError,
                schemes.WeightSchemeError, reliability.ReliabilityError, drivers.DriverError, CodebookError,
                ValidationError, proportion.ProportionError, regression.ModelError):
        assert issubclass(cls, SatisfactionError), cls
    assert any(issubclass(getattr(tables, n), SatisfactionError) for n in dir(tables) if n.endswith("Error"))


def test_the_engine_names_are_its_functions():
    """``survey.quantile`` is the function even after its module was imported (no module shadows it)."""
    import importlib

    import satisfaction.survey as svy

    for module in ("proportion", "quantiles", "dispersion", "tables", "regression", "variance", "replicates"):
        importlib.import_module(f"satisfaction.survey.{module}")
    for name in svy.__all__:
        assert callable(getattr(svy, name)) and not isinstance(getattr(svy, name), type(svy)), name


def test_rows_with_a_missing_domain_belong_to_none_but_keep_the_design_whole():
    """As ``svyby``: a row whose domain is missing is in no domain; the other domains' estimates and
    SEs are those of the design with that row kept (its PSU and stratum unchanged)."""
    df = _frame(5, 120)
    design = SurveyDesign(df, weights="w", strata="stratum", cluster="psu", lonely_psu="certainty")
    gapped = SurveyDesign(df.assign(g=df["g"].where(df.index % 7 != 0)), weights="w", strata="stratum",
                          cluster="psu", lonely_psu="certainty")
    hole = (df.index % 7 == 0)
    reference = SurveyDesign(df.assign(g=np.where(hole, "zz", df["g"])), weights="w", strata="stratum",
                             cluster="psu", lonely_psu="certainty")
    for d, r in ((gapped, reference), (jackknife_weights(gapped, "jkn"), jackknife_weights(reference, "jkn"))):
        ours = est.mean(d, "y", by="g")
        theirs = est.mean(r, "y", by="g").query("g != 'zz'").reset_index(drop=True)
        assert ours["g"].tolist() == ["a", "b"]
        np.testing.assert_allclose(ours[["estimate", "se"]], theirs[["estimate", "se"]], rtol=1e-12)
        np.testing.assert_allclose(est.vcov(ours), est.vcov(theirs), rtol=1e-12)
    assert est.mean(design, "y", by="g")["n"].sum() == len(df)
