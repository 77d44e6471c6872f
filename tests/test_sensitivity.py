"""Monte Carlo rank uncertainty and Sobol sensitivity."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import index as idx
from satisfaction.sensitivity import (FACTORS, joint_rank_uncertainty, rank_sensitivity, replicate_item_means,
                                      sobol_indices)
from satisfaction.survey.design import Replicates, SurveyDesign, bootstrap_weights
from satisfaction.survey.weighting import replicate_design, survey_design


def ishigami(u, a=7.0, b=0.1):
    x = -np.pi + 2 * np.pi * u
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_estimators_recover_the_ishigami_function():
    # analytic values (Ishigami & Homma 1990; Saltelli et al. 2010): a = 7, b = 0.1
    out = sobol_indices(ishigami, 3, 20_000, seed=1)
    np.testing.assert_allclose(out["first_order"], [0.3139, 0.4424, 0.0], atol=0.03)
    np.testing.assert_allclose(out["total"], [0.5576, 0.4424, 0.2437], atol=0.03)


def test_a_model_that_ignores_an_input_gives_it_zero_total_effect():
    out = sobol_indices(lambda u: u[:, 0] + 2 * u[:, 1], 3, 20_000, seed=2)
    assert out.loc[2, "total"] == pytest.approx(0.0, abs=1e-12)
    assert out["first_order"].sum() == pytest.approx(1.0, abs=0.05)


@pytest.fixture(scope="module")
def city_means(survey_2024, codebook):
    return idx.unit_item_means(survey_2024.data, codebook)


def test_rank_uncertainty_brackets_the_nominal_rank(city_means, codebook):
    out = rank_sensitivity(city_means, codebook, n_draws=200, seed=5)
    r = out.ranks
    assert len(r) == len(city_means) and sorted(r["nominal_rank"]) == list(range(1, len(r) + 1))
    assert ((r["p05"] <= r["nominal_rank"] + 1e-9) | (r["p95"] >= r["nominal_rank"] - 1e-9)).all()
    assert (r["p05"] <= r["median_rank"]).all() and (r["median_rank"] <= r["p95"]).all()
    assert (r["mean_abs_shift"] >= 0).all()
    assert list(out.sobol["factor"]) == ["scheme", "weights", "aggregation", "missing"]
    assert (out.sobol["total"] >= -0.05).all()
    # same seed, same numbers
    again = rank_sensitivity(city_means, codebook, n_draws=200, seed=5)
    pd.testing.assert_frame_equal(out.ranks, again.ranks)


def test_no_uncertainty_means_no_rank_shift(city_means, codebook):
    out = rank_sensitivity(city_means, codebook, schemes=["fixed"], perturbation=0.0, aggregations=["arithmetic"],
                           missing_rules=[0.5], n_draws=50, seed=1)
    assert (out.ranks["mean_abs_shift"] == 0).all()
    assert out.sobol[["first_order", "total"]].isna().all(axis=None)


def test_the_nominal_ranking_is_the_published_one(city_means, codebook):
    out = rank_sensitivity(city_means, codebook, n_draws=20, seed=1)
    published = idx.aggregate_tree(city_means, codebook)[codebook.tree.code].rank(ascending=False, method="first")
    assert dict(zip(out.ranks["unit"], out.ranks["nominal_rank"])) == published.astype(int).to_dict()


# ---- sampling error and method choices in one Monte Carlo -------------------------------------------

FIXED = dict(schemes=["fixed"], perturbation=0.0, aggregations=["arithmetic"], missing_rules=[0.5])


@pytest.fixture(scope="module")
def rep_design(survey_2024, codebook):
    return replicate_design(survey_design(survey_2024.data, codebook), codebook, replicates=20, seed=1)


@pytest.fixture(scope="module")
def weighted_means(rep_design, codebook):
    return idx.unit_item_means(rep_design.data, codebook, weights=rep_design.weights)


@pytest.fixture(scope="module")
def rep_means(rep_design, codebook):
    return replicate_item_means(rep_design, codebook)


def test_replicate_item_means_are_unit_item_means_under_each_replicate_weight(rep_design, rep_means, weighted_means,
                                                                              codebook):
    W = rep_design.require_replicates().weights
    assert rep_means.shape == (20, len(weighted_means), len(codebook.index_items))
    for b in range(W.shape[1]):
        expected = idx.unit_item_means(rep_design.data, codebook, weights=W[:, b])
        assert list(expected.index) == list(weighted_means.index)  # the same unit order for every weight
        np.testing.assert_allclose(rep_means[b], expected[codebook.index_items].to_numpy(), rtol=0, atol=1e-10)


def test_replicates_generated_in_blocks_give_the_same_means(survey_2024, codebook):
    lazy = bootstrap_weights(survey_design(survey_2024.data, codebook), 8, seed=3, lazy=True)
    assert lazy.replicates.weights is None
    held = replace(lazy, replicates=lazy.replicates.materialize(lazy.n))
    np.testing.assert_allclose(replicate_item_means(lazy, codebook), replicate_item_means(held, codebook),
                               rtol=0, atol=1e-10)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), skipped=st.sampled_from([0.0, 0.3, 0.9]), dropped=st.sampled_from([0.0, 0.5]))
def test_replicate_item_means_handle_skipped_answers_and_zero_weights(survey_2024, codebook, seed, skipped, dropped):
    # skipped answers, replicate weights of 0 (a jackknife's dropped PSU): a mean with no weighted answer is NaN
    rng = np.random.default_rng(seed)
    items = codebook.index_items
    data = survey_2024.data.sample(40, random_state=seed % 2**31).reset_index(drop=True)
    data[items] = data[items].mask(rng.random((len(data), len(items))) < skipped)
    W = rng.uniform(0.5, 2.0, (len(data), 4)) * (rng.random((len(data), 4)) >= dropped)
    design = SurveyDesign(data, replicates=Replicates(W, "bootstrap", 1 / 3, np.ones(4)))
    out = replicate_item_means(design, codebook)
    for b in range(4):
        expected = idx.unit_item_means(data, codebook, weights=W[:, b])[items].to_numpy()
        np.testing.assert_array_equal(np.isnan(out[b]), np.isnan(expected))
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=1e-10)


def replicate_ranks(rep_means, units, codebook):
    """Each replicate's published index (codebook weights, arithmetic, min_share 0.5), ranked: B × units."""
    ranks = [idx.aggregate_tree(pd.DataFrame(x, index=units, columns=codebook.index_items), codebook)
             [codebook.tree.code].rank(ascending=False, method="first") for x in rep_means]
    return np.array(ranks, dtype=int)


def test_fixed_method_choices_leave_only_the_sampling_error(weighted_means, rep_means, codebook):
    out = joint_rank_uncertainty(weighted_means, rep_means, codebook, **FIXED, n_draws=1000, seed=4)
    per_replicate = replicate_ranks(rep_means, weighted_means.index, codebook)
    drawn = np.minimum((out.inputs[:, 4] * len(rep_means)).astype(int), len(rep_means) - 1)
    # every run is the published index of the replicate it drew
    np.testing.assert_array_equal(out.rank_draws, per_replicate[drawn])
    r = out.ranks.set_index("unit").loc[weighted_means.index]
    np.testing.assert_allclose(r["mean_rank"], per_replicate[drawn].mean(axis=0))
    np.testing.assert_allclose(r["p05"], np.percentile(per_replicate[drawn], 5, axis=0))
    np.testing.assert_allclose(r["p95"], np.percentile(per_replicate[drawn], 95, axis=0))
    s = out.sobol.set_index("factor")
    assert list(s.index) == [*FACTORS, "sampling"]
    assert s.loc["sampling", "total"] >= 0.95
    assert (s.loc[list(FACTORS), "total"].abs() <= 0.02).all()


def test_without_sampling_error_the_joint_analysis_is_rank_sensitivity(weighted_means, codebook):
    # every replicate equal to the full sample: the method inputs draw the same streams for the same
    # seed (noise from `seed`, Saltelli matrices from `seed + 1`), so the numbers are identical
    flat = np.repeat(weighted_means[codebook.index_items].to_numpy()[None], 5, axis=0)
    for settings_ in ({}, dict(perturbation=0.1, aggregations=["geometric", "arithmetic"], missing_rules=[0.5, 1.0])):
        joint = joint_rank_uncertainty(weighted_means, flat, codebook, n_draws=150, seed=6, **settings_)
        alone = rank_sensitivity(weighted_means, codebook, n_draws=150, seed=6, **settings_)
        pd.testing.assert_frame_equal(joint.ranks, alone.ranks, check_exact=True)
        np.testing.assert_array_equal(joint.rank_draws, alone.rank_draws)
        pd.testing.assert_frame_equal(joint.sobol.iloc[:4], alone.sobol, check_exact=True)
        assert joint.sobol.iloc[4].tolist() == ["sampling", 0.0, 0.0]
        assert alone.sobol["total"].max() > 0  # the method does move the ranks here


def test_joint_ranks_bracket_the_nominal_rank_in_unit_order(weighted_means, rep_means, codebook):
    out = joint_rank_uncertainty(weighted_means, rep_means, codebook, n_draws=200, seed=7)
    r, m = out.ranks, len(weighted_means)
    assert out.draws == 200 and out.rank_draws.shape == (400, m) and out.inputs.shape == (400, 5)
    assert set(r["unit"]) == set(weighted_means.index) and list(r["nominal_rank"]) == list(range(1, m + 1))
    assert ((r["p05"] <= r["nominal_rank"]) & (r["nominal_rank"] <= r["p95"])).all()
    assert ((r["p05"] <= r["median_rank"]) & (r["median_rank"] <= r["p95"])).all()
    published = idx.aggregate_tree(weighted_means, codebook)[codebook.tree.code].rank(ascending=False, method="first")
    assert dict(zip(r["unit"], r["nominal_rank"])) == published.astype(int).to_dict()
    assert list(out.sobol["factor"]) == [*FACTORS, "sampling"] and set(out.choices) == {*FACTORS, "sampling"}
    assert out.sobol[["first_order", "total"]].notna().all(axis=None)
    # rank_draws columns follow the input's units; the per-unit table does not depend on their order
    order = np.random.default_rng(0).permutation(m)
    shuffled = joint_rank_uncertainty(weighted_means.iloc[order], rep_means[:, order], codebook, n_draws=200, seed=7)
    pd.testing.assert_frame_equal(shuffled.ranks, r)
    np.testing.assert_array_equal(shuffled.rank_draws, out.rank_draws[:, order])
    again = joint_rank_uncertainty(weighted_means, rep_means, codebook, n_draws=200, seed=7)
    pd.testing.assert_frame_equal(again.ranks, r)
    pd.testing.assert_frame_equal(again.sobol, out.sobol)


def test_replicate_scores_must_match_the_units_and_items(weighted_means, rep_means, codebook):
    with pytest.raises(ValueError, match="B × units × items"):
        joint_rank_uncertainty(weighted_means, rep_means[:, :-1], codebook, n_draws=10, seed=1)
