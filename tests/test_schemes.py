"""Weight schemes (fixed, equal, AHP, entropy, PCA) and the aggregation rules of the index."""
import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from satisfaction import index as idx
from satisfaction import schemes
from satisfaction.codebook import load_codebook
from satisfaction.errors import CodebookError

# Saaty's published examples (Saaty 1980; Saaty 2008, "Decision making with the analytic hierarchy
# process", Int. J. Services Sciences 1(1)): derived priorities to three decimals and CR.
DRINKS = [[1, 9, 5, 2, 1, 1, 1 / 2], [1 / 9, 1, 1 / 3, 1 / 9, 1 / 9, 1 / 9, 1 / 9],
          [1 / 5, 3, 1, 1 / 3, 1 / 4, 1 / 3, 1 / 9], [1 / 2, 9, 3, 1, 1 / 2, 1, 1 / 3],
          [1, 9, 4, 2, 1, 2, 1 / 2], [1, 9, 3, 1, 1 / 2, 1, 1 / 3], [2, 9, 9, 3, 2, 3, 1]]
DRINKS_PRIORITIES = [0.177, 0.019, 0.042, 0.116, 0.190, 0.129, 0.327]  # coffee … water; CR = 0.022
WEALTH = [[1, 4, 9, 6, 6, 5, 5], [1 / 4, 1, 7, 5, 5, 3, 4], [1 / 9, 1 / 7, 1, 1 / 5, 1 / 5, 1 / 7, 1 / 5],
          [1 / 6, 1 / 5, 5, 1, 1, 1 / 3, 1 / 3], [1 / 6, 1 / 5, 5, 1, 1, 1 / 3, 1 / 3],
          [1 / 5, 1 / 3, 7, 3, 3, 1, 2], [1 / 5, 1 / 4, 5, 3, 3, 1 / 2, 1]]
WEALTH_PRIORITIES = [0.427, 0.230, 0.021, 0.052, 0.052, 0.123, 0.094]  # US … W. Germany; λmax 7.61, CR 0.08


def test_ahp_reproduces_saatys_drinks_example():
    result = schemes.ahp(DRINKS)
    np.testing.assert_allclose(result.weights.round(3), DRINKS_PRIORITIES)
    assert round(result.cr, 3) == 0.022 and result.consistent


def test_ahp_reproduces_saatys_wealth_of_nations_example():
    result = schemes.ahp(WEALTH)
    np.testing.assert_allclose(result.weights.round(3), WEALTH_PRIORITIES)
    assert round(result.lambda_max, 2) == 7.61 and round(result.cr, 2) == 0.08


def test_consistent_matrix_has_zero_cr_and_exact_weights():
    w = np.array([0.5, 0.3, 0.2])
    result = schemes.ahp(w[:, None] / w[None, :])
    np.testing.assert_allclose(result.weights, w)
    assert result.cr == pytest.approx(0.0, abs=1e-12)


def _codebook_with(tmp_path, codebook, ahp_section):
    raw = copy.deepcopy(codebook.raw)
    raw["ahp"] = ahp_section
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_codebook(path)


def test_codebook_ahp_weights_and_provenance(codebook):
    w = schemes.ahp_weights(codebook)
    top = w.node("CSI")
    assert sum(top.values()) == pytest.approx(1.0) and top["E"] > top["S"] > top["R"]
    assert w.provenance["CSI"].startswith("AHP (CR = ") and w.provenance["S"].startswith("codebook")
    table = w.table(codebook)
    assert {"node", "child", "weight", "scheme", "provenance"} <= set(table.columns)


def test_inconsistent_ahp_matrix_is_refused_and_named(tmp_path, codebook):
    cb = _codebook_with(tmp_path, codebook, {"CSI": {"order": ["S", "E", "R"],
                                                     "matrix": [[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]]}})
    with pytest.raises(schemes.WeightSchemeError, match=r"ahp\.CSI: consistency ratio"):
        schemes.ahp_weights(cb)
    accepted = schemes.ahp_weights(cb, allow_inconsistent=True)
    assert "inconsistent" in accepted.provenance["CSI"]


@pytest.mark.parametrize("section, message", [
    ({"CSI": {"order": ["S", "E"], "matrix": [[1, 2], ["1/2", 1]]}}, "must list the children"),
    ({"CSI": {"matrix": [[1, 2, 3], ["1/2", 1, 2], ["1/3", 2, 1]]}}, r"matrix\[2\]\[1\]: 2 is not the reciprocal"),
    ({"CSI": {"matrix": [[1, 2], ["1/2", 1]]}}, "must be 3 × 3"),
    ({"XX": {"matrix": [[1]]}}, "not a node"),
    ({"CSI": {"matrix": [[1, 0, 1], [1, 1, 1], [1, 1, 1]]}}, "must be positive"),
])
def test_bad_ahp_sections_are_named(tmp_path, codebook, section, message):
    with pytest.raises(CodebookError, match=message):
        _codebook_with(tmp_path, codebook, section)


def test_entropy_weights_worked_case():
    # A is the same everywhere (e = 1, weight 0); B = (2, 1, 1): p = (½, ¼, ¼),
    # e = (½ ln 2 + ½ ln 4) / ln 3 = 0.946395, d = 0.053605; C = (1, 0, 0): e = 0, d = 1.
    scores = pd.DataFrame({"A": [1.0, 1, 1], "B": [2.0, 1, 1], "C": [1.0, 0, 0]})
    w = schemes.entropy_weights(scores)
    np.testing.assert_allclose(w, [0.0, 0.053605 / 1.053605, 1 / 1.053605], atol=1e-6)


def test_pca_weights_favour_indicators_that_move_together():
    rng = np.random.default_rng(1)
    common = rng.normal(size=200)
    scores = pd.DataFrame({"a": common + 0.1 * rng.normal(size=200), "b": common + 0.1 * rng.normal(size=200),
                           "c": rng.normal(size=200)})
    w = schemes.pca_weights(scores)
    assert w.sum() == pytest.approx(1.0) and w["a"] > 0.45 and w["b"] > 0.45 and w["c"] < 0.05


@pytest.fixture(scope="module")
def city_means(survey_2024, codebook):
    return idx.unit_item_means(survey_2024.data, codebook)


@pytest.mark.parametrize("scheme", schemes.SCHEMES)
def test_every_scheme_gives_weights_summing_to_one(scheme, codebook, city_means):
    w = schemes.weights_for(scheme, codebook, city_means)
    for node, children in w.weights.items():
        assert sum(children.values()) == pytest.approx(1.0), node
        assert min(children.values()) >= 0


@settings(max_examples=40, deadline=None)
@given(arrays(float, (6, 3), elements=st.floats(0.5, 100)), arrays(float, 3, elements=st.floats(0.05, 1)))
def test_entropy_and_pca_weights_sum_to_one(values, _):
    frame = pd.DataFrame(values, columns=list("abc"))
    for w in (schemes.entropy_weights(frame), schemes.pca_weights(frame)):
        assert w.sum() == pytest.approx(1.0) and (w >= 0).all()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_geometric_never_exceeds_arithmetic(codebook, data):
    items = codebook.index_items
    values = data.draw(arrays(float, (4, len(items)), elements=st.floats(1, 100)))
    frame = pd.DataFrame(values, columns=items)
    arith = idx.aggregate_tree(frame, codebook)
    geo = idx.aggregate_tree(frame, codebook, aggregation="geometric")
    assert (geo.to_numpy() <= arith.to_numpy() + 1e-9).all()


@pytest.mark.parametrize("scheme", schemes.SCHEMES)
@pytest.mark.parametrize("method", ["arithmetic", "geometric"])
def test_constant_respondent_scores_that_constant_under_every_scheme(scheme, method, codebook, city_means):
    w = schemes.weights_for(scheme, codebook, city_means)
    row = pd.DataFrame([[63.0] * len(codebook.index_items)], columns=codebook.index_items)
    out = idx.aggregate_tree(row, codebook, tree_weights=w, aggregation=method)
    np.testing.assert_allclose(out.to_numpy(), 63.0)


def test_missing_rule_needs_the_stated_share_of_weight(codebook):
    ind = codebook.dimensions[0].children[0]
    items = list(ind.weights)
    row = pd.DataFrame([[np.nan] * len(codebook.index_items)], columns=codebook.index_items)
    row.loc[0, items[0]] = 80.0
    share = ind.weights[items[0]] / sum(ind.weights.values())
    below = idx.aggregate_tree(row, codebook, min_share=min(1.0, share + 0.01))
    above = idx.aggregate_tree(row, codebook, min_share=share)
    assert np.isnan(below.loc[0, ind.code]) and above.loc[0, ind.code] == 80.0


def test_stacked_aggregation_equals_the_frame_version(codebook, city_means):
    items = codebook.index_items
    for scheme in ("fixed", "entropy"):
        w = schemes.weights_for(scheme, codebook, city_means)
        for method in ("arithmetic", "geometric"):
            frame = idx.aggregate_tree(city_means, codebook, tree_weights=w, aggregation=method)
            stack = idx.aggregate_arrays(city_means.to_numpy()[None], items, codebook, w.weights,
                                         geometric=method == "geometric")
            for node, values in stack.items():
                np.testing.assert_allclose(values[0], frame[node].to_numpy(), atol=1e-9)


@pytest.fixture(scope="module")
def replicated(survey_2024, codebook):
    from satisfaction.weighting import replicate_design, survey_design

    return replicate_design(survey_design(survey_2024.data, codebook), codebook, replicates=60, seed=3)


def test_fixed_scheme_replicate_scores_match_the_linear_estimator(replicated, codebook):
    linear = idx.weighted_scores(replicated, codebook, method="replicate").set_index(["city", "node"])
    stacked = idx.replicate_scores(replicated, codebook, scheme="fixed").set_index(["city", "node"])
    np.testing.assert_allclose(stacked.loc[linear.index, "estimate"], linear["estimate"], atol=1e-9)
    np.testing.assert_allclose(stacked.loc[linear.index, "se"], linear["se"], rtol=1e-6)


def test_estimated_weights_are_re_estimated_in_every_replicate(replicated, codebook):
    out = idx.replicate_scores(replicated, codebook, scheme="entropy")
    assert out.attrs["weights"].scheme == "entropy"
    assert (out["se"] > 0).all() and (out["ci_low"] < out["estimate"]).all()
    geo = idx.replicate_scores(replicated, codebook, scheme="pca", aggregation="geometric")
    assert geo["estimate"].notna().all()


def test_composite_weights_units_by_size():
    scores = pd.DataFrame({"city": ["a", "b"], "node": ["CSI", "CSI"], "level": [0, 0],
                           "estimate": [70.0, 80.0], "se": [1.0, 2.0]})
    out = idx.composite(scores, pd.Series({"a": 3.0, "b": 1.0}))
    assert out["estimate"] == pytest.approx(72.5)
    assert out["se"] == pytest.approx(np.sqrt(0.75 ** 2 * 1 + 0.25 ** 2 * 4))
    with pytest.raises(ValueError, match="no size"):
        idx.composite(scores, pd.Series({"a": 1.0}))


def test_replicate_and_linear_scores_report_the_same_n(replicated, codebook):
    linear = idx.weighted_scores(replicated, codebook, method="replicate").set_index(["city", "node"])["n"]
    stacked = idx.replicate_scores(replicated, codebook, scheme="fixed").set_index(["city", "node"])["n"]
    pd.testing.assert_series_equal(stacked.loc[linear.index], linear, check_dtype=False)
