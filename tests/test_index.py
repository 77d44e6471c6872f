"""The fixed-weight index: rescaling, aggregation up the tree, ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from satisfaction.index import aggregate_tree, rescale_items, respondent_scores, unit_scores


def test_rescale_each_item_from_its_own_scale(codebook):
    items = pd.DataFrame({"S1a": [1.0, 3.0, 5.0, np.nan], "S5a": [1.0, 5.5, 10.0, 4.0]})
    out = rescale_items(items, codebook)
    assert out["S1a"].tolist()[:3] == [0.0, 50.0, 100.0] and np.isnan(out.loc[3, "S1a"])
    assert out["S5a"].tolist() == [0.0, 50.0, 100.0, pytest.approx(100 / 3)]


def expected_index(scores: dict[str, float], raw_tree: list) -> float:
    """Independent reading of the codebook YAML: Σ_dim w_dim Σ_ind w_ind Σ_item w_item s_item."""
    return sum(d["weight"] * sum(i["weight"] * sum(w * scores[c] for c, w in i["items"].items())
                                 for i in d["children"]) for d in raw_tree)


def test_aggregation_matches_the_weighted_sum(codebook):
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(rng.uniform(0, 100, size=(5, len(codebook.index_items))), columns=codebook.index_items)
    out = aggregate_tree(scores, codebook)
    for r in range(5):
        assert out.loc[r, "CSI"] == pytest.approx(expected_index(scores.loc[r].to_dict(), codebook.raw["tree"]), rel=1e-12)
    # S1 = 0.5·S1a + 0.5·S1b
    assert out["S1"].to_numpy() == pytest.approx(0.5 * scores["S1a"] + 0.5 * scores["S1b"])
    assert list(out.columns[:4]) == ["CSI", "S", "E", "R"]


def test_missing_item_renormalises_the_weights(codebook):
    scores = pd.DataFrame([dict.fromkeys(codebook.index_items, 50.0)])
    scores.loc[0, "E1a"] = np.nan
    scores.loc[0, "E1b"] = 80.0
    scores.loc[0, "E1c"] = 20.0
    out = aggregate_tree(scores, codebook)
    assert out.loc[0, "E1"] == pytest.approx((0.3 * 80 + 0.3 * 20) / 0.6)
    all_missing = pd.DataFrame([dict.fromkeys(codebook.index_items, np.nan)])
    assert aggregate_tree(all_missing, codebook).isna().all(axis=None)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 100))
def test_constant_respondent_scores_that_constant(codebook, value):
    row = pd.DataFrame([dict.fromkeys(codebook.index_items, value)])
    out = aggregate_tree(row, codebook)
    assert np.allclose(out.to_numpy(dtype=float), value)


@settings(max_examples=60, deadline=None)
@given(arrays(float, 25, elements=st.floats(0, 100)))
def test_index_lies_between_the_lowest_and_highest_item(codebook, values):
    row = pd.DataFrame([values], columns=codebook.index_items)
    index = aggregate_tree(row, codebook).loc[0, "CSI"]
    assert values.min() - 1e-9 <= index <= values.max() + 1e-9


def small_survey(codebook, n=300, seed=0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({c: rng.integers(1, int(codebook.items[c].scale.max) + 1, n).astype(float) for c in codebook.index_items})
    data.loc[rng.random(n) < 0.1, "R3a"] = np.nan
    data["city"] = rng.choice(["450100", "450200", "450300"], n)
    return data


def test_unit_scores_rank_and_counts(codebook):
    data = small_survey(codebook)
    out = unit_scores(data, codebook)
    assert out["n"].sum() == len(data)
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["CSI"].is_monotonic_decreasing
    # mean-level: the city's S1a score is the mean of its respondents' rescaled S1a
    first = out.iloc[0]
    s1a = (data.loc[data.city == first["city"], "S1a"] - 1) / 4 * 100
    s1b = (data.loc[data.city == first["city"], "S1b"] - 1) / 4 * 100
    assert first["S1"] == pytest.approx(0.5 * s1a.mean() + 0.5 * s1b.mean())


def test_unit_scores_do_not_depend_on_row_order(codebook):
    data = small_survey(codebook)
    a = unit_scores(data, codebook)
    b = unit_scores(data.sample(frac=1, random_state=3), codebook)
    pd.testing.assert_frame_equal(a, b)


def test_respondent_level_equals_mean_level_without_missing_items(codebook):
    data = small_survey(codebook).dropna()
    one_city = data.assign(city="450100")
    mean_level = unit_scores(one_city, codebook).loc[0, "CSI"]
    respondent_level = respondent_scores(one_city, codebook)["CSI"].mean()
    assert mean_level == pytest.approx(respondent_level)


def test_tree_coefficients_reproduce_the_aggregation(codebook):
    from satisfaction.index import tree_coefficients

    rng = np.random.default_rng(4)
    scores = pd.DataFrame(rng.uniform(0, 100, size=(3, 25)), columns=codebook.index_items)
    coef = tree_coefficients(codebook)
    expected = aggregate_tree(scores, codebook)
    assert np.allclose(scores.to_numpy() @ coef.T.loc[codebook.index_items].to_numpy(), expected[coef.index].to_numpy())
    assert np.allclose(coef.sum(axis=1), 1.0)
    # an unanswered item: weights re-normalised, as aggregate_tree does
    available = pd.Series(True, index=codebook.index_items)
    available["E1a"] = False
    partial = scores.copy()
    partial["E1a"] = np.nan
    coef = tree_coefficients(codebook, available)
    assert np.allclose(partial.fillna(0).to_numpy() @ coef.T.to_numpy(), aggregate_tree(partial, codebook)[coef.index].to_numpy())


def test_weighted_scores_without_weights_equal_the_unweighted_index(codebook):
    from satisfaction.design import SurveyDesign
    from satisfaction.index import score_table, weighted_scores

    data = small_survey(codebook, n=400)
    table = score_table(weighted_scores(SurveyDesign(data, strata="city"), codebook), codebook).set_index("city")
    plain = unit_scores(data, codebook).set_index("city")
    assert np.allclose(table.loc[plain.index, "CSI"], plain["CSI"])
    assert np.allclose(table.loc[plain.index, "S"], plain["S"])
    assert (table["ci_low"] < table["CSI"]).all() and (table["CSI"] < table["ci_high"]).all()
    assert (table["se"] > 0).all()
