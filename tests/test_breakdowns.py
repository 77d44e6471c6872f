"""Satisfaction rates, province-wide rates, group and region breakdowns (satisfaction.breakdowns)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from satisfaction import breakdowns as bd
from satisfaction.codebook import Node
from satisfaction.errors import SatisfactionError
from satisfaction.index import rescale_items, tree_coefficients, weighted_scores
from satisfaction.survey.estimate import contrast, proportion
from satisfaction.survey.proportion import ciprop
from satisfaction.survey.tables import chisq
from satisfaction.survey.weighting import survey_design


@pytest.fixture(scope="module")
def design(survey_2024, codebook):
    return survey_design(survey_2024.data, codebook)


@pytest.fixture(scope="module")
def rates(design, codebook):
    return bd.satisfaction_rates(design, codebook)


@pytest.fixture(scope="module")
def sizes(codebook):
    return pd.read_csv(codebook.sizes_path, dtype={"city": str}).set_index("city")


@pytest.fixture(scope="module")
def node_scores(design, codebook):
    return weighted_scores(design, codebook)


def five_point(codebook, dim):
    return [i for ind in dim.children for i in ind.weights
            if (codebook.items[i].scale.min, codebook.items[i].scale.max) == (1, 5)]


def hand_shares(data, items, at_least=4):
    x = data[items]
    answered = x.notna().sum(axis=1)
    return ((x >= at_least).sum(axis=1) / answered).where(answered > 0)


# ---- satisfaction rates --------------------------------------------------------------------------------


def test_rates_equal_the_weighted_mean_of_respondent_shares(design, codebook, rates):
    w = pd.Series(design.weights, index=design.data.index)
    groups = {d.code: five_point(codebook, d) for d in codebook.dimensions}
    groups["overall"] = [i for items in groups.values() for i in items]
    assert "E1b" in groups["E"] and "S5a" not in groups["S"]        # freq5 counts, score10 does not
    whole = bd.satisfaction_rates(design, codebook, by=None)
    for name, items in groups.items():
        y = hand_shares(design.data, items)
        ok = y.notna()
        city = design.data.loc[ok, "city"]
        expected = (w[ok] * y[ok]).groupby(city).sum() / w[ok].groupby(city).sum()
        got = rates[rates.dimension == name].set_index("city")["rate"]
        np.testing.assert_allclose(got.reindex(expected.index).to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
        assert whole.loc[whole.dimension == name, "rate"].item() == pytest.approx(
            (w[ok] * y[ok]).sum() / w[ok].sum(), abs=1e-12)
    assert list(rates.columns) == ["city", "dimension", "rate", "se", "ci_low", "ci_high", "n"]
    assert set(rates.dimension) == {"S", "E", "R", "overall"}


def test_a_dimension_of_one_item_gives_the_proportion(design, codebook):
    one = Node(code="X", zh="", en="", level=1, weights={"X1": 1.0},
               children=(Node(code="X1", zh="", en="", level=2, weights={"S1a": 1.0}),))
    single = replace(codebook, tree=replace(codebook.tree, children=(one,)))
    got = bd.satisfaction_rates(design, single)
    got = got[got.dimension == "X"].reset_index(drop=True)
    prop = proportion(design, "S1a", by="city", at_least=4)
    np.testing.assert_allclose(got["rate"], prop["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["se"], prop["se"], rtol=1e-10)
    # the logit interval is svyciprop's xlogit (and its linearised logit, up to R's IRLS tolerance)
    for ours, theirs in (("logit", "xlogit"), ("mean", "mean")):
        mine = bd.satisfaction_rates(design, single, interval=ours)
        mine = mine[mine.dimension == "X"].reset_index(drop=True)
        ref = ciprop(design, "S1a", by="city", at_least=4, interval=theirs)
        np.testing.assert_allclose(mine[["ci_low", "ci_high"]], ref[["ci_low", "ci_high"]], rtol=1e-10)
    ref = ciprop(design, "S1a", by="city", at_least=4, interval="logit")
    np.testing.assert_allclose(got[["ci_low", "ci_high"]], ref[["ci_low", "ci_high"]], atol=1e-6)


def test_replicate_weights_give_the_replicate_se_and_xlogit_interval(design, codebook):
    from satisfaction.survey.weighting import replicate_design

    reps = replicate_design(design, codebook, replicates=20, seed=1)
    one = Node(code="X", zh="", en="", level=1, weights={"X1": 1.0},
               children=(Node(code="X1", zh="", en="", level=2, weights={"E3a": 1.0}),))
    single = replace(codebook, tree=replace(codebook.tree, children=(one,)))
    got = bd.satisfaction_rates(reps, single)
    got = got[got.dimension == "X"].reset_index(drop=True)
    ref = ciprop(reps, "E3a", by="city", at_least=4, interval="xlogit")
    np.testing.assert_allclose(got[["rate", "se", "ci_low", "ci_high"]], ref[["estimate", "se", "ci_low", "ci_high"]],
                               rtol=1e-10)


@pytest.mark.parametrize("interval", bd.INTERVALS)
def test_intervals_lie_in_0_1_and_contain_the_rate(design, codebook, interval):
    out = bd.satisfaction_rates(design, codebook, interval=interval, level=0.9)
    assert out["rate"].between(0, 1).all()
    assert (out["ci_low"] <= out["rate"]).all() and (out["rate"] <= out["ci_high"]).all()
    assert (out["ci_low"] >= 0).all() and (out["ci_high"] <= 1).all()


def test_rates_carry_their_covariance(rates):
    from satisfaction.survey.estimate import vcov

    v = vcov(rates)
    np.testing.assert_allclose(np.sqrt(np.diag(v)), rates["se"], rtol=1e-12)
    assert v.loc[("450100", "S"), ("450200", "S")] == pytest.approx(0.0, abs=1e-15)   # cities are strata


def test_unknown_interval_is_refused(design, codebook):
    with pytest.raises(SatisfactionError, match="interval"):
        bd.satisfaction_rates(design, codebook, interval="wilson")


# ---- province ------------------------------------------------------------------------------------------


def test_province_rates_are_the_size_weighted_sum(rates, sizes):
    size = sizes["retail_sales"]
    out = bd.province_rates(rates, size).set_index("dimension")
    for dim, part in rates.groupby("dimension"):
        a = size.reindex(part["city"]).to_numpy(dtype=float)
        a = a / a.sum()
        rate, se = (a * part["rate"]).sum(), np.sqrt((a ** 2 * part["se"] ** 2).sum())
        assert out.loc[dim, "rate"] == pytest.approx(rate, abs=1e-12)
        assert out.loc[dim, "se"] == pytest.approx(se, abs=1e-12)
        assert out.loc[dim, "ci_low"] == pytest.approx(rate - 1.959963984540054 * se, abs=1e-12)
        assert out.loc[dim, "units"] == 14 and out.loc[dim, "n"] == part["n"].sum()


def test_weighted_province_rate_is_weighted_by_adult_population(design, codebook, rates, sizes):
    # the weights sum to each city's adult population, and every respondent answered some
    # five-point item: the design-weighted province rate is the population-weighted composite
    whole = bd.satisfaction_rates(design, codebook, by=None).set_index("dimension")
    combined = bd.province_rates(rates, sizes["adult_population"]).set_index("dimension")
    np.testing.assert_allclose(whole["rate"], combined.loc[whole.index, "rate"], rtol=1e-6)
    np.testing.assert_allclose(whole["se"], combined.loc[whole.index, "se"], rtol=1e-5)


def test_province_rates_need_every_city(rates, sizes):
    gap = rates.copy()
    gap.loc[0, "rate"] = np.nan
    with pytest.raises(SatisfactionError, match="no rate"):
        bd.province_rates(gap, sizes["adult_population"])


# ---- groups --------------------------------------------------------------------------------------------


def test_group_scores_are_the_weighted_index_of_each_category(design, codebook):
    out = bd.group_scores(design, codebook, "sex")
    items = codebook.index_items
    inside = (design.data["sex"] == 2).to_numpy()
    w = design.weights[inside]
    scores = rescale_items(design.data.loc[inside, items], codebook)
    answered = scores.notna().to_numpy()
    means = (scores.fillna(0).to_numpy() * w[:, None]).sum(axis=0) / (answered * w[:, None]).sum(axis=0)
    index = tree_coefficients(codebook).loc[codebook.tree.code, items].to_numpy() @ means
    row = out.set_index("sex").loc[2]
    assert row["estimate"] == pytest.approx(index, abs=1e-10)
    assert row["node"] == "CSI" and list(out.columns) == ["sex", "node", "estimate", "se", "ci_low", "ci_high", "n"]
    diff = contrast(out, {"female - male": {2: 1, 1: -1}})
    assert diff["estimate"].item() == pytest.approx(out.estimate[1] - out.estimate[0], abs=1e-12)
    dim = bd.group_scores(design, codebook, "residence", node="R")
    assert (dim["node"] == "R").all() and len(dim) == 2


@pytest.fixture(scope="module")
def age_tests(design, codebook):
    return bd.group_tests(design, codebook, "age_group")


def test_rao_scott_test_is_svychisq_on_overall_satisfaction(design, codebook, age_tests):
    assert bd.overall_threshold(codebook, 4) == 8 and bd.overall_threshold(codebook, 5) == 10
    row = age_tests.independence.iloc[0]
    assert 0 <= row["p_value"] <= 1 and row["outcome"] == "OVERALL>=8" and row["test"] == "F"
    x = design.data["OVERALL"].to_numpy(dtype=float)
    work = replace(design, data=design.data.assign(top=np.where(np.isnan(x), np.nan, (x >= 8).astype(float))))
    direct = chisq(work, "age_group", "top")
    assert row["p_value"] == direct.p_value and row["statistic"] == direct.statistic


def test_pairwise_group_differences_are_holm_adjusted(age_tests):
    pairs = age_tests.pairs
    m = len(pairs)
    assert m == 10 and (pairs["p_adjusted"] == pairs["p_holm"]).all()
    assert (pairs["p_holm"] >= pairs["p"] - 1e-15).all()
    ordered = pairs.sort_values("p")
    holm = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * ordered["p"].to_numpy()))
    np.testing.assert_allclose(ordered["p_holm"], holm, rtol=1e-12)
    assert (np.diff(ordered["p_holm"].to_numpy()) >= 0).all()
    scores = age_tests.scores.set_index("age_group")["estimate"]
    first = pairs.iloc[0]
    assert first["difference"] == pytest.approx(scores[first["unit_a"]] - scores[first["unit_b"]], abs=1e-12)


def test_group_tests_refuse_an_unknown_adjustment(design, codebook):
    with pytest.raises(SatisfactionError, match="adjust"):
        bd.group_tests(design, codebook, "sex", adjust="bonferroni")


# ---- regions -------------------------------------------------------------------------------------------

REGIONS = {
    "north": {"zh": "桂北", "en": "Northern Guangxi", "cities": ["450300", "451100", "451200"]},
    "south": {"zh": "桂南", "en": "Southern Guangxi", "cities": ["450100", "450500", "450600", "450700"]},
    "liuzhou": {"zh": "柳州", "en": "Liuzhou", "cities": ["450200"]},
}


@pytest.fixture(scope="module")
def by_region(node_scores, codebook, sizes):
    return bd.region_scores(node_scores, codebook, sizes["adult_population"], regions=REGIONS)


def test_a_region_of_one_city_is_that_city(by_region, node_scores):
    got = by_region.scores[by_region.scores.region == "liuzhou"].set_index("node")
    city = node_scores[node_scores.city == "450200"].set_index("node").loc[got.index]
    np.testing.assert_allclose(got["estimate"], city["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["se"], city["se"], rtol=0, atol=1e-12)
    assert list(got.index) == ["CSI", "S", "E", "R"] and (got["units"] == 1).all()


def test_region_composite_and_pairs(by_region, node_scores, sizes):
    north = node_scores[(node_scores.node == "CSI") & node_scores.city.isin(REGIONS["north"]["cities"])]
    a = sizes["adult_population"].reindex(north["city"]).to_numpy(dtype=float)
    a = a / a.sum()
    row = by_region.scores.set_index(["region", "node"]).loc[("north", "CSI")]
    assert row["estimate"] == pytest.approx((a * north["estimate"]).sum(), abs=1e-12)
    assert row["se"] == pytest.approx(np.sqrt((a ** 2 * north["se"] ** 2).sum()), abs=1e-12)
    pairs = by_region.pairs
    assert len(pairs) == 4 * 3 and (pairs["p_holm"] >= pairs["p"] - 1e-15).all()
    ns = pairs[(pairs.node == "CSI") & (pairs.unit_a == "north") & (pairs.unit_b == "south")].iloc[0]
    south = by_region.scores.set_index(["region", "node"]).loc[("south", "CSI")]
    assert ns["se"] == pytest.approx(np.hypot(row["se"], south["se"]), abs=1e-12)


def test_regions_come_from_the_codebook_and_are_disjoint(by_region, node_scores, codebook, sizes):
    declared = replace(codebook, raw={**codebook.raw, "regions": REGIONS})
    again = bd.region_scores(node_scores, declared, sizes["adult_population"])
    pd.testing.assert_frame_equal(again.scores, by_region.scores)
    undeclared = replace(codebook, raw={k: v for k, v in codebook.raw.items() if k != "regions"})
    with pytest.raises(SatisfactionError, match="no regions"):
        bd.region_scores(node_scores, undeclared, sizes["adult_population"])
    overlap = {**REGIONS, "west": {"cities": ["450200", "451000"]}}
    with pytest.raises(SatisfactionError, match="one region"):
        bd.region_scores(node_scores, codebook, sizes["adult_population"], regions=overlap)


def test_a_composite_refuses_a_missing_unit_rather_than_counting_its_size():
    from satisfaction.index import composite

    scores = pd.DataFrame({"city": ["a", "b"], "node": "CSI", "level": 0, "estimate": [80.0, np.nan], "se": [1.0, 1.0]})
    with pytest.raises(SatisfactionError, match="leave them out"):
        composite(scores, pd.Series({"a": 1.0, "b": 1.0}))
    assert composite(scores.iloc[:1], pd.Series({"a": 1.0, "b": 1.0}))["estimate"] == 80.0
