"""Reliability statistics agree with R's psych (1e-6), and keep their invariants (hypothesis)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import reliability as rel

REF = Path(__file__).resolve().parent / "reference"
PSYCH = json.loads((REF / "psych_reference.json").read_text())
RTOL = 1e-6

DATASETS = {
    "attitude": ("attitude.csv", "pairwise"),
    "bfi_pairwise": ("bfi_items.csv", "pairwise"),
    "bfi_listwise": ("bfi_items.csv", "listwise"),
    "demo_pairwise": ("demo_supply_items.csv", "pairwise"),
    "demo_listwise": ("demo_supply_items.csv", "listwise"),
}


def close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, float), np.ravel(np.asarray(theirs, float)), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("case", list(DATASETS))
def test_agrees_with_psych(case):
    file, missing = DATASETS[case]
    items = pd.read_csv(REF / "data" / file)
    ref = PSYCH[case]
    a = rel.cronbach_alpha(items, missing=missing)
    close(a["alpha"], ref["raw_alpha"]); close(a["std_alpha"], ref["std_alpha"])
    close(a["lambda6"], ref["g6"]); close(a["average_r"], ref["average_r"])
    close(a["ci_low"], ref["feldt_lower"]); close(a["ci_high"], ref["feldt_upper"])
    table = rel.item_analysis(items, missing=missing)
    assert list(table.index) == ref["items"]
    for ours, theirs in [("r_total", "raw_r"), ("r_std", "std_r"), ("r_drop", "r_drop"), ("mean", "mean"),
                         ("sd", "sd"), ("n", "n"), ("alpha_if_deleted", "alpha_drop"),
                         ("std_alpha_if_deleted", "std_alpha_drop"), ("lambda6_if_deleted", "g6_drop")]:
        close(table[ours], ref[theirs])
    overall, per_item = rel.kmo(items, missing=missing)
    close(overall, ref["kmo"]); close(per_item, ref["kmo_items"])
    b = rel.bartlett_sphericity(items, missing=missing, n=ref["n_obs"])
    close(b["chi2"], ref["bartlett_chisq"]); close(b["df"], ref["bartlett_df"])


def test_listwise_ci_uses_the_rows_actually_used():
    """pingouin's cronbach_alpha computes the CI from the row count before listwise deletion."""
    items = pd.read_csv(REF / "data" / "bfi_items.csv")
    a = rel.cronbach_alpha(items)
    used = int(items.notna().all(axis=1).sum())
    assert a["n"] == used < len(items)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(rel.feldt_interval(a["alpha"], used, items.shape[1]))
    wrong = rel.feldt_interval(a["alpha"], len(items), items.shape[1])
    assert a["ci_high"] - a["ci_low"] > wrong[1] - wrong[0]
    import pingouin as pg

    value, pg_ci = pg.cronbach_alpha(items, nan_policy="listwise")
    assert value == pytest.approx(a["alpha"], rel=1e-9)
    assert np.allclose(pg_ci, wrong, atol=1e-3)              # pingouin: n before deletion
    assert not np.allclose(pg_ci, (a["ci_low"], a["ci_high"]), atol=1e-4)
    ref = PSYCH["bfi_listwise"]
    assert a["ci_low"] == pytest.approx(ref["feldt_lower"], rel=1e-6)   # psych on na.omit(data)


def item_matrix(seed: int, n: int = 60, k: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    return pd.DataFrame(latent[:, None] + rng.normal(scale=1.2, size=(n, k)), columns=[f"i{j}" for j in range(k)])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.randoms(use_true_random=False))
def test_alpha_invariant_to_item_order(seed, random):
    items = item_matrix(seed)
    cols = list(items.columns)
    random.shuffle(cols)
    a, b = rel.cronbach_alpha(items), rel.cronbach_alpha(items[cols])
    assert np.allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 50), st.floats(-100, 100))
def test_alpha_invariant_to_a_common_linear_rescaling(seed, scale, shift):
    items = item_matrix(seed)
    a, b = rel.cronbach_alpha(items), rel.cronbach_alpha(items * scale + shift)
    assert a["alpha"] == pytest.approx(b["alpha"], rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 9))
def test_standardised_alpha_is_spearman_brown_of_mean_correlation(seed, k):
    items = item_matrix(seed, k=k)
    a = rel.cronbach_alpha(items)
    r = a["average_r"]
    assert a["std_alpha"] == pytest.approx(k * r / (1 + (k - 1) * r), rel=1e-9)


def test_weighted_alpha_equals_alpha_of_repeated_rows():
    items = item_matrix(3, n=40)
    weights = np.tile([1.0, 2.0, 3.0, 1.0], 10)
    repeated = items.loc[items.index.repeat(weights.astype(int))].reset_index(drop=True)
    weighted = rel.cronbach_alpha(items, weights=weights)
    assert weighted["alpha"] == pytest.approx(rel.cronbach_alpha(repeated)["alpha"], rel=0.01)
    assert weighted["n"] == 40


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least two items"):
        rel.cronbach_alpha(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="missing must be one of"):
        rel.cronbach_alpha(item_matrix(1), missing="mean")
    with pytest.raises(ValueError, match="weights need missing='listwise'"):
        rel.cronbach_alpha(item_matrix(1), weights=np.ones(60), missing="pairwise")
    with pytest.raises(ValueError, match="at least two respondents"):
        rel.cronbach_alpha(pd.DataFrame({"a": [1.0, np.nan], "b": [np.nan, 2.0]}))


def test_straightlining_and_speeding():
    items = pd.DataFrame({"a": [4, 4, 3, np.nan, 5], "b": [4, 3, 3, 5, 5], "c": [4, 5, 3, 5, 5],
                          "d": [4, 4, 3, 5, np.nan], "e": [4, 4, 3, 5, 5]}, dtype=float)
    flags = rel.straightlining(items, min_items=4)
    assert flags.tolist() == [True, False, True, True, True]
    assert rel.straightlining(items, min_items=5).tolist() == [True, False, True, False, False]
    durations = pd.Series([900, 1000, 200, np.nan, 850])
    assert rel.speeding(durations).tolist() == [False, False, True, False, False]
    assert rel.speeding(durations, threshold=950).tolist() == [True, False, True, False, True]


def test_quality_flags_on_the_demo_survey(codebook):
    import satisfaction as sat

    survey = sat.load_survey(REF.parents[1] / "data" / "raw" / "2024", codebook, year=2024)
    five_point = [c for c in codebook.index_items if codebook.items[c].scale.max == 5]
    flags = rel.quality_flags(survey.data, five_point, dont_know=survey.dont_know)
    assert len(flags) == 14 and flags["n"].sum() == survey.rows_kept
    # the demo has about 2 % straight-liners and 2 % speeders, 3–8 % don't know
    assert flags["straightlining_rate"].between(0.002, 0.06).all()
    assert flags["speeding_rate"].between(0.002, 0.06).all()
    assert flags["dont_know_rate"].between(0.02, 0.08).all()
    assert flags["worst_item"].str.startswith("R").all()      # rights-protection items: most "don't know"


def test_reliability_table_flags_and_sentences(codebook):
    import satisfaction as sat

    survey = sat.load_survey(REF.parents[1] / "data" / "raw" / "2024", codebook, year=2024)
    table = rel.reliability_table(survey.data, codebook)
    assert table["dimension"].tolist() == ["消费供给", "消费环境", "消费维权"]
    # consistent scales of 8–10 items whose items each carry much of their own (AVE ≈ 0.3)
    assert table["alpha"].between(0.7, 0.9).all() and (table["flags"] == "ave").all()
    assert table["verdict"].str.contains("可以合并为一个得分").all() and table["verdict"].str.contains("平均提取方差").all()
    assert table["max_htmt"].between(0, 0.85).all() and table["omega_total"].between(0.7, 0.9).all()
    noisy = survey.data.copy()
    rng = np.random.default_rng(0)
    noisy["S1a"] = rng.integers(1, 6, len(noisy)).astype(float)   # an item unrelated to the rest
    row = rel.reliability_table(noisy, codebook, lang="en").iloc[0]
    assert "r_drop" in row["flags"] and "goes its own way" in row["verdict"] and "Variety of goods" in row["verdict"]


@pytest.mark.parametrize("case,file,columns", [
    ("split_attitude6", "attitude.csv", 6), ("split_bfi6", "bfi_items.csv", 6), ("split_demo8", "demo_supply_items.csv", 8)])
def test_split_half_agrees_with_psych(case, file, columns):
    items = pd.read_csv(REF / "data" / file).iloc[:, :columns]
    ref = PSYCH[case]
    out = rel.split_half(items)
    close(out["max"], ref["maxrb"]); close(out["min"], ref["minrb"]); close(out["mean"], ref["meanr"])
    close(out["lambda2"], ref["lambda2"]); close(out["lambda6"], ref["lambda6"]); close(out["std_alpha"], ref["alpha"])


def test_split_half_with_an_odd_number_of_items_sees_every_split():
    items = pd.read_csv(REF / "data" / "attitude.csv")
    out = rel.split_half(items)
    ref = PSYCH["split_attitude7"]
    assert out["splits"] == 35                     # C(7, 3): halves of 3 and 4 items
    assert out["max"] >= ref["maxrb"] - 1e-12 and out["min"] <= ref["minrb"] + 1e-12
    close(out["lambda6"], ref["lambda6"])


def test_alpha_replicates_match_alpha_of_each_weighting():
    items = item_matrix(7, n=80)
    rng = np.random.default_rng(1)
    weights = rng.integers(0, 4, size=(80, 5)).astype(float)
    fast = rel.alpha_replicates(items, weights)
    for b in range(5):
        repeated = items.loc[items.index.repeat(weights[:, b].astype(int))]
        x = repeated.to_numpy()
        cov = np.cov(x.T, ddof=0)
        k = x.shape[1]
        assert fast[b] == pytest.approx(k / (k - 1) * (1 - np.trace(cov) / cov.sum()), rel=1e-10)


def test_bootstrap_alpha_interval_is_sensible():
    items = pd.read_csv(REF / "data" / "demo_supply_items.csv")
    boot = rel.bootstrap_alpha(items, replicates=1000, seed=3)
    feldt = rel.cronbach_alpha(items)
    assert boot["ci_low"] < boot["alpha"] < boot["ci_high"]
    assert boot["alpha"] == pytest.approx(feldt["alpha"])
    assert boot["ci_high"] - boot["ci_low"] == pytest.approx(feldt["ci_high"] - feldt["ci_low"], rel=0.35)
    again = rel.bootstrap_alpha(items, replicates=1000, seed=3)
    assert again.equals(boot)


def test_bootstrap_alpha_reuses_design_replicates(codebook):
    import satisfaction as sat
    from satisfaction.design import bootstrap_weights
    from satisfaction.weighting import survey_design

    survey = sat.load_survey(REF.parents[1] / "data" / "raw" / "2024", codebook, year=2024)
    design = bootstrap_weights(survey_design(survey.data, codebook), 200, seed=1)
    items = design.data[[c for ind in codebook.node("R").children for c in ind.weights]]
    out = rel.bootstrap_alpha(items, weights=design.weights, replicate_weights=design.replicates.weights)
    assert out["replicates"] == 200 and out["ci_low"] < out["alpha"] < out["ci_high"]
    assert out["alpha"] == pytest.approx(rel.cronbach_alpha(items, weights=design.weights)["alpha"])


HTMT_CASES = {
    "htmt_bfi": ("bfi_items.csv", {"A": ["A2", "A3", "A4", "A5"], "C": ["C1", "C2", "C3"]}),
    "htmt_demo": ("demo_index_items.csv", None),
}


@pytest.mark.parametrize("case", list(HTMT_CASES))
def test_htmt_and_composite_reliability(case, codebook):
    file, blocks = HTMT_CASES[case]
    data = pd.read_csv(REF / "data" / file)
    if blocks is None:
        blocks = {d.code: [c for ind in d.children for c in ind.weights] for d in codebook.dimensions}
    ref = PSYCH[case]
    lower = np.tril_indices(len(blocks), -1)
    for variant in ("htmt", "htmt2"):
        ours = rel.htmt(data, blocks, variant=variant)
        assert list(ours.index) == ref["names"]
        # R's lower.tri is column-major
        values = ours.to_numpy().T[np.triu_indices(len(blocks), 1)]
        close(values, ref[variant])
        assert np.allclose(ours.to_numpy()[lower], ours.to_numpy().T[lower])
    cr = rel.composite_reliability(data, blocks)
    close(cr["rho_dg"], ref["dg_rho"]); close(cr["ave"], ref["ave"])
    fl = rel.fornell_larcker(data, blocks)
    assert np.allclose(np.diag(fl), np.sqrt(cr["ave"]))


@pytest.mark.parametrize("case,file", [("attitude", "attitude.csv"), ("bfi", "bfi_items.csv"), ("demo", "demo_supply_items.csv")])
def test_omega_total_agrees_with_psych(case, file):
    items = pd.read_csv(REF / "data" / file)
    close(rel.omega(items)["omega_total"], PSYCH["omega"][case])
    if case == "bfi":
        # psych's fa stops its optimiser (optim, L-BFGS-B) a few 1e-6 short of the least-squares
        # fixed point that the principal-axis iterations reach; the omega above agrees to 1e-6
        np.testing.assert_allclose(rel.one_factor_loadings(items), PSYCH["omega"]["bfi_loadings"], rtol=1e-5)


def test_reliability_table_per_city(codebook):
    import satisfaction as sat

    survey = sat.load_survey(REF.parents[1] / "data" / "raw" / "2019", codebook, year=2019)
    table = rel.reliability_table(survey.data, codebook, by="city")
    assert len(table) == 14 * 3 and table["city"].nunique() == 14
    one = survey.data[survey.data.city == "451100"]
    s = [c for ind in codebook.node("S").children for c in ind.weights]
    expected = rel.cronbach_alpha(one[s])["alpha"]
    got = table[(table.city == "451100") & (table.dimension == "消费供给")]["alpha"].iloc[0]
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("case, nfactors", [("thurstone_3", 3), ("harman_4", 4), ("harman_3", 3)])
def test_omega_hierarchical_agrees_with_psych(case, nfactors):
    name = case.split("_")[0]
    r = pd.read_csv(REF / "data" / {"thurstone": "thurstone.csv", "harman": "harman74.csv"}[name], index_col=0)
    got = rel.omega_hierarchical(r, nfactors=nfactors, correlation=True)
    expected = PSYCH["omega_hierarchical"][case]
    # psych fits minres with optim(), which stops ~1e-6 short of the least-squares fixed point
    for key in ("omega_h", "omega_total", "ecv"):
        assert got[key] == pytest.approx(expected[key], abs=2e-6), key
    assert not got["heywood"]


def test_omega_hierarchical_flags_an_unidentified_general_factor():
    # the demo's 消费供给 items are nearly one-dimensional: the group factors correlate ~0.9, the
    # general factor loads one of them above 1, and omega_h is not identified (psych 0.797, ours 0.803)
    items = pd.read_csv(REF / "data" / "demo_supply_items.csv")
    got = rel.omega_hierarchical(items, nfactors=3)
    expected = PSYCH["omega_hierarchical"]["demo_3"]
    assert got["omega_total"] == pytest.approx(expected["omega_total"], abs=1e-5)
    assert got["heywood"]


def test_omega_hierarchical_is_invariant_to_item_order():
    r = pd.read_csv(REF / "data" / "thurstone.csv", index_col=0)
    order = list(reversed(r.columns))
    a = rel.omega_hierarchical(r, nfactors=3, correlation=True)
    b = rel.omega_hierarchical(r.loc[order, order], nfactors=3, correlation=True)
    assert a["omega_h"] == pytest.approx(b["omega_h"], abs=1e-8)


PLS_REF = REF / "pls"


def test_composite_reliability_first_component_matches_plspm_unidim():
    ref = json.loads((PLS_REF / "plspm_r_outputs.json").read_text())["satisfaction"]
    data = pd.read_csv(PLS_REF / "satisfaction.csv", index_col=0)
    got = rel.composite_reliability(data, ref["blocks"])
    for lv, row in ref["unidim"].items():
        assert got.loc[lv, "rho_dg"] == pytest.approx(row["dillon_goldstein_rho"], abs=1e-10)
        assert got.loc[lv, "eig_1st"] == pytest.approx(row["eig_1st"], abs=1e-10)
        assert got.loc[lv, "eig_2nd"] == pytest.approx(row["eig_2nd"], abs=1e-10)
        assert rel.cronbach_alpha(data[ref["blocks"][lv]])["std_alpha"] == pytest.approx(row["cronbach_alpha"], abs=1e-10)


def test_composite_reliability_pls_loadings_match_seminr():
    ref = json.loads((PLS_REF / "seminr_reference.json").read_text())
    data = pd.read_csv(PLS_REF / "mobi.csv")
    got = rel.composite_reliability(data, ref["blocks"], paths=ref["paths"], modes=ref["modes"], tol=1e-20, max_iter=1000)
    expected = pd.DataFrame(ref["path"]["reliability"]).T
    np.testing.assert_allclose(got.loc[expected.index, ["rho_c", "ave", "rho_a"]],
                               expected[["rhoC", "AVE", "rhoA"]], atol=1e-6)


@pytest.mark.parametrize("case, file", [("attitude", "attitude.csv"), ("demo", "demo_supply_items.csv")])
def test_weighted_kmo_and_bartlett_agree_with_psych_on_the_weighted_correlations(case, file):
    items = pd.read_csv(REF / "data" / file)
    weights = 1 + (np.arange(1, len(items) + 1) % 4) / 2
    expected = PSYCH["weighted_validity"][case]
    overall, per_item = rel.kmo(items, weights=weights, missing="listwise")
    assert overall == pytest.approx(expected["kmo"], abs=1e-10)
    np.testing.assert_allclose(per_item, expected["kmo_items"], atol=1e-10)
    test = rel.bartlett_sphericity(items, weights=weights, missing="listwise")
    assert test["chi2"] == pytest.approx(expected["chi2"], rel=1e-10)
    assert test["df"] == expected["df"] and test["n"] == expected["n"]
    # weights matter: the unweighted statistic differs
    assert rel.kmo(items, missing="listwise")[0] != pytest.approx(expected["kmo"], abs=1e-6)


@pytest.mark.parametrize("case", ["bfi_agree", "attitude_reversed"])
def test_omega_reverses_negatively_loading_items_as_psych(case):
    """psych::omega flips items that load negatively (flip = TRUE) and names them; so do we
    (tests/reference/psych_omega_reversed.R)."""
    ref = json.loads((REF / "psych_omega_reversed.json").read_text())[case]
    if case == "bfi_agree":
        items = pd.read_csv(REF / "data" / "bfi_agree.csv")
    else:
        items = pd.read_csv(REF / "data" / "attitude.csv")
        items["critical"] = 100 - items["critical"]
    reversed_ = [ref["reversed"]] if isinstance(ref["reversed"], str) else ref["reversed"]
    out = rel.omega(items)
    close(out["omega_total"], ref["omega_total"])
    assert list(out["reversed"]) == reversed_
    kept = rel.omega(items, flip=False)
    close(kept["omega_total"], ref["omega_total_unflipped"])
    assert kept["reversed"] == ()
