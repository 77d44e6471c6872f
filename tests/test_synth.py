"""The demo survey: committed files regenerate byte for byte, and the data look like the real thing."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

import satisfaction as sat
from satisfaction import synth
from satisfaction.index import unit_scores
from conftest import ROOT


@pytest.fixture(scope="module")
def demo(codebook):
    return synth.generate(codebook=codebook)


def test_regenerating_gives_the_committed_files(tmp_path, codebook):
    hashes = synth.write_raw(tmp_path, codebook=codebook)
    raw = ROOT / "data" / "raw"
    committed = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file() and p.name not in ("codebook.yaml", "targets.yaml")}
    assert set(hashes) == committed
    for rel, digest in hashes.items():
        assert hashlib.sha256((raw / rel).read_bytes()).hexdigest() == digest, f"{rel} differs from a fresh generation"


def test_same_seed_same_data_other_seed_other_data(codebook):
    a = synth.generate(seed=7, years=[2020], codebook=codebook).responses[2020]
    b = synth.generate(seed=7, years=[2020], codebook=codebook).responses[2020]
    c = synth.generate(seed=8, years=[2020], codebook=codebook).responses[2020]
    pd.testing.assert_frame_equal(a, b)
    assert not a[codebook.index_items].equals(c[codebook.index_items])


def test_committed_raw_files_ingest_cleanly(ingested):
    survey = ingested[2019]
    assert survey.rows_rejected == 0 and not survey.problems
    assert {s["format"] for s in survey.sources} == {"csv", "xlsx"}
    assert {s["encoding"] for s in survey.sources} == {"utf-8-sig", "gb18030", None}


def straight_liners(df, codebook):
    five = [c for c in codebook.index_items if codebook.items[c].scale.max == 5]
    return df[five].nunique(axis=1).eq(1)


def test_sample_sizes_and_years(demo, codebook):
    assert sorted(demo.responses) == list(range(2019, 2025))
    for year, df in demo.responses.items():
        valid = df[~straight_liners(df, codebook) & (df["duration_sec"] >= 300)]
        counts = valid.groupby("city").size()
        assert len(counts) == 14 and counts.min() >= 538, year


def test_dont_know_rates_between_3_and_8_percent(demo, codebook):
    df = demo.responses[2024]
    for code in codebook.index_items:
        rate = df[code].isin(codebook.items[code].scale.dont_know).mean()
        assert 0.02 <= rate <= 0.09, (code, rate)


def cronbach_alpha(x: pd.DataFrame) -> float:
    x = x.dropna()
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(ddof=1).sum() / x.sum(axis=1).var(ddof=1))


@pytest.fixture(scope="module")
def ingested(codebook):
    return {year: sat.load_survey(ROOT / "data" / "raw" / str(year), codebook, year=year) for year in (2019, 2024)}


def test_reliability_is_realistic(ingested, codebook):
    data = ingested[2024].data
    for dim in codebook.dimensions:
        items = [c for ind in dim.children for c in ind.weights]
        assert 0.7 <= cronbach_alpha(data[items]) <= 0.9, dim.code


def test_sample_over_represents_young_urban_educated(demo, codebook):
    df = demo.responses[2024]
    margins = demo.margins
    nanning = margins[margins.city == "450100"]
    res = nanning[nanning.variable == "residence"].set_index("category")["count"]
    pop_urban = res["1"] / res.sum()
    sample_urban = (df[df.city == "450100"]["residence"] == 1).mean()
    assert sample_urban > pop_urban + 0.05
    edu = margins[(margins.variable == "education")].groupby("category")["count"].sum()
    assert (df["education"] == 4).mean() > edu["4"] / edu.sum() + 0.05


def test_hezhou_climbs_from_the_bottom(ingested, codebook):
    ranks = {}
    for year, survey in ingested.items():
        scores = unit_scores(survey.data, codebook).set_index("city")
        ranks[year] = int(scores.loc["451100", "rank"])
    assert ranks[2019] >= 12 and ranks[2024] <= ranks[2019] - 4


def test_margins_cover_every_city_and_category(demo, codebook):
    m = demo.margins
    assert set(m.city) == set(codebook.cities)
    per_city = m.groupby(["city", "variable"])["count"].sum().unstack()
    # each margin variable adds up to the same city total (up to rounding)
    assert (per_city.max(axis=1) - per_city.min(axis=1)).max() <= 10
    assert (m["count"] > 0).all()
    assert set(m[m.variable == "sex_age"].category) == {f"{s}_{a}" for s in (1, 2) for a in range(1, 6)}
