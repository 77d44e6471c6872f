"""Weights, estimates and standard errors agree with R's survey package (relative 1e-6).

Reference numbers: tests/reference/survey_reference.json, written by
tests/reference/survey_reference.R (R survey 4.1) from the API samples shipped with survey and an
extract of the demo survey (tests/reference/make_inputs.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from satisfaction import estimate as est
from satisfaction import weighting as wt
from satisfaction.design import Replicates, SurveyDesign, jackknife_weights

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "survey_reference.json").read_text())
RTOL = 1e-6


def close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(ours, float), np.ravel(np.asarray(theirs, float)), rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def api():
    return {name: pd.read_csv(REF / "data" / f"{name}.csv") for name in ("apistrat", "apiclus1")}


def api_design(api, name):
    if name.startswith("strat"):
        return SurveyDesign(api["apistrat"], weights="pw", strata="stype", fpc="fpc" if name.endswith("fpc") else None)
    return SurveyDesign(api["apiclus1"], weights="pw", cluster="dnum", fpc="fpc" if name.endswith("fpc") else None)


@pytest.mark.parametrize("name", ["strat_fpc", "strat", "clus_fpc", "clus"])
def test_linearization_on_api_designs(api, name):
    d = api_design(api, name)
    ref = R[f"{name}_mean"]
    m = est.mean(d, ["api00", "enroll"])
    close(m.estimate, ref["estimate"]); close(m.se, ref["se"]); close(m.deff, ref["deff"])

    ref = R[f"{name}_mean_na"]   # acs.k3 has missing values: na.rm=TRUE
    m = est.mean(d, "acs.k3")
    close(m.estimate, ref["estimate"]); close(m.se, ref["se"]); close(m.deff, ref["deff"])
    assert m.n.iloc[0] == d.data["acs.k3"].notna().sum()

    ref = R[f"{name}_total"]
    t = est.total(d, "enroll")
    close(t.estimate, ref["estimate"]); close(t.se, ref["se"]); close(t.deff, ref["deff"])

    ref = R[f"{name}_ratio"]
    r = est.ratio(d, "api00", "api99")
    close(r.estimate, ref["estimate"]); close(r.se, ref["se"])

    ref = R[f"{name}_by_stype"]
    b = est.mean(d, "api00", by="stype")
    assert b.stype.tolist() == ref["names"]
    close(b.estimate, ref["estimate"]); close(b.se, ref["se"])

    ref = R[f"{name}_prop"]
    p = est.proportion(d, "api00", at_least=700)
    close(p.estimate, ref["estimate"][1]); close(p.se, ref["se"][1])


def test_jackknife_replicates_match_as_svrepdesign(api):
    d = jackknife_weights(api_design(api, "strat"), "jkn")
    m = est.mean(d, ["api00", "enroll"], method="replicate")
    close(m.estimate, R["jkn_mean"]["estimate"]); close(m.se, R["jkn_mean"]["se"])
    d = jackknife_weights(api_design(api, "clus"), "jk1")
    m = est.mean(d, ["api00", "enroll"], method="replicate")
    close(m.se, R["jk1_mean"]["se"])
    b = est.mean(d, "api00", by="stype", method="replicate")
    close(b.estimate, R["jk1_by"]["estimate"]); close(b.se, R["jk1_by"]["se"])


# ---- the demo extract: weighting -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    data = pd.read_csv(REF / "data" / "demo_extract.csv")
    both = data["S1a"].notna() & data["E1b"].notna()
    # svymean(~S1a + E1b, na.rm=TRUE) drops a row missing either: do the same for the comparison
    data["S1a_joint"] = data["S1a"].where(both)
    data["E1b_joint"] = data["E1b"].where(both)
    return data


@pytest.fixture(scope="module")
def margins():
    return pd.read_csv(REF / "data" / "demo_margins.csv")


def by_city(frame, variables):
    """Our tidy output in R's svyby order: all cities for the first variable, then the next."""
    return frame.set_index(["variable", "city"]).loc[variables]


def test_rake_weights_and_estimates(demo, margins):
    w = wt.rake(demo, margins, by="city")
    close(w, R["rake_weights"])
    d = wt.rake_design(SurveyDesign(demo, strata="city"), margins, by="city")
    b = by_city(est.mean(d, ["S1a_joint", "E1b_joint"], by="city"), ["S1a_joint", "E1b_joint"])
    close(b.estimate, R["rake_by_city"]["estimate"]); close(b.se, R["rake_by_city"]["se"])
    m = est.mean(d, "R3a")
    close(m.estimate, R["rake_mean_na"]["estimate"]); close(m.se, R["rake_mean_na"]["se"])
    t = est.total(d, "S1a")
    close(t.estimate, R["rake_total"]["estimate"]); close(t.se, R["rake_total"]["se"])


def test_rake_on_stratified_cluster_design(demo, margins):
    plain = SurveyDesign(demo, strata="city", cluster="interviewer")
    b = est.mean(plain, "S1a", by="city")
    close(b.estimate, R["clus_demo_by_city"]["estimate"]); close(b.se, R["clus_demo_by_city"]["se"])
    d = wt.rake_design(plain, margins, by="city")
    b = est.mean(d, "S1a", by="city")
    close(b.estimate, R["rake_clus_by_city"]["estimate"]); close(b.se, R["rake_clus_by_city"]["se"])


@pytest.mark.parametrize("method", ["linear", "raking"])
def test_calibrate(demo, margins, method):
    d = wt.calibrate_design(SurveyDesign(demo, strata="city"), margins, by="city", method=method)
    close(d.weights, R[f"calibrate_{method}_weights"])
    b = by_city(est.mean(d, ["S1a_joint", "E1b_joint"], by="city"), ["S1a_joint", "E1b_joint"])
    close(b.estimate, R[f"calibrate_{method}_by_city"]["estimate"]); close(b.se, R[f"calibrate_{method}_by_city"]["se"])


def test_poststratify(demo, margins):
    targets = margins[margins.variable == "sex_age"][["city", "category", "count"]].rename(columns={"count": "target"})
    d = wt.poststratify_design(SurveyDesign(demo, strata="city"), "sex_age", targets, by="city")
    close(d.weights, R["poststratify_weights"])
    b = est.mean(d, "S1a", by="city")
    close(b.estimate, R["poststratify_by_city"]["estimate"]); close(b.se, R["poststratify_by_city"]["se"])


def test_trim_weights_like_trimWeights(demo, margins):
    w = wt.rake(demo, margins, by="city").to_numpy()
    close(wt.trim_weights(w, 300, 30000, strict=True), R["trim_weights"])


def bootstrap_design(demo):
    counts = pd.read_csv(REF / "data" / "demo_bootstrap_counts.csv").to_numpy(dtype=float)
    n_h = demo.groupby("city")["id"].transform("size").to_numpy(dtype=float)
    reps = counts * (n_h / (n_h - 1))[:, None]
    B = reps.shape[1]
    return SurveyDesign(demo, strata="city", replicates=Replicates(reps, "bootstrap", 1 / (B - 1), np.ones(B)))


def test_bootstrap_replicates_as_svrepdesign(demo):
    b = by_city(est.mean(bootstrap_design(demo), ["S1a_joint", "E1b_joint"], by="city", method="replicate"),
                ["S1a_joint", "E1b_joint"])
    close(b.estimate, R["boot_by_city"]["estimate"]); close(b.se, R["boot_by_city"]["se"])


def test_reraked_bootstrap_replicates(demo, margins):
    d = wt.rake_design(bootstrap_design(demo), margins, by="city")
    b = by_city(est.mean(d, ["S1a_joint", "E1b_joint"], by="city", method="replicate"), ["S1a_joint", "E1b_joint"])
    close(b.estimate, R["boot_raked_by_city"]["estimate"]); close(b.se, R["boot_raked_by_city"]["se"])
    m = est.mean(d, "S1a", method="replicate")
    close(m.estimate, R["boot_raked_mean"]["estimate"]); close(m.se, R["boot_raked_mean"]["se"])


def test_linear_combination_of_domain_means_like_svycontrast(demo, margins):
    """The index is a fixed linear combination of a city's item means; its SE matches svycontrast."""
    complete = demo[["S1a", "E1b", "R3a"]].notna().all(axis=1)
    data = demo.assign(**{f"{c}_c": demo[c].where(complete) for c in ("S1a", "E1b", "R3a")})
    d = wt.rake_design(SurveyDesign(data, strata="city"), margins, by="city")
    coef = pd.DataFrame([[0.5, 0.3, 0.2]], columns=["S1a_c", "E1b_c", "R3a_c"], index=["combo"])
    out = est.linear_combination(d, ["S1a_c", "E1b_c", "R3a_c"], coef, by="city")
    ref = R["rake_combination"]
    assert out.city.tolist() == ref["names"]
    close(out.estimate, ref["estimate"]); close(out.se, ref["se"])
