"""Rank confidence sets (csranks), pairwise comparisons (multcomp), change over time."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import ranking as rk

ROOT = Path(__file__).resolve().parents[1]
PISA = ROOT.parent / "shared" / "reference-data" / "pisa2018.csv"
REF = json.loads((Path(__file__).resolve().parent / "reference" / "ranking_reference.json").read_text())


@pytest.fixture(scope="module")
def pisa():
    if not PISA.exists():
        pytest.skip("the shared reference data (pisa2018.csv) is not beside this checkout")
    return pd.read_csv(PISA, encoding="utf-8-sig").set_index("jurisdiction")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pisa_uk_marginal_set_matches_csranks(pisa, seed):
    # csranks vignette: mathematics, diagonal covariance, 95 %, stepdown, 1,000 draws: UK rank 13, [7, 23]
    out = rk.rank_sets(pisa["math_score"], pisa["math_se"] ** 2, simultaneous=False, n_draws=1000, seed=seed)
    uk = out.set_index("jurisdiction").loc["United Kingdom"]  # the unit column is named after the index
    assert uk["rank"] == 13 and abs(uk["lower"] - 7) <= 1 and abs(uk["upper"] - 23) <= 1


def test_pisa_tau_best_matches_csranks(pisa):
    # the 95 % τ-best set for τ = 5 has 12 countries (11 at 90 %)
    assert rk.tau_best(pisa["math_score"], pisa["math_se"] ** 2, 5, seed=1)["in_set"].sum() == 12
    assert rk.tau_best(pisa["math_score"], pisa["math_se"] ** 2, 5, level=0.90, seed=1)["in_set"].sum() == 11


def _units(data):
    p = data.draw(st.integers(3, 12))
    est = np.array(data.draw(st.lists(st.floats(60, 90), min_size=p, max_size=p)))
    se = np.array(data.draw(st.lists(st.floats(0.3, 3), min_size=p, max_size=p)))
    return est, se ** 2


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_rank_set_properties(data):
    est, var = _units(data)
    p = len(est)
    kw = dict(n_draws=300, seed=7)
    two = rk.rank_sets(est, var, simultaneous=True, **kw)
    assert (two["lower"] <= two["rank"]).all() and (two["rank"] <= two["upper"]).all()
    marginal = rk.rank_sets(est, var, simultaneous=False, **kw)
    assert (two["lower"] <= marginal["lower"]).all() and (two["upper"] >= marginal["upper"]).all()
    single = rk.rank_sets(est, var, simultaneous=True, stepdown=False, **kw)
    assert (single["lower"] <= two["lower"]).all() and (single["upper"] >= two["upper"]).all()
    lower = rk.rank_sets(est, var, kind="lower", **kw)
    upper = rk.rank_sets(est, var, kind="upper", **kw)
    assert (lower["upper"] == p).all() and (upper["lower"] == 1).all()
    sizes = [rk.tau_best(est, var, tau, **kw)["in_set"].sum() for tau in range(1, p + 1)]
    assert sizes == sorted(sizes) and sizes[-1] == p


def test_a_unit_with_a_huge_lead_is_first_for_sure():
    est = np.array([99.0, 70, 71, 69.5, 70.2])
    out = rk.rank_sets(est, np.full(5, 0.5), seed=1)
    assert out.loc[0, "lower"] == out.loc[0, "upper"] == 1
    assert rk.tau_best(est, np.full(5, 0.5), 1, seed=1)["in_set"].tolist() == [True, False, False, False, False]


def test_simultaneous_sets_cover_the_true_ranks():
    rng = np.random.default_rng(11)
    theta = np.array([70, 70.5, 71, 72, 72.2, 74, 75, 75.1])
    se = np.array([0.6, 0.8, 0.5, 0.7, 0.9, 0.6, 0.5, 0.8])
    true_rank = rk.point_ranks(theta)
    sims = 500
    covered = 0
    for s in range(sims):
        est = theta + rng.normal(0, se)
        out = rk.rank_sets(est, se ** 2, n_draws=400, seed=s)
        covered += bool(((out["lower"] <= true_rank) & (true_rank <= out["upper"])).all())
    # all eight ranks covered at ≥ 95 %, within three simulation SEs
    assert covered / sims >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / sims)


def test_full_covariance_is_used():
    est = np.array([70.0, 71.0])
    independent = rk.rank_sets(est, np.diag([0.25, 0.25]), seed=1)
    correlated = rk.rank_sets(est, np.array([[0.25, 0.24], [0.24, 0.25]]), seed=1)
    assert independent["upper"].max() == 2 and correlated.loc[1, "upper"] == 1  # the difference is precise


def test_pairwise_intervals_agree_with_multcomp():
    out = rk.pairwise(np.array(REF["estimate"]), np.array(REF["cov"]), names=REF["units"])
    # multcomp's default mvtnorm integration is accurate to about 1e-3 in the critical value
    assert out.attrs["critical_value"] == pytest.approx(REF["critical"], abs=2e-3)
    ref = {c: (d, lo, hi) for c, d, lo, hi in zip(REF["contrasts"], REF["difference"], REF["lower"], REF["upper"])}
    for _, row in out.iterrows():
        d, lo, hi = ref[f"{row['unit_b']} - {row['unit_a']}"]     # multcomp: later minus earlier
        assert -row["difference"] == pytest.approx(d, abs=1e-9)
        assert (row["ci_high"] - row["ci_low"]) == pytest.approx(hi - lo, rel=1e-3)


def test_tiers_group_only_indistinguishable_units():
    est = pd.Series([80.0, 79.8, 75.0, 74.7, 60.0], index=list("abcde"))
    pairs = rk.pairwise(est, np.full(5, 0.3))
    letters = rk.tiers(est, pairs)
    assert letters["a"] == letters["b"] != letters["c"] and letters["c"] == letters["d"] and len(set(letters)) == 3
    sig = {(a, b) for a, b, s in zip(pairs["unit_a"], pairs["unit_b"], pairs["significant"]) if s}
    for a in est.index:
        for b in est.index:
            if a < b and set(letters[a]) & set(letters[b]):
                assert (a, b) not in sig


def test_change_correlation_and_average():
    now = pd.DataFrame({"unit": ["a", "b"], "estimate": [75.0, 70.0], "se": [0.6, 0.8]})
    before = pd.DataFrame({"unit": ["a", "b"], "estimate": [73.0, 70.5], "se": [0.8, 0.6]})
    out = rk.change(now, before).set_index("unit")
    assert out.loc["a", "change"] == pytest.approx(2.0) and out.loc["a", "se"] == pytest.approx(1.0)
    assert out.loc["a", "significant"] and not out.loc["b", "significant"]
    corr = rk.rank_correlation(pd.Series([1, 2, 3, 4]), pd.Series([1, 2, 3, 4]))
    assert corr["kendall_tau"] == pytest.approx(1.0) and corr["spearman_rho"] == pytest.approx(1.0)
    avg = rk.versus_average(np.array([80.0, 70, 71, 70.5]), np.full(4, 0.2), sizes=[1, 2, 3, 4])
    assert (avg["difference"] * np.array([1, 2, 3, 4])).sum() == pytest.approx(0.0, abs=1e-9)
    assert avg.loc[0, "position"] == "above"


@pytest.mark.parametrize("estimates, cov, kwargs, message", [
    ([70.0], [1.0], {}, "at least two"),
    ([70.0, 71.0], np.ones((3, 3)), {}, "2 × 2"),
    ([70.0, 71.0], [1.0, 1.0], {"kind": "middle"}, "kind"),
    ([70.0, 71.0], [1.0, 1.0], {"level": 1.5}, "level"),
    ([70.0, 71.0], [[1.0, 1.0], [1.0, 1.0]], {}, "zero variance"),
    ([70.0, np.nan], [1.0, 1.0], {}, "finite"),
])
def test_bad_inputs_are_named(estimates, cov, kwargs, message):
    with pytest.raises(rk.RankingError, match=message):
        rk.rank_sets(np.array(estimates), np.array(cov), **kwargs)
