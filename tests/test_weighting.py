"""Raking, trimming and estimation: impossible margins, invariants (hypothesis), missing values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import satisfaction as sat
from satisfaction import estimate as est
from satisfaction import weighting as wt
from satisfaction.design import SurveyDesign, bootstrap_weights


def small_sample(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "city": rng.choice(["A", "B"], n),
        "sex": rng.choice(["m", "f"], n, p=[0.3, 0.7]),
        "age": rng.choice(["young", "mid", "old"], n, p=[0.5, 0.3, 0.2]),
        "y": rng.normal(70, 10, n),
    })


def margins_for(df, total=1000.0):
    rows = []
    for city in sorted(df.city.unique()):
        rows += [(city, "sex", "m", total * 0.48), (city, "sex", "f", total * 0.52)]
        rows += [(city, "age", "young", total * 0.3), (city, "age", "mid", total * 0.35), (city, "age", "old", total * 0.35)]
    return pd.DataFrame(rows, columns=["city", "variable", "category", "target"])


def margin_sums(df, w, var):
    return pd.Series(w.to_numpy()).groupby([df.city.to_numpy(), df[var].to_numpy()]).sum()


def test_rake_reproduces_margins_and_reports_diagnostics():
    df = small_sample()
    w, diag = wt.rake(df, margins_for(df), by="city", return_diagnostics=True)
    assert np.allclose(margin_sums(df, w, "sex").loc[("A", "m")], 480)
    assert np.allclose(margin_sums(df, w, "age").loc[("B", "old")], 350)
    assert list(diag.city) == ["A", "B"] and diag.converged.all()
    assert {"iterations", "max_margin_error", "kish_deff", "effective_n", "efficiency"} <= set(diag.columns)
    assert ((diag.kish_deff >= 1) & np.isclose(diag.effective_n, diag.n / diag.kish_deff)).all()


def test_shares_are_scaled_to_the_weight_total():
    df = small_sample()
    shares = margins_for(df, total=1.0)
    w = wt.rake(df, shares, by="city")
    assert np.isclose(w[df.city == "A"].sum(), (df.city == "A").sum())
    counts = wt.rake(df, margins_for(df, total=500.0), by="city")
    ratio = counts / w
    assert np.allclose(ratio[df.city == "A"], ratio[df.city == "A"].iloc[0])


def test_category_without_respondents():
    df = small_sample()
    m = margins_for(df)
    m.loc[len(m)] = ["A", "age", "very old", 10.0]
    with pytest.raises(wt.WeightingError, match="city='A', variable 'age': category 'very old' has target 10 but no respondents"):
        wt.rake(df, m, by="city")


def test_respondents_in_category_without_target():
    df = small_sample()
    m = margins_for(df)
    m = m[~((m.city == "B") & (m.category == "mid"))]
    with pytest.raises(wt.WeightingError, match=r"city='B', variable 'age': \d+ respondent\(s\) in category 'mid', which has no target"):
        wt.rake(df, m, by="city")


def test_totals_disagree():
    df = small_sample()
    m = margins_for(df)
    m.loc[(m.city == "A") & (m.variable == "sex"), "target"] *= 1.5
    with pytest.raises(wt.WeightingError, match="city='A', margin totals disagree by .*sex=1500, age=1000"):
        wt.rake(df, m, by="city")


def test_small_rounding_differences_are_reconciled():
    df = small_sample()
    m = margins_for(df)
    m.loc[0, "target"] += 0.4  # a census table that does not add up by a rounding unit
    w = wt.rake(df, m, by="city")
    assert np.isclose(w[df.city == "A"].sum(), 1000.2)


@pytest.mark.parametrize("bad", [-5.0, np.nan, "many"])
def test_negative_or_missing_target(bad):
    df = small_sample()
    m = margins_for(df).astype({"target": object})
    m.loc[3, "target"] = bad
    with pytest.raises(wt.WeightingError, match="variable 'age', category 'mid': target must be a non-negative number"):
        wt.rake(df, m, by="city")


def test_no_convergence_within_the_limit():
    df = small_sample()
    with pytest.raises(wt.WeightingError, match="did not converge within 1 iterations"):
        wt.rake(df, margins_for(df), by="city", max_iter=1)


def test_incompatible_trim_bounds():
    df = small_sample()
    with pytest.raises(wt.WeightingError, match="trimming bounds may be incompatible"):
        wt.rake(df, margins_for(df), by="city", trim=(0.95, 1.05), max_iter=50)


def test_missing_margin_variable_or_group():
    df = small_sample()
    df.loc[5, "sex"] = None
    with pytest.raises(wt.WeightingError, match="margin variable 'sex' is missing for 1 respondent"):
        wt.rake(df, margins_for(df.dropna()), by="city")
    df = small_sample()
    with pytest.raises(wt.WeightingError, match="no margins for city B"):
        wt.rake(df, margins_for(df[df.city == "A"]), by="city")
    with pytest.raises(wt.WeightingError, match="'income' is not a column"):
        wt.rake(df, {"income": {"low": 1.0}})


def test_trim_within_rake_respects_bounds_and_margins():
    df = small_sample(400)
    untrimmed = wt.rake(df, margins_for(df), by="city")
    assert (untrimmed / untrimmed.groupby(df.city).transform("mean")).max() > 3.5
    w = wt.rake(df, margins_for(df), by="city", trim=(0.3, 3.0))  # feasible (checked by linear programming)
    mean = w.groupby(df.city).transform("mean")
    assert ((w >= 0.3 * mean - 1e-6) & (w <= 3.0 * mean + 1e-6)).all()
    assert np.allclose(margin_sums(df, w, "sex").loc[("B", "f")], 520, rtol=1e-8)


# ---- invariants ------------------------------------------------------------------------------------


@st.composite
def raking_problem(draw):
    n = draw(st.integers(40, 200))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.integers(0, 3, n).astype(str), "b": rng.integers(0, 4, n).astype(str)})
    # every combination has respondents, so that any positive margins can be met
    df.loc[:11, "a"] = [str(i // 4) for i in range(12)]
    df.loc[:11, "b"] = [str(i % 4) for i in range(12)]
    total = draw(st.floats(10, 1e6))
    pa = rng.dirichlet(np.ones(3) * 2)
    pb = rng.dirichlet(np.ones(4) * 2)
    pa, pb = np.maximum(pa, 0.02), np.maximum(pb, 0.02)
    pa, pb = pa / pa.sum(), pb / pb.sum()
    margins = {"a": dict(zip("012", total * pa)), "b": dict(zip("0123", total * pb))}
    return df, margins


@settings(max_examples=60, deadline=None)
@given(raking_problem())
def test_raked_weights_reproduce_every_margin_and_are_positive(problem):
    df, margins = problem
    w = wt.rake(df, margins, tol=1e-10, max_iter=5000)
    assert (w > 0).all()
    for var, targets in margins.items():
        sums = w.groupby(df[var]).sum()
        for cat, target in targets.items():
            assert sums[cat] == pytest.approx(target, rel=1e-8)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0.1, 100), min_size=5, max_size=60), st.floats(0.2, 0.9), st.floats(1.1, 3.0))
def test_trimming_respects_bounds_and_preserves_total(values, lo, hi):
    w = np.array(values)
    mean = w.mean()
    lower, upper = lo * mean, hi * mean
    trimmed = wt.trim_weights(w, lower, upper)
    assert trimmed.sum() == pytest.approx(w.sum(), rel=1e-9)
    assert (trimmed >= lower - 1e-9).all() and (trimmed <= upper + 1e-9).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_estimates_do_not_change_when_rows_are_shuffled(seed):
    df = small_sample(150, seed=seed % 7)
    df.loc[df.index % 9 == 0, "y"] = np.nan
    margins = margins_for(df)
    d1 = wt.rake_design(SurveyDesign(df, strata="city"), margins, by="city")
    shuffled = df.sample(frac=1, random_state=seed)
    d2 = wt.rake_design(SurveyDesign(shuffled, strata="city"), margins, by="city")
    a, b = est.mean(d1, "y", by="city"), est.mean(d2, "y", by="city")
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)


def test_missing_values_in_the_analysis_variable():
    df = small_sample(200)
    df.loc[df.index % 4 == 0, "y"] = np.nan
    df.loc[df.city == "B", "y"] = np.nan
    d = SurveyDesign(df, strata="city", weights=np.linspace(1, 3, len(df)))
    out = est.mean(d, "y", by="city").set_index("city")
    a = df[df.city == "A"]
    w = d.weights[df.city == "A"]
    ok = a.y.notna().to_numpy()
    assert out.loc["A", "estimate"] == pytest.approx(np.average(a.y[ok], weights=w[ok]))
    assert out.loc["A", "n"] == ok.sum()
    assert np.isnan(out.loc["B", "estimate"]) and out.loc["B", "n"] == 0


def test_replicate_and_linearization_agree_roughly():
    df = small_sample(600, seed=3)
    d = wt.rake_design(SurveyDesign(df, strata="city"), margins_for(df), by="city")
    lin = est.mean(d, "y", by="city")
    boot = est.mean(wt.rake_replicates(bootstrap_weights(d, 800, seed=1), margins_for(df), by="city"), "y",
                    by="city", method="replicate")
    assert np.allclose(lin.se, boot.se, rtol=0.15)


def test_sample_size_and_margin_of_error():
    assert est.sample_size(0.05, level=0.95, deff=1.4) == 538
    assert est.sample_size(0.05, deff=1.0) == 385
    assert est.sample_size(0.05, deff=1.4, population=2000) < 538
    assert est.margin_of_error(538, deff=1.4) == pytest.approx(0.05, abs=1e-4)
    with pytest.raises(ValueError):
        est.sample_size(0)


def test_lazy_and_materialized_replicates_are_the_same():
    df = small_sample(300, seed=5)
    d = wt.rake_design(SurveyDesign(df, strata="city"), margins_for(df), by="city")
    results = []
    for lazy in (True, False):
        b = wt.rake_replicates(bootstrap_weights(d, 50, seed=11, lazy=lazy), margins_for(df), by="city")
        assert (b.replicates.weights is None) == lazy
        results.append(est.mean(b, "y", by="city", method="replicate"))
    pd.testing.assert_frame_equal(*results)
    # re-raked replicates reproduce the margins in every replicate
    full = b.replicates.weights
    sums = pd.DataFrame(full).groupby([df.city.to_numpy(), df.sex.to_numpy()]).sum()
    assert np.allclose(sums.loc[("A", "m")], 480)


def test_lazy_blocks_must_hold_whole_raking_groups():
    df = small_sample(300, seed=5)
    df["district"] = np.where(df.index % 2 == 0, "d1", "d2")
    d = bootstrap_weights(SurveyDesign(df, strata="district"), 20, seed=1, lazy=True)
    with pytest.raises(wt.WeightingError, match="part of a raking group"):
        b = wt.rake_replicates(d, margins_for(df), by="city")
        est.mean(b, "y", method="replicate")


def test_design_errors():
    from satisfaction.design import DesignError

    df = small_sample(50)
    df["psu"] = np.where(df.city == "A", 1, df.index)  # city A: a single PSU
    with pytest.raises(DesignError, match="stratum 'A' has only one PSU"):
        est.mean(SurveyDesign(df, strata="city", cluster="psu"), "y")
    lonely = SurveyDesign(df, strata="city", cluster="psu", lonely_psu="certainty")
    assert est.mean(lonely, "y").se.iloc[0] > 0
    with pytest.raises(DesignError, match="non-negative"):
        SurveyDesign(df, weights=-np.ones(len(df)))
    df["fpc"] = np.arange(len(df)) + 100.0
    with pytest.raises(DesignError, match="constant within each stratum"):
        est.mean(SurveyDesign(df, strata="city", fpc="fpc"), "y")
    with pytest.raises(DesignError, match="no replicate weights"):
        est.mean(SurveyDesign(df), "y", method="replicate")


@pytest.mark.parametrize("method", ["raking", "linear"])
def test_the_codebook_names_the_calibration_and_replicates_follow_it(tmp_path, survey_2024, method):
    """survey_design calibrates as the codebook's weighting.method says; replicate_design's
    replicates are re-calibrated the same way (each replicate hits the population margins)."""
    import shutil

    import yaml

    from conftest import CODEBOOK

    shutil.copytree(CODEBOOK.parent / "population", tmp_path / "population")
    raw = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    raw["weighting"]["method"] = method
    (tmp_path / "codebook.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cb = sat.load_codebook(tmp_path / "codebook.yaml")
    design = wt.survey_design(survey_2024.data, cb)
    assert design.calibrations[-1].kind == {"raking": "raking", "linear": "linear"}[method]
    reps = wt.replicate_design(design, cb, replicates=20, seed=1)
    W = pd.DataFrame(reps.replicates.weights)
    for margin in ("sex_age", "education", "residence"):   # every replicate hits the full sample's margins
        key = [design.data["city"].to_numpy(), design.data[wt.MARGIN_PREFIX + margin].to_numpy()]
        totals = W.groupby(key).sum().to_numpy()
        full = pd.Series(design.weights).groupby(key).sum().to_numpy()
        np.testing.assert_allclose(totals, np.repeat(full[:, None], 20, axis=1), rtol=1e-6)


@pytest.mark.parametrize("target", [0.0, 1e-9])
def test_a_zero_target_for_a_category_with_respondents_is_refused(target):
    df = pd.DataFrame({"city": ["A"] * 6, "sex": ["1", "1", "2", "2", "2", "1"]})
    with pytest.raises(wt.WeightingError, match=r"city='A', variable 'sex': category '2' has 3 respondent\(s\) but "
                                               r"target .* their weights would vanish"):
        wt.rake(df, pd.DataFrame({"city": ["A", "A"], "variable": ["sex", "sex"], "category": ["1", "2"],
                                  "target": [1000.0, target]}), by="city")


def test_a_weak_city_falls_back_and_never_blocks_the_others(tmp_path, survey_2024, codebook):
    """One city with 25 interviews: weighted by the codebook's fallback (fewer margins, still to
    its population total), flagged by `satisfaction index`, and every other city's weights are
    exactly those it gets without the weak city's trouble."""
    from satisfaction.cli import main
    from satisfaction.io import write_processed

    data = survey_2024.data
    weak = "451100"
    small = pd.concat([data[data["city"] != weak], data[data["city"] == weak].head(25)], ignore_index=True)
    full = wt.survey_design(data, codebook)
    design = wt.survey_design(small, codebook)
    diag = design.weight_diagnostics.set_index("city")
    assert diag.loc[weak, "fallback"] and not diag.drop(index=weak)["fallback"].any()
    assert "sex_age" not in diag.loc[weak, "margins"]
    w_small = pd.Series(design.weights, index=design.data["respondent_id"])
    w_full = pd.Series(full.weights, index=full.data["respondent_id"])
    others = small.loc[small["city"] != weak, "respondent_id"]
    np.testing.assert_allclose(w_small[others], w_full[others], rtol=1e-9)
    # the weak city is still weighted to its population total
    margins = wt.load_margins(codebook.margins_path)
    total = margins[(margins["city"] == weak) & (margins["variable"] == "residence")]["target"].sum()
    assert design.weights[design.data["city"].to_numpy() == weak].sum() == pytest.approx(total, rel=1e-6)  # margins reconciled
    # ingest-shaped data on disk, then the command line flags the city
    from dataclasses import replace as _replace

    write_processed(_replace(survey_2024, data=small, dont_know=survey_2024.dont_know.iloc[:0].reindex(range(len(small)), fill_value=False),
                             rejects=survey_2024.rejects.iloc[:0]), tmp_path / "2024", year=2024)
    out = tmp_path / "index.csv"
    assert main(["index", "--year", "2024", "--processed-dir", str(tmp_path), "--codebook", str(codebook.path),
                 "--out", str(out), "--lang", "en"]) == 0
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"city": str}).set_index("city")
    assert "below the minimum" in table.loc[weak, "flag"] and "fewer margins" in table.loc[weak, "flag"]
    assert table.drop(index=weak)["flag"].isna().all()


def test_a_category_a_replicate_missed_has_its_target_spread_over_its_margin():
    """Cells (group a: categories 1–3, group b: 1–2) in two replicates; replicate 0 drew every
    category, replicate 1 missed a/2: its target 30 goes to a/1 and a/3 in proportion (20:50), so a
    still totals 100 and b is untouched."""
    targets = np.array([20.0, 30.0, 50.0, 60.0, 40.0])
    sums = np.array([[5.0, 1.0], [3.0, 0.0], [4.0, 7.0], [2.0, 2.0], [6.0, 1.0]])
    group = np.array(["a", "a", "a", "b", "b"])
    spread = wt.undrawn_spread(targets, sums, group)
    np.testing.assert_allclose(spread[:, 0], targets)
    np.testing.assert_allclose(spread[:, 1], [20 * 100 / 70, 0.0, 50 * 100 / 70, 60.0, 40.0])
    assert wt.undrawn_spread(targets, sums[:, :1], group) is targets   # nothing missed: unchanged


def test_replicates_of_a_weak_city_are_re_raked_by_the_documented_rule(survey_2024, codebook):
    """Bootstrap replicates of a year with one city of 25 interviews: no replicate fails; in each
    the weak city reaches its population total (missed categories spread over their margin, or
    fewer margins where the drawn categories never meet), every other city meets every margin, and
    the weak city's standard error is finite and wider than with its full sample."""
    data = survey_2024.data
    weak = "451100"
    small = pd.concat([data[data["city"] != weak], data[data["city"] == weak].head(25)], ignore_index=True)
    design = wt.replicate_design(wt.survey_design(small, codebook), codebook, replicates=200, seed=7)
    reps = design.require_replicates().weights
    city = design.data["city"].to_numpy()
    margins = wt.load_margins(codebook.margins_path)
    total = margins[(margins["city"] == weak) & (margins["variable"] == "residence")]["target"].sum()
    np.testing.assert_allclose(reps[city == weak].sum(axis=0), total, rtol=1e-6)
    # every other city meets each margin in every replicate
    frame = design.data
    for name in codebook.weighting["margins"]:
        key = frame[wt.MARGIN_PREFIX + name].astype(str)
        target = margins[margins["variable"] == name].set_index(["city", "category"])["target"]
        strong = city != weak
        sums = pd.DataFrame(reps[strong]).groupby([city[strong], key.to_numpy()[strong]]).sum()
        expected = target.reindex(sums.index).to_numpy()
        np.testing.assert_allclose(sums.to_numpy(), expected[:, None] * np.ones((1, reps.shape[1])), rtol=1e-6)
    from satisfaction.index import replicate_scores

    scores = replicate_scores(design, codebook)
    se = scores[scores["node"] == codebook.tree.code].set_index("city")["se"]
    full = replicate_scores(wt.replicate_design(wt.survey_design(data, codebook), codebook, replicates=200, seed=7), codebook)
    se_full = full[full["node"] == codebook.tree.code].set_index("city")["se"]
    assert np.isfinite(se[weak]) and se[weak] > se_full[weak]
