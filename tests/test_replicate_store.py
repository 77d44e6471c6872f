"""Replicates drawn and re-calibrated once, held in compact form (counts and calibration factors),
read by every consumer: the same numbers as the materialised n × B matrix, for every estimator."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import satisfaction as sat
from satisfaction import estimate as est
from satisfaction import reliability as rel
from satisfaction import weighting as wt
from satisfaction.design import SurveyDesign, bootstrap_weights, jackknife_weights
from satisfaction.survey.store import ReplicateStore, blas_threads, calibration_blocks, draw_counts


def national(cities=5, per_city=160, items=6, seed=0):
    """A small national-shaped survey: cities as strata, raked within city on three margins."""
    rng = np.random.default_rng(seed)
    n = cities * per_city
    latent = rng.normal(0, 1, n)
    df = pd.DataFrame({"city": np.repeat([f"C{c}" for c in range(cities)], per_city),
                       "sex": rng.choice(["m", "f"], n), "age": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
                       "edu": rng.choice(["lo", "hi"], n, p=[0.4, 0.6])})
    for j in range(items):
        y = np.clip(np.round(3.6 + 0.8 * latent + rng.normal(0, 0.9, n)), 1, 5)
        y[rng.random(n) < 0.05] = np.nan
        df[f"Q{j + 1}"] = y
    rows = []
    for c in range(cities):
        total = 1000.0 * (c + 1)
        rows += [(f"C{c}", "sex", k, total * p) for k, p in (("m", 0.49), ("f", 0.51))]
        rows += [(f"C{c}", "age", k, total * p) for k, p in (("a", 0.4), ("b", 0.35), ("c", 0.25))]
        rows += [(f"C{c}", "edu", k, total * p) for k, p in (("lo", 0.45), ("hi", 0.55))]
    return df, pd.DataFrame(rows, columns=["city", "variable", "category", "target"])


@pytest.fixture(scope="module")
def raked():
    df, margins = national()
    return wt.rake_design(SurveyDesign(df, strata="city"), margins, by="city"), margins


def both(design, B=40, seed=3):
    """The same bootstrap held as a compact store and as the n × B matrix."""
    compact = bootstrap_weights(design, B, seed=seed, lazy=True)
    held = bootstrap_weights(design, B, seed=seed, lazy=False)
    assert compact.replicates.weights is None and compact.replicates.store is not None
    assert held.replicates.weights is not None
    return compact, held


def test_compact_and_materialised_weights_are_the_same_bits(raked):
    design, margins = raked
    compact, held = both(design)
    assert np.array_equal(compact.replicates.materialize(compact.n).weights, held.replicates.weights)
    # read twice, block by block: the same bits again
    again = compact.replicates.store.materialize()
    assert np.array_equal(again, held.replicates.weights)
    # every replicate reproduces every margin of every city
    W = held.replicates.weights
    data = design.data
    for var in ("sex", "age", "edu"):
        sums = pd.DataFrame(W).groupby([data.city.to_numpy(), data[var].to_numpy()]).sum()
        target = margins[margins.variable == var].set_index(["city", "category"])["target"]
        assert np.allclose(sums.to_numpy(), target.reindex(sums.index).to_numpy()[:, None], rtol=1e-9)


def test_every_estimator_gives_the_same_numbers_from_either_form(raked):
    design, _ = raked
    compact, held = both(design)
    items = [f"Q{j}" for j in range(1, 7)]
    for f in (lambda d: est.mean(d, items, by="city"), lambda d: est.total(d, "Q1", by="city"),
              lambda d: est.proportion(d, items[:3], by="city", at_least=4),
              lambda d: est.ratio(d, "Q1", "Q2", by="city")):
        a, b = f(compact), f(held)
        pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=1e-12)
        assert np.allclose(est.vcov(a).to_numpy(), est.vcov(b).to_numpy(), rtol=1e-12, atol=1e-15)
    blocks = {"A": items[:3], "B": items[3:]}
    pd.testing.assert_frame_equal(rel.replicate_alpha(compact, blocks), rel.replicate_alpha(held, blocks),
                                  rtol=1e-12, atol=1e-12)


def test_the_index_from_either_form(codebook, survey_2024):
    design = wt.survey_design(survey_2024.data, codebook)
    compact, held = both(design, B=30, seed=2024)
    a = sat.index.weighted_scores(compact, codebook, method="replicate")
    b = sat.index.weighted_scores(held, codebook, method="replicate")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=1e-12)
    assert np.allclose(est.vcov(a).to_numpy(), est.vcov(b).to_numpy(), rtol=1e-12, atol=1e-15)


def test_the_store_is_a_fraction_of_the_matrix(raked):
    design, _ = raked
    compact, held = both(design, B=200)
    store = compact.replicates.store
    assert store.nbytes < held.replicates.weights.nbytes / 4
    counts = [part.counts for part in store.parts]
    assert all(c.dtype == np.uint8 for c in counts)
    # drawn once: consumers read the same store object
    assert compact.replicates.store is store


def test_strata_inside_raking_groups_are_drawn_and_re_raked_a_city_at_a_time():
    df, margins = national(cities=3, per_city=200)
    df["district"] = df["city"] + np.where(df.index % 2 == 0, "-east", "-west")
    design = wt.rake_design(SurveyDesign(df, strata="district"), margins, by="city")
    compact, held = both(design, B=30)
    blocks = [part.rows for part in compact.replicates.store.parts]
    assert len(blocks) == 3                     # one block per city, each holding its two districts
    assert np.array_equal(compact.replicates.materialize(design.n).weights, held.replicates.weights)
    pd.testing.assert_frame_equal(est.mean(compact, "Q1", by="city"), est.mean(held, "Q1", by="city"),
                                  rtol=1e-12, atol=1e-12)


def test_calibrating_a_store_later_keeps_it_compact(raked):
    df, margins = national()
    plain = SurveyDesign(df, strata="city")
    compact = wt.rake_replicates(bootstrap_weights(plain, 25, seed=9, lazy=True), margins, by="city")
    held = wt.rake_replicates(bootstrap_weights(plain, 25, seed=9, lazy=False), margins, by="city")
    assert compact.replicates.store is not None and len(compact.replicates.store.parts[0].steps) == 1
    assert np.allclose(compact.replicates.materialize(compact.n).weights, held.replicates.weights,
                       rtol=1e-12, atol=0)


def test_each_city_is_raked_on_its_own(raked):
    """Raking the whole replicate table gives each city exactly what raking that city alone gives:
    a city that has converged stops iterating instead of waiting for the slowest."""
    design, margins = raked
    jk = jackknife_weights(SurveyDesign(design.data, strata="city"))      # full matrix, all cities at once
    whole = wt.rake_replicates(jk, margins, by="city").replicates.weights
    for city in ["C0", "C3"]:
        rows = (design.data.city == city).to_numpy()
        alone = SurveyDesign(design.data[rows], strata="city")
        W = jk.replicates.weights[rows]
        one = wt.rake_replicates(SurveyDesign(alone.data, replicates=jk.replicates.__class__(
            W, "jkn", 1.0, np.ones(W.shape[1]))), margins[margins.city == city], by="city").replicates.weights
        assert np.array_equal(whole[rows], one)


def test_calibration_blocks_join_strata_and_groups():
    strata = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    cities = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    blocks = calibration_blocks(strata, [cities])
    assert blocks == [slice(0, 4), slice(4, 6), slice(6, 8)]
    # a second step joining the last two cities joins their blocks
    blocks = calibration_blocks(strata, [cities, np.array([0, 0, 0, 0, 1, 1, 1, 1])])
    assert blocks == [slice(0, 4), slice(4, 8)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n_psu=st.integers(2, 400), replicates=st.integers(1, 40), seed=st.integers(0, 2**31))
def test_counts_are_the_draws_counted(n_psu, replicates, seed):
    counts = draw_counts(np.random.default_rng(seed), n_psu, replicates)
    draws = np.random.default_rng(seed).integers(0, n_psu, size=(n_psu - 1, replicates), dtype=np.int64)
    expected = np.stack([np.bincount(draws[:, b], minlength=n_psu) for b in range(replicates)], axis=1)
    assert np.array_equal(counts, expected)
    assert (counts.sum(axis=0) == n_psu - 1).all()
    assert counts.dtype == (np.uint8 if counts.max() <= 255 else np.uint16)


def test_blas_threads_are_restored():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with blas_threads():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(t == 1 for t in inside)
    assert after == before


def test_each_answered_pattern_builds_its_coefficients_once(raked):
    design, _ = raked
    calls = []

    def rule(available):
        calls.append(tuple(available))
        w = available.astype(float)
        return pd.DataFrame([w / w.sum()], index=["mean"], columns=available.index)

    data = design.data.copy()
    data.loc[data.city == "C2", "Q3"] = np.nan            # one city answered fewer items
    d = SurveyDesign(data, weights=design.weights, strata="city")
    out = est.linear_combination(d, ["Q1", "Q2", "Q3"], rule, by="city")
    assert len(calls) == 2
    per_city = est.mean(d, ["Q1", "Q2", "Q3"], by="city").pivot(index="city", columns="variable", values="estimate")
    expected = per_city.mean(axis=1, skipna=True)
    assert np.allclose(out.set_index("city")["estimate"], expected)


def test_replicate_alpha_is_bootstrap_alpha_city_by_city(raked):
    design, _ = raked
    held = bootstrap_weights(design, 60, seed=5, lazy=False)
    blocks = {"A": ["Q1", "Q2", "Q3"], "B": ["Q4", "Q5", "Q6"]}
    out = rel.replicate_alpha(held, blocks, by="city")
    assert list(out.columns) == ["city", "block", "alpha", "se", "ci_low", "ci_high", "replicates", "n"]
    assert len(out) == 5 * 2
    W = held.replicates.weights
    for _, row in out.iterrows():
        rows = (held.data.city == row.city).to_numpy()
        ref = rel.bootstrap_alpha(held.data.loc[rows, blocks[row.block]], weights=held.weights[rows],
                                  replicate_weights=W[rows])
        assert row.alpha == pytest.approx(ref["alpha"], abs=1e-12)
        assert row.se == pytest.approx(ref["se"], abs=1e-12)
        assert (row.ci_low, row.ci_high) == pytest.approx((ref["ci_low"], ref["ci_high"]), abs=1e-12)
        assert row.n == ref["n"]


def test_replicate_alpha_on_a_jackknife_gives_wald_intervals(raked):
    design, _ = raked
    jk = jackknife_weights(design)
    out = rel.replicate_alpha(jk, {"A": ["Q1", "Q2", "Q3"]}, by="city")
    q = 1.959963984540054
    assert np.allclose(out["ci_low"], out["alpha"] - q * out["se"])
    with pytest.raises(ValueError, match="at least two items"):
        rel.replicate_alpha(jk, {"A": ["Q1"]})
