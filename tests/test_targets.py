"""Plan targets: the demo file loads, every broken rule is reported with its key, and verdicts follow
the probability that the true value meets the target."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from satisfaction.errors import ExitCode, SatisfactionError
from satisfaction.targets import (VERDICTS, Target, TargetsError, TargetSet, load_targets, meet_probability,
                                  normal_probability, verdict)

TARGETS = ROOT / "data" / "raw" / "targets.yaml"
HEZHOU, LIUZHOU, NANNING, CHONGZUO = "451100", "450200", "450100", "451400"


def entry(**changes) -> dict:
    """A valid target, with ``changes`` applied (a value of ``None`` drops the key)."""
    out = {"unit": "贺州", "measure": "score", "of": "CSI", "threshold": 78, "year": 2024}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def write(tmp_path, content) -> str:
    path = tmp_path / "targets.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def errors_of(tmp_path, codebook, content) -> tuple[str, list[str]]:
    """Load a bad file; return the error's message (checked to name the file) and its list of errors."""
    path = write(tmp_path, content)
    with pytest.raises(TargetsError) as info:
        load_targets(path, codebook)
    message = str(info.value)
    assert message.startswith(f"invalid targets file {path}:\n")
    assert info.value.path == path
    return message, info.value.errors


def only_error(tmp_path, codebook, *entries, **top) -> str:
    """The single error a file with these entries gives."""
    _, errors = errors_of(tmp_path, codebook, {"version": 1, **top, "targets": list(entries)})
    assert len(errors) == 1, errors
    return errors[0]


# ---- the demo file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(codebook) -> TargetSet:
    return load_targets(TARGETS, codebook)


def test_demo_targets_load(demo, codebook):
    assert demo.path == str(TARGETS)
    assert demo.sha256 == hashlib.sha256(TARGETS.read_bytes()).hexdigest()
    assert demo.confidence == 0.95
    assert 8 <= len(demo) <= 12
    assert [t.key for t in demo] == [f"targets[{i}]" for i in range(len(demo))]
    for t in demo:
        assert isinstance(t, Target)
        assert t.unit == "province" or t.unit in codebook.cities
        assert t.measure in ("score", "rate") and 0 <= t.threshold <= 100 and t.year in (2024, 2025)
        assert t.source and "示例" in t.source
    assert Target("targets[2]", HEZHOU, "score", "CSI", 78.0, 2024, "贺州市提升消费者满意度三年行动方案（示例）") in demo.targets
    assert Target("targets[0]", "province", "rate", "overall", 85.0, 2025,
                  "广西壮族自治区提升消费者满意度行动方案（示例）") == demo.targets[0]


def test_for_unit_and_due(demo):
    hezhou = demo.for_unit(HEZHOU)
    assert [(t.measure, t.of, t.threshold, t.year) for t in hezhou] == [
        ("score", "CSI", 78.0, 2024), ("rate", "R", 80.0, 2025), ("score", "S5", 76.0, 2024)]
    assert {t.of for t in demo.for_unit("province")} == {"overall", "CSI"}
    assert {len(demo.for_unit(c)) for c in (LIUZHOU, NANNING, CHONGZUO)} == {2}
    assert demo.for_unit("贺州") == ()        # units are codes once loaded
    assert demo.due(2024).targets == demo.targets
    later = demo.due(2025)
    assert isinstance(later, TargetSet) and later.sha256 == demo.sha256 and later.confidence == demo.confidence
    assert later.targets and all(t.year == 2025 for t in later)
    assert [t for t in demo if t.year >= 2025] == list(later)
    assert len(demo.due(2026)) == 0


def test_city_names_resolve_to_codes(tmp_path, codebook):
    spellings = ["贺州", "贺州市", "Hezhou", " HEZHOU ", "451100", 451100]
    path = write(tmp_path, {"targets": [entry(unit=u, year=2020 + i) for i, u in enumerate(spellings)]
                            + [entry(unit="Province", year=2024), entry(unit="南宁", measure="rate", of="E4a", year=2024)]})
    loaded = load_targets(path, codebook)
    assert [t.unit for t in loaded] == [HEZHOU] * len(spellings) + ["province", NANNING]
    assert loaded.confidence == 0.95 and all(t.source is None for t in loaded)


def test_relative_path_is_read_from_the_project(tmp_path, monkeypatch, codebook):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SATISFACTION_HOME", str(ROOT))
    assert load_targets("data/raw/targets.yaml", codebook).sha256 == hashlib.sha256(TARGETS.read_bytes()).hexdigest()


# ---- one rule at a time ---------------------------------------------------------------------------


def test_error_class():
    err = TargetsError("t.yaml", ["a", "b"])
    assert isinstance(err, SatisfactionError) and err.exit_code == ExitCode.BAD_INPUT
    assert str(err) == "invalid targets file t.yaml:\n  - a\n  - b"


def test_unreadable_file(tmp_path, codebook):
    path = tmp_path / "absent.yaml"
    with pytest.raises(TargetsError, match="cannot read file") as info:
        load_targets(path, codebook)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content, rule", [
    ("targets:\n  - unit: 贺州\n".encode("gbk"), "not valid UTF-8 YAML"),
    ("targets: [unit: {\n", "not valid UTF-8 YAML"),
    ("- unit: 贺州\n", "top level must be a mapping"),
    ("", "top level must be a mapping"),
])
def test_file_level_problems(tmp_path, codebook, content, rule):
    _, errors = errors_of(tmp_path, codebook, content)
    assert len(errors) == 1 and rule in errors[0]


@pytest.mark.parametrize("top, rule", [
    ({"version": 1}, "targets: missing"),
    ({"targets": {"unit": "贺州"}}, "targets: must be a list of targets"),
    ({"targets": None}, "targets: must be a list of targets"),
    ({"targets": [], "version": 2}, "version: 2 is not supported"),
    ({"targets": [], "confidance": 0.9}, "confidance: unknown top-level key (allowed: version, confidence, targets)"),
])
def test_top_level_keys(tmp_path, codebook, top, rule):
    _, errors = errors_of(tmp_path, codebook, top)
    assert errors == [e for e in errors if rule in e] and len(errors) == 1


def test_empty_list_is_no_targets(tmp_path, codebook):
    loaded = load_targets(write(tmp_path, {"version": 1, "targets": []}), codebook)
    assert loaded.targets == () and loaded.confidence == 0.95


def test_entry_not_a_mapping(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(), "贺州 CSI 78")
    assert error.startswith("targets[1]: must be a mapping with the keys unit, measure, of, threshold, year")


def test_unknown_and_missing_keys(tmp_path, codebook):
    _, errors = errors_of(tmp_path, codebook, {"targets": [entry(threshold=None, treshold=78)]})
    assert errors == ["targets[0].treshold: unknown key (allowed: unit, measure, of, threshold, year, source)",
                      "targets[0].threshold: missing (required: unit, measure, of, threshold, year)"]


@pytest.mark.parametrize("key", ["unit", "measure", "of", "threshold", "year"])
def test_each_required_key(tmp_path, codebook, key):
    error = only_error(tmp_path, codebook, entry(**{key: None}))
    assert error == f"targets[0].{key}: missing (required: unit, measure, of, threshold, year)"


def test_unknown_unit(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(), entry(unit="梧洲"))
    names = "、".join(c.zh for c in codebook.cities.values())
    assert error == f"targets[1].unit: '梧洲' is not a city of the codebook nor \"province\" (cities: {names})"
    assert names.startswith("南宁、柳州、")


def test_unknown_measure(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(measure="index"))
    assert error == "targets[0].measure: 'index' is not one of score, rate"


@pytest.mark.parametrize("of", ["CSI", "S", "R", "S5", "E4"])
def test_score_of_a_node(tmp_path, codebook, of):
    assert load_targets(write(tmp_path, {"targets": [entry(of=of)]}), codebook).targets[0].of == of


@pytest.mark.parametrize("of, rule", [
    ("S5a", "'S5a' is an item, and a score is given for the index, a dimension or a second-level indicator, "
            "not for an item (its indicator is 'S5')"),
    ("X9", "'X9' is not a node of the codebook's indicator tree"),
    ("overall", "'overall' is not a node of the codebook's indicator tree"),
])
def test_score_of_not_a_node(tmp_path, codebook, of, rule):
    error = only_error(tmp_path, codebook, entry(of=of))
    assert error.startswith(f"targets[0].of: {rule}")


@pytest.mark.parametrize("of", ["overall", "S", "E", "R", "E4a", "E1b", "R5a"])
def test_rate_of_overall_dimension_or_five_point_item(tmp_path, codebook, of):
    loaded = load_targets(write(tmp_path, {"targets": [entry(measure="rate", of=of, threshold=80)]}), codebook)
    assert loaded.targets[0].of == of and loaded.targets[0].threshold == 80.0


@pytest.mark.parametrize("of, rule", [
    ("S5a", "item 'S5a' is on a 1–10 scale; a satisfaction rate is defined for five-point (1–5) index items only"),
    ("OVERALL", "'OVERALL' is not an index item (it is auxiliary)"),
    ("CSI", "'CSI' is the index, and a rate is given for 'overall', a dimension or a five-point item; use 'overall'"),
    ("S1", "'S1' is a second-level indicator, and a rate is given for 'overall', a dimension or a five-point item"),
    ("ZZ", "'ZZ' is neither 'overall', a dimension (S, E, R) nor a five-point index item of the codebook"),
])
def test_rate_of_something_without_a_rate(tmp_path, codebook, of, rule):
    error = only_error(tmp_path, codebook, entry(measure="rate", of=of, threshold=80))
    assert error.startswith(f"targets[0].of: {rule}")


@pytest.mark.parametrize("value, rule", [
    ("85 %", "'85 %' is not a number"),
    (True, "True is not a number"),
    (float("nan"), "NaN is not a threshold"),
    (100.5, "100.5 is outside the scale 0–100"),
    (-1, "-1 is outside the scale 0–100"),
])
def test_threshold(tmp_path, codebook, value, rule):
    error = only_error(tmp_path, codebook, entry(threshold=value))
    assert error.startswith(f"targets[0].threshold: {rule}")


def test_threshold_ends_of_the_scale_are_allowed(tmp_path, codebook):
    loaded = load_targets(write(tmp_path, {"targets": [entry(threshold=0, year=2024), entry(threshold=100, year=2025),
                                                       entry(measure="rate", of="S", threshold=1.5)]}), codebook)
    assert [t.threshold for t in loaded] == [0.0, 100.0, 1.5]


def test_rate_threshold_as_a_fraction(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(measure="rate", of="overall", threshold=0.85))
    assert error == "targets[0].threshold: 0.85 reads as a fraction; a rate's threshold is in percent (write 85 for 85 %)"


@pytest.mark.parametrize("value", [2024.5, 1899, 3000, "2024", True, float("inf")])
def test_year(tmp_path, codebook, value):
    error = only_error(tmp_path, codebook, entry(year=value))
    assert error == f"targets[0].year: {value!r} is not a year (a whole number 1900–2999)"


def test_source_must_be_text(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(source=2020))
    assert error == "targets[0].source: 2020 must be text"


def test_duplicate_after_resolving_the_city(tmp_path, codebook):
    error = only_error(tmp_path, codebook, entry(), entry(year=2025), entry(unit="Hezhou", threshold=80))
    assert error == "targets[2]: duplicate of targets[0] (same unit 贺州, measure score, of CSI, year 2024)"
    # differing in any one of unit, measure, of or year is no duplicate
    loaded = load_targets(write(tmp_path, {"targets": [entry(), entry(unit="南宁"), entry(of="S"), entry(year=2025),
                                                       entry(measure="rate", of="R")]}), codebook)
    assert len(loaded) == 5


@pytest.mark.parametrize("value", [0.5, 1, 1.2, 0.3, "high", True, float("nan")])
def test_confidence_outside_half_to_one(tmp_path, codebook, value):
    error = only_error(tmp_path, codebook, entry(), confidence=value)
    assert error.startswith(f"confidence: {value!r} must be a number strictly between 0.5 and 1")


def test_confidence_is_read(tmp_path, codebook):
    assert load_targets(write(tmp_path, {"confidence": 0.9, "targets": [entry()]}), codebook).confidence == 0.9


def test_every_problem_is_listed(tmp_path, codebook):
    content = {"confidence": 2, "targets": [
        entry(),
        entry(unit="梧洲", measure="rate", of="S5a", threshold=120, year=24),
        "not a target",
        entry(measure="level", colour="red"),
        entry(),
    ]}
    message, errors = errors_of(tmp_path, codebook, content)
    expected = ["confidence:", "targets[1].unit: '梧洲'", "targets[1].of: item 'S5a' is on a 1–10 scale",
                "targets[1].threshold: 120 is outside the scale 0–100", "targets[1].year: 24 is not a year",
                "targets[2]: must be a mapping", "targets[3].colour: unknown key",
                "targets[3].measure: 'level' is not one of score, rate", "targets[4]: duplicate of targets[0]"]
    assert len(errors) == len(expected)
    for start, error in zip(expected, errors):
        assert error.startswith(start), (start, error)
        assert f"  - {error}" in message


# ---- verdicts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    """2000 draws of an estimate of 75 with a standard error of 1."""
    return 75 + np.random.default_rng(20240315).standard_normal(2000)


def mc_se(p: float, n: int = 2000) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_far_below_is_met_far_above_is_not(draws):
    assert meet_probability(draws, 65) == 1.0 and verdict(meet_probability(draws, 65)) == "met"
    assert meet_probability(draws, 85) == 0.0 and verdict(meet_probability(draws, 85)) == "not_met"
    assert normal_probability(75, 1, 65) == pytest.approx(1, abs=1e-12)
    assert normal_probability(75, 1, 85) == pytest.approx(0, abs=1e-12) and normal_probability(75, 1, 85) > 0


def test_at_the_mean_is_undecided(draws):
    p = meet_probability(draws, 75)
    assert abs(p - 0.5) <= 3 * mc_se(0.5)
    assert verdict(p) == "undecided" and verdict(normal_probability(75, 1, 75)) == "undecided"
    assert normal_probability(75, 1, 75) == 0.5


def test_met_exactly_when_the_threshold_is_at_or_below_the_lower_percentile_bound(draws):
    """p ≥ 0.95 ⟺ fewer than 5 % of the draws fall below the threshold."""
    bound = np.sort(draws)[100]        # 100 of the 2000 draws lie below it
    assert meet_probability(draws, bound) == 0.95 and verdict(meet_probability(draws, bound)) == "met"
    above = np.nextafter(bound, np.inf)
    assert meet_probability(draws, above) == 1899 / 2000 and verdict(meet_probability(draws, above)) == "undecided"


@pytest.mark.parametrize("threshold, p", [(73.355, 0.95), (76.645, 0.05), (74, 0.8413), (76, 0.1587)])
def test_normal_probability_values(threshold, p):
    assert normal_probability(75, 1, threshold) == pytest.approx(p, abs=2e-4)


def test_normal_probability_with_no_sampling_error():
    assert normal_probability(80, 0, 80) == 1.0 and normal_probability(79.9, 0, 80) == 0.0
    assert math.isnan(normal_probability(float("nan"), 1, 80)) and math.isnan(normal_probability(80, float("nan"), 80))
    with pytest.raises(SatisfactionError, match="se must not be negative"):
        normal_probability(80, -1, 80)


def test_nan_draws_are_left_out(draws):
    with_nan = np.concatenate([draws, np.full(50, np.nan)])
    assert meet_probability(with_nan, 76) == meet_probability(draws, 76)
    assert math.isnan(meet_probability(np.full(10, np.nan), 76)) and math.isnan(meet_probability([], 76))
    assert verdict(float("nan")) == "undecided"


def test_bad_arguments(draws):
    with pytest.raises(SatisfactionError, match="1-D"):
        meet_probability(draws.reshape(2, -1), 75)
    with pytest.raises(SatisfactionError, match="threshold must be a number"):
        meet_probability(draws, float("nan"))
    with pytest.raises(SatisfactionError, match="confidence"):
        verdict(0.9, confidence=0.5)
    with pytest.raises(SatisfactionError, match=r"\[0, 1\]"):
        verdict(1.2)


@pytest.mark.parametrize("p, confidence, expected", [
    (0.95, 0.95, "met"), (0.9499, 0.95, "undecided"), (0.05, 0.95, "not_met"), (0.0501, 0.95, "undecided"),
    (0.9, 0.9, "met"), (0.1, 0.9, "not_met"), (0.5, 0.9, "undecided"), (1.0, 0.99, "met"), (0.0, 0.99, "not_met"),
])
def test_verdict_rule(p, confidence, expected):
    assert verdict(p, confidence) == expected
    assert set(VERDICTS["zh"]) == set(VERDICTS["en"]) == {"met", "not_met", "undecided"}


# By the Dvoretzky–Kiefer–Wolfowitz inequality, P(sup_t |F̂_n(t) − F(t)| > ε) ≤ 2 exp(−2 n ε²):
# 1e-6 for n = 2000 at this ε, uniformly over every threshold hypothesis may choose.
DKW_EPS = math.sqrt(math.log(2 / 1e-6) / (2 * 2000))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(estimate=st.floats(0, 100), se=st.floats(0.1, 5), z=st.floats(-4, 4), seed=st.integers(0, 2**32 - 1))
def test_bootstrap_and_normal_probabilities_agree(estimate, se, z, seed):
    draws = estimate + se * np.random.default_rng(seed).standard_normal(2000)
    threshold = estimate + z * se
    assert abs(meet_probability(draws, threshold) - normal_probability(estimate, se, threshold)) <= DKW_EPS
