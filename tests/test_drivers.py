"""Driver analysis: relative weights and Shapley R² against R (tests/reference/drivers_reference.R)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import drivers

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "drivers_reference.json").read_text())


@pytest.mark.parametrize("case, file", [("mtcars", "mtcars.csv"), ("swiss", "swiss.csv"), ("swiss_weighted", "swiss.csv")])
def test_relative_weights_and_shapley_agree_with_r(case, file):
    ref = R[case]
    data = pd.read_csv(REF / "data" / file)
    weights = ref.get("weights")
    rw = drivers.relative_weights(data, ref["predictors"], ref["outcome"], weights=weights)
    sh = drivers.shapley_r2(data, ref["predictors"], ref["outcome"], weights=weights)
    np.testing.assert_allclose(rw["raw"], [ref["relative_weights"][p] for p in ref["predictors"]], atol=1e-10)
    np.testing.assert_allclose(sh["raw"], [ref["shapley"][p] for p in ref["predictors"]], atol=1e-10)
    assert rw.attrs["r2"] == pytest.approx(ref["r2"], abs=1e-10) and sh.attrs["r2"] == pytest.approx(ref["r2"], abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7))
def test_shares_sum_to_r2(seed, p):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, p)) @ rng.normal(size=(p, p))
    y = x @ rng.normal(size=p) + rng.normal(size=80) * 2
    data = pd.DataFrame(x, columns=[f"x{i}" for i in range(p)]).assign(y=y)
    cols = [f"x{i}" for i in range(p)]
    rw = drivers.relative_weights(data, cols, "y")
    sh = drivers.shapley_r2(data, cols, "y")
    full_r2 = np.corrcoef(np.column_stack([x, np.ones(80)]) @ np.linalg.lstsq(np.column_stack([x, np.ones(80)]), y, rcond=None)[0], y)[0, 1] ** 2
    # rounding in the correlation solves grows with the conditioning of the predictors
    tol = 1e-9 + 1e-15 * np.linalg.cond(np.corrcoef(x, rowvar=False)) ** 2
    assert rw["raw"].sum() == pytest.approx(full_r2, abs=tol) and sh["raw"].sum() == pytest.approx(full_r2, abs=tol)
    assert rw["share"].sum() == pytest.approx(1.0) and sh["share"].sum() == pytest.approx(1.0)


def test_uncorrelated_predictors_get_their_squared_correlations():
    rng = np.random.default_rng(4)
    centred = rng.normal(size=(200, 3))
    x, _ = np.linalg.qr(centred - centred.mean(axis=0))  # orthogonal, mean-zero columns
    y = x @ np.array([3.0, 1.0, 0.5]) + 0.05 * rng.normal(size=200)
    data = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    r = data.corr().loc[["a", "b", "c"], "y"].to_numpy() ** 2
    np.testing.assert_allclose(drivers.shapley_r2(data, ["a", "b", "c"], "y")["raw"], r, atol=1e-3)
    np.testing.assert_allclose(drivers.relative_weights(data, ["a", "b", "c"], "y")["raw"], r, atol=1e-3)


def test_bad_inputs_are_named():
    data = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [1.0] * 6, "y": [2.0, 1, 4, 3, 6, 5]})
    with pytest.raises(ValueError, match="do not vary"):
        drivers.relative_weights(data, ["a", "b"], "y")
    with pytest.raises(ValueError, match="complete rows"):
        drivers.shapley_r2(data.iloc[:3], ["a", "b"], "y")


def test_quadrants():
    assert drivers.quadrant(0.3, 60, 0.2, 70) == "重点改进"
    assert drivers.quadrant(0.3, 80, 0.2, 70, lang="en") == "Keep up the good work"
    assert drivers.quadrant(0.1, 60, 0.2, 70, lang="en") == "Low priority"
    assert drivers.quadrant(0.1, 80, 0.2, 70, lang="en") == "Less important strength"


def test_importance_performance_per_city(survey_2024, codebook):
    out = drivers.importance_performance(survey_2024.data, codebook, by="city", lang="en")
    n_ind = sum(len(d.children) for d in codebook.dimensions)
    assert len(out) == n_ind * survey_2024.data["city"].nunique()
    per_city = out.groupby("city")["importance"].sum()
    np.testing.assert_allclose(per_city, 1.0)
    assert out["performance"].between(0, 100).all()
    assert set(out["quadrant"]) <= set(drivers.QUADRANTS["en"].values())
    shapley = drivers.importance_performance(survey_2024.data, codebook, by=None, method="shapley")
    assert shapley["importance"].sum() == pytest.approx(1.0) and len(shapley) == n_ind


def test_a_city_with_too_few_interviews_gets_no_importance(survey_2024, codebook):
    """Fewer than MIN_ROWS_PER_PREDICTOR complete interviews per indicator: no importance and the
    quadrant "too few", its performance still given; the other cities are analysed as before."""
    data = survey_2024.data
    weak = "451100"
    small = pd.concat([data[data["city"] != weak], data[data["city"] == weak].head(25)], ignore_index=True)
    out = drivers.importance_performance(small, codebook, by="city")
    before = drivers.importance_performance(data, codebook, by="city")
    mine = out[out["city"] == weak]
    assert mine["importance"].isna().all() and (mine["quadrant"] == drivers.QUADRANTS["zh"]["too_few"]).all()
    assert mine["performance"].between(0, 100).all() and (mine["n"] < drivers.MIN_ROWS_PER_PREDICTOR * len(mine)).all()
    pd.testing.assert_frame_equal(out[out["city"] != weak].reset_index(drop=True),
                                  before[before["city"] != weak].reset_index(drop=True))
