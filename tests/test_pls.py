"""PLS path modelling against R plspm, R seminr and the seminr port (tests/reference/pls/)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satisfaction import index as sat_index
from satisfaction.pls import PLSError, pls_path
from satisfaction.reliability import htmt

REF = Path(__file__).parent / "reference" / "pls"
PLSPM = json.loads((REF / "plspm_r_outputs.json").read_text())
SEMINR_R = json.loads((REF / "seminr_r_outputs.json").read_text())
SEMINR = json.loads((REF / "seminr_reference.json").read_text())
OUTER = ["weight", "loading", "communality", "redundancy"]


@pytest.fixture(scope="module")
def russa():
    return pd.read_csv(REF / "russa.csv", index_col=0)


@pytest.fixture(scope="module")
def ecsi():
    return pd.read_csv(REF / "satisfaction.csv", index_col=0)


@pytest.fixture(scope="module")
def mobi():
    return pd.read_csv(REF / "mobi.csv")


def _outer(ref) -> pd.DataFrame:
    return pd.DataFrame(ref).T[OUTER].astype(float)


# ---- R plspm --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["centroid", "factorial", "path"])
def test_scaled_outer_model_matches_plspm(russa, scheme):
    r = PLSPM["russa"]
    fit = pls_path(russa, r["blocks"], r["path"], scheme=scheme, scaled=True, tol=1e-12)
    expected = _outer(r["outer_model"][scheme])
    pd.testing.assert_frame_equal(fit.outer_model[OUTER].loc[expected.index], expected, atol=1e-5, rtol=0)


def test_plspm_stopping_rule_is_reproduced(russa):
    r = PLSPM["russa"]
    fit = pls_path(russa, r["blocks"], r["path"], scheme="path", tol=1e-7, max_iter=100)
    expected = _outer(r["outer_model"]["path"])
    pd.testing.assert_frame_equal(fit.outer_model[OUTER].loc[expected.index], expected, atol=1e-12, rtol=0)


def test_inner_model_and_summary_match_plspm(russa):
    r = PLSPM["russa"]
    fit = pls_path(russa, r["blocks"], r["path"], scheme="centroid", tol=1e-12)
    paths = fit.path_coefficients.set_index("from")
    for source, row in r["inner_model_centroid"]["POLINS"].items():
        got = paths.loc[source]
        assert got["estimate"] == pytest.approx(row["estimate"], abs=1e-5)
        assert got["se"] == pytest.approx(row["std_error"], abs=1e-5)
        assert got["t"] == pytest.approx(row["t"], abs=1e-3)
        assert got["p"] == pytest.approx(row["p"], rel=1e-3)
    summary = pd.DataFrame(r["inner_summary_centroid"]).T
    got = fit.inner_summary
    for col in ["r_squared", "block_communality", "mean_redundancy", "ave"]:
        np.testing.assert_allclose(got.loc[summary.index, col].astype(float), summary[col].astype(float), atol=1e-5)
    assert list(got.loc[summary.index, "type"]) == list(summary["type"])


@pytest.mark.parametrize("scheme", ["centroid", "path"])
def test_unscaled_outer_model_matches_plspm(ecsi, scheme):
    s = PLSPM["satisfaction"]
    fit = pls_path(ecsi, s["blocks"], s["path"], scheme=scheme, scaled=False, tol=1e-6, max_iter=100)
    expected = _outer(s["outer_model"][scheme])
    pd.testing.assert_frame_equal(fit.outer_model[OUTER].loc[expected.index], expected, atol=1e-10, rtol=0)


def test_unscaled_inner_results_match_plspm(ecsi):
    s = PLSPM["satisfaction"]
    fit = pls_path(ecsi, s["blocks"], s["path"], scheme="centroid", scaled=False, tol=1e-6, max_iter=100)
    assert fit.gof == pytest.approx(s["gof_centroid"], abs=1e-10)
    effects = fit.effects.set_index(["from", "to"])
    for row in s["effects_centroid"]:
        got = effects.loc[(row["from"], row["to"])]
        for col in ["direct", "indirect", "total"]:
            assert got[col] == pytest.approx(row[col], abs=1e-10)
    assert len(effects) == len(s["effects_centroid"])
    summary = pd.DataFrame(s["inner_summary_centroid"]).T
    for col in ["r_squared", "block_communality", "mean_redundancy", "ave"]:
        np.testing.assert_allclose(fit.inner_summary.loc[summary.index, col].astype(float), summary[col].astype(float),
                                   atol=1e-10)
    paths = fit.path_coefficients.query("to == 'SAT'").set_index("from")
    for source, row in s["inner_model_centroid"]["SAT"].items():
        assert paths.loc[source, "estimate"] == pytest.approx(row["estimate"], abs=1e-10)
        assert paths.loc[source, "se"] == pytest.approx(row["std_error"], abs=1e-10)
        assert paths.loc[source, "p"] == pytest.approx(row["p"], rel=1e-6)


def test_mode_b_matches_plspm(ecsi):
    s = PLSPM["satisfaction"]
    fit = pls_path(ecsi, s["blocks"], s["path"], scheme="centroid", scaled=False, modes="B", tol=1e-6, max_iter=100)
    summary = pd.DataFrame(s["inner_summary_centroid_mode_b"]).T
    for col in ["r_squared", "block_communality", "mean_redundancy"]:
        np.testing.assert_allclose(fit.inner_summary.loc[summary.index, col].astype(float), summary[col].astype(float),
                                   atol=1e-4)
    assert fit.inner_summary["ave"].isna().all()


# ---- seminr ---------------------------------------------------------------------------------------


def test_mode_b_path_scheme_matches_r_seminr(mobi):
    r = SEMINR_R
    fit = pls_path(mobi, r["blocks"], r["paths"], scheme="path", modes=r["modes"], tol=1e-14, max_iter=1000)
    np.testing.assert_allclose(fit.outer_weights[list(r["outer_weights"])], list(r["outer_weights"].values()), atol=1e-5)
    np.testing.assert_allclose(fit.loadings[list(r["outer_loadings"])], list(r["outer_loadings"].values()), atol=1e-5)
    matrix = fit.path_matrix
    for source, target, value in r["path_coef"]:
        assert matrix.loc[source, target] == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("scheme", ["path", "factorial"])
def test_full_ecsi_model_matches_seminr(mobi, scheme):
    ref = SEMINR[scheme]
    fit = pls_path(mobi, SEMINR["blocks"], SEMINR["paths"], scheme=scheme, modes=SEMINR["modes"], tol=1e-20, max_iter=1000)
    weights = pd.DataFrame(ref["outer_weights"]).T.sum(axis=1)
    loadings = pd.DataFrame(ref["outer_loadings"]).T
    own = pd.Series({i: loadings.loc[i, lv] for lv, items in SEMINR["blocks"].items() for i in items})
    np.testing.assert_allclose(fit.outer_weights[weights.index], weights, atol=1e-6)
    np.testing.assert_allclose(fit.loadings[own.index], own, atol=1e-6)
    paths = pd.DataFrame(ref["path_coef"]).T
    np.testing.assert_allclose(fit.path_matrix.loc[paths.index, paths.columns], paths, atol=1e-6)
    r2 = pd.Series(ref["r_squared"]["Rsq"])
    np.testing.assert_allclose(fit.r2[r2.index], r2, atol=1e-6)
    rel = pd.DataFrame(ref["reliability"]).T
    np.testing.assert_allclose(fit.reliability.loc[rel.index, ["alpha", "rhoA", "rhoC", "AVE"]], rel[["alpha", "rhoA", "rhoC", "AVE"]],
                               atol=1e-6)


def test_htmt_matches_seminr(mobi):
    ref = pd.DataFrame(SEMINR["path"]["htmt"]).T
    ours = htmt(mobi, SEMINR["blocks"])
    for a in ref.index:
        for b in ref.columns:
            if np.isfinite(ref.loc[a, b]) and a != b:
                assert ours.loc[a, b] == pytest.approx(ref.loc[a, b], abs=1e-6), (a, b)


def test_bootstrap_with_the_same_resamples_matches_seminr(mobi):
    boot_ref = SEMINR["bootstrap"]
    fit = pls_path(mobi, SEMINR["blocks"], SEMINR["paths"], scheme="path", modes=SEMINR["modes"], tol=1e-20, max_iter=1000)
    indices = np.random.default_rng(boot_ref["seed"]).integers(0, len(mobi), size=(boot_ref["nboot"], len(mobi)))
    counts = np.stack([np.bincount(row, minlength=len(mobi)) for row in indices], axis=1).astype(float)
    boot = fit.bootstrap(counts)
    ref = pd.DataFrame(boot_ref["paths"]).T
    got = boot.paths.set_index(["from", "to"])
    for (source, target), row in got.iterrows():
        assert row["se"] == pytest.approx(ref.loc[source, f"{target} Boot SD"], abs=1e-6)
        assert row["boot_mean"] == pytest.approx(ref.loc[source, f"{target} Boot Mean"], abs=1e-6)
    ref_w = pd.DataFrame(boot_ref["weights"]).T
    got_w = boot.weights.set_index(["lv", "item"])
    for (lv, item), row in got_w.iterrows():
        assert row["se"] == pytest.approx(ref_w.loc[item, f"{lv} Boot SD"], abs=1e-6)


# ---- properties -----------------------------------------------------------------------------------


def _toy(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=n)
    s = 0.6 * q + 0.8 * rng.normal(size=n)
    cols = {}
    for name, latent, k in [("q", q, 3), ("s", s, 3)]:
        for j in range(k):
            cols[f"{name}{j}"] = np.clip(np.round(7 + 1.5 * latent + rng.normal(size=n)), 1, 10)
    return pd.DataFrame(cols)


TOY_BLOCKS = {"QUAL": ["q0", "q1", "q2"], "SAT": ["s0", "s1", "s2"]}
TOY_PATHS = {"SAT": ["QUAL"]}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["centroid", "factorial", "path"]), st.booleans())
def test_frequency_weights_equal_duplicated_rows(seed, scheme, scaled):
    data = _toy(seed, 60)
    counts = np.random.default_rng(seed + 1).integers(1, 4, size=len(data))
    weighted = pls_path(data, TOY_BLOCKS, TOY_PATHS, scheme=scheme, scaled=scaled, weights=counts, tol=1e-14)
    repeated = pls_path(data.loc[data.index.repeat(counts)], TOY_BLOCKS, TOY_PATHS, scheme=scheme, scaled=scaled, tol=1e-14)
    np.testing.assert_allclose(weighted.outer_weights, repeated.outer_weights, atol=1e-9)
    np.testing.assert_allclose(weighted.path_matrix, repeated.path_matrix, atol=1e-9)
    np.testing.assert_allclose(weighted.index, repeated.index, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_index_properties(seed):
    data = _toy(seed)
    fit = pls_path(data, TOY_BLOCKS, TOY_PATHS, item_range=(1, 10), tol=1e-12)
    v = fit.unstandardized_weights
    assert np.allclose(v.groupby(lambda i: i[0]).sum(), 1.0)
    assert ((fit.index >= 0) & (fit.index <= 100)).all()
    # the index is the weighted mean of the respondents' rescaled scores
    np.testing.assert_allclose(fit.rescaled_scores().mean(), fit.index, atol=1e-9)
    # a respondent answering c everywhere scores 100·(c − 1)/9 on every LV
    const = pd.DataFrame([[7.0] * 6], columns=data.columns)
    np.testing.assert_allclose(fit.rescaled_scores(const).iloc[0], 100 * 6 / 9, atol=1e-9)
    # scores are standardised
    np.testing.assert_allclose(fit.scores.std(ddof=0), 1.0, atol=1e-9)
    # reordering items inside a block changes nothing
    shuffled = {k: list(reversed(v)) for k, v in TOY_BLOCKS.items()}
    again = pls_path(data, shuffled, TOY_PATHS, item_range=(1, 10), tol=1e-12)
    np.testing.assert_allclose(again.outer_weights[fit.outer_weights.index], fit.outer_weights, atol=1e-9)


def test_scaled_results_do_not_depend_on_item_units():
    data = _toy(3)
    fit = pls_path(data, TOY_BLOCKS, TOY_PATHS, tol=1e-12)
    stretched = data.assign(q0=data.q0 * 10 + 3)
    again = pls_path(stretched, TOY_BLOCKS, TOY_PATHS, tol=1e-12)
    np.testing.assert_allclose(again.outer_weights, fit.outer_weights, atol=1e-9)
    np.testing.assert_allclose(again.path_matrix, fit.path_matrix, atol=1e-9)


def test_index_is_exposed_from_the_index_module():
    assert sat_index.pls_path is pls_path


def test_replicate_bootstrap_runs_all_replicates_and_brackets_the_estimate():
    data = _toy(11, 300)
    fit = pls_path(data, TOY_BLOCKS, TOY_PATHS, item_range=(1, 10))
    boot = fit.bootstrap(300, seed=5)
    assert boot.replicates == 300 and boot.failed == 0
    path = boot.paths.iloc[0]
    assert path["ci_low"] < path["estimate"] < path["ci_high"] and path["se"] > 0
    idx = boot.index.set_index("lv")
    assert (idx["ci_low"] < idx["estimate"]).all() and (idx["estimate"] < idx["ci_high"]).all()
    # same seed, same draws
    again = fit.bootstrap(300, seed=5)
    pd.testing.assert_frame_equal(boot.paths, again.paths)


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("blocks, paths, kwargs, message", [
    ({"QUAL": ["q0", "zz"], "SAT": ["s0"]}, {"SAT": ["QUAL"]}, {}, "zz"),
    ({"QUAL": ["q0", "q1"], "SAT": ["q1"]}, {"SAT": ["QUAL"]}, {}, "q1"),
    (TOY_BLOCKS, {"SAT": ["QUAL"], "QUAL": ["SAT"]}, {}, "cycle"),
    (TOY_BLOCKS, {"SAT": ["VALUE"]}, {}, "VALUE"),
    (TOY_BLOCKS, {}, {}, "no paths"),
    (TOY_BLOCKS, TOY_PATHS, {"modes": "C"}, "mode"),
    (TOY_BLOCKS, TOY_PATHS, {"scheme": "magic"}, "scheme"),
    (TOY_BLOCKS, TOY_PATHS, {"weights": np.ones(3)}, "weights"),
    (TOY_BLOCKS, TOY_PATHS, {"missing": "drop"}, "missing"),
])
def test_bad_specifications_are_named(blocks, paths, kwargs, message):
    with pytest.raises(PLSError, match=message):
        pls_path(_toy(1), blocks, paths, **kwargs)


def test_non_numeric_item_is_named():
    data = _toy(1).assign(q1="x")
    with pytest.raises(PLSError, match="q1"):
        pls_path(data, TOY_BLOCKS, TOY_PATHS)


def test_missing_answers_are_replaced_by_the_item_mean_or_dropped():
    data = _toy(2)
    data.loc[[0, 5], "q1"] = np.nan
    mean_fit = pls_path(data, TOY_BLOCKS, TOY_PATHS)
    assert mean_fit.n == len(data)
    listwise = pls_path(data, TOY_BLOCKS, TOY_PATHS, missing="listwise")
    assert listwise.n == len(data) - 2
    filled = data.fillna({"q1": data.q1.mean()})
    np.testing.assert_allclose(mean_fit.outer_weights, pls_path(filled, TOY_BLOCKS, TOY_PATHS).outer_weights, atol=1e-12)


# ---- the codebook's structural model on the demo survey ----------------------------------------------


def test_codebook_structural_model_on_the_demo(survey_2024, codebook):
    from satisfaction.index import pls_index
    from satisfaction.weighting import replicate_design, survey_design

    design = replicate_design(survey_design(survey_2024.data, codebook), codebook, replicates=40, seed=2)
    fit, table = pls_index(design, codebook, by="city")
    paths = fit.path_matrix
    assert paths.loc["QUAL", "SATI"] > 0 and paths.loc["SATI", "LOYA"] > 0 and paths.loc["SATI", "COMP"] < 0
    sati = table[table["lv"] == "SATI"]
    assert len(sati) == 14 and sati["estimate"].between(0, 100).all() and (sati["se"] > 0).all()
    # a city's model index is the weighted mean of its respondents' rescaled scores
    scores = fit.rescaled_scores()
    city = design.data.loc[scores.index, "city"]
    w = pd.Series(design.weights, index=design.data.index).loc[scores.index]
    first = sati.iloc[0]
    mask = (city == first["city"]).to_numpy()
    assert np.average(scores["SATI"][mask], weights=w[mask]) == pytest.approx(first["estimate"], abs=1e-9)


def test_structural_model_errors_are_named(tmp_path, codebook):
    import copy

    import yaml

    from satisfaction.codebook import load_codebook
    from satisfaction.errors import CodebookError

    raw = copy.deepcopy(codebook.raw)
    raw["structural_model"]["blocks"]["EXPE"]["items"] = ["EXP1", "NOPE"]
    raw["structural_model"]["paths"]["EXPE"] = ["LOYA"]
    raw["structural_model"]["index"] = "XXX"
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CodebookError) as err:
        load_codebook(path)
    text = str(err.value)
    assert "NOPE" in text and "cycle" in text and "XXX" in text


def test_rescaled_scores_are_plspms_rescale_with_r_weights(ecsi):
    # plspm::rescale(): the raw items times the block-normalised outer weights; with the items' range
    # set to (0, 1) our 0–100 scores are 100 × that, and our weights are plspm's (unscaled data)
    s = PLSPM["satisfaction"]
    fit = pls_path(ecsi, s["blocks"], s["path"], scheme="centroid", scaled=False, tol=1e-6, max_iter=100,
                   item_range=(0, 1))
    r_weights = _outer(s["outer_model"]["centroid"])["weight"]
    for lv, items in s["blocks"].items():
        w = r_weights[items] / r_weights[items].sum()
        expected = ecsi[items].to_numpy() @ w.to_numpy()
        np.testing.assert_allclose(fit.rescaled_scores()[lv] / 100, expected, atol=1e-9)
        assert fit.index[lv] == pytest.approx(100 * expected.mean(), abs=1e-9)
