"""Monte Carlo rank uncertainty and Sobol sensitivity."""
import numpy as np
import pandas as pd
import pytest

from satisfaction import index as idx
from satisfaction.sensitivity import rank_sensitivity, sobol_indices


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
