"""The codebook loads, and each kind of mistake is reported with the key at fault."""
from __future__ import annotations

import copy

import pytest
import yaml

import satisfaction as sat
from conftest import CODEBOOK


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))


def load_mutated(tmp_path, raw, mutate):
    data = copy.deepcopy(raw)
    mutate(data)
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(sat.CodebookError) as info:
        sat.load_codebook(path)
    return "\n".join(info.value.errors)


def test_bundled_codebook_shape(codebook):
    assert [d.zh for d in codebook.dimensions] == ["消费供给", "消费环境", "消费维权"]
    assert 15 <= len(codebook.indicators) <= 17
    assert 24 <= len(codebook.index_items) <= 27
    assert len(codebook.cities) == 14
    assert {c.zh for c in codebook.cities.values()} >= {"南宁", "贺州", "崇左"}
    assert sum(codebook.tree.weights.values()) == pytest.approx(1)
    for node in codebook.nodes():
        assert sum(node.weights.values()) == pytest.approx(1), node.code
    assert codebook.items["E1b"].reverse and codebook.items["OVERALL"].auxiliary
    assert codebook.label("S", "en") == "Consumption supply" and codebook.label("450100") == "南宁"


def test_weights_must_sum_to_one(tmp_path, raw):
    def mutate(d):
        d["tree"][0]["children"][0]["items"]["S1a"] = 0.7
    msg = load_mutated(tmp_path, raw, mutate)
    assert "tree[0].children[0] (S1) items: weights must sum to 1, got 1.2" in msg


def test_first_level_weights_must_sum_to_one(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d["tree"][2].update(weight=0.5))
    assert "tree (first-level): weights must sum to 1" in msg


def test_negative_weight(tmp_path, raw):
    def mutate(d):
        d["tree"][0]["children"][4]["items"] = {"S5a": -1.0}
    msg = load_mutated(tmp_path, raw, mutate)
    assert "weight of 'S5a' must be positive" in msg


def test_item_in_two_branches(tmp_path, raw):
    def mutate(d):
        d["tree"][1]["children"][1]["items"] = {"E2a": 0.5, "S1a": 0.5}
    msg = load_mutated(tmp_path, raw, mutate)
    assert "item 'S1a' is already in branch S1" in msg


def test_unknown_scale(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d["items"]["S1a"].update(scale="likert7"))
    assert "items.S1a: unknown scale 'likert7'" in msg


def test_duplicate_code(tmp_path, raw):
    def mutate(d):
        d["tree"][0]["children"][1]["code"] = "S1"
    msg = load_mutated(tmp_path, raw, mutate)
    assert "duplicate code 'S1'" in msg


def test_duplicate_city_code(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d["cities"][1].update(code="450100"))
    assert "cities[1]: duplicate code '450100'" in msg


def test_undefined_item_in_tree(tmp_path, raw):
    def mutate(d):
        d["tree"][0]["children"][4]["items"] = {"S5a": 0.5, "S5z": 0.5}
    msg = load_mutated(tmp_path, raw, mutate)
    assert "item 'S5z' is not defined under 'items'" in msg


def test_item_outside_tree(tmp_path, raw):
    def mutate(d):
        d["items"]["X1"] = {"zh": "多余题目", "en": "Stray", "scale": "agree5", "headers": ["X1"]}
    msg = load_mutated(tmp_path, raw, mutate)
    assert "items.X1: not in the indicator tree" in msg


def test_bad_scale(tmp_path, raw):
    def mutate(d):
        d["scales"]["agree5"]["min"] = 5
        d["scales"]["freq5"]["dont_know"] = [3]
    msg = load_mutated(tmp_path, raw, mutate)
    assert "scales.agree5: min (5) must be below max (5)" in msg
    assert "scales.freq5: missing/don't-know code 3 lies inside the scale [1, 5]" in msg


def test_header_claimed_twice(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d["items"]["S1b"]["headers"].append("Q01"))
    assert "header 'q01' is also claimed by S1a" in msg


def test_missing_label(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d["items"]["S2a"].pop("zh"))
    assert "items.S2a: missing Chinese label 'zh'" in msg


def test_all_errors_reported_together(tmp_path, raw):
    def mutate(d):
        d["items"]["S1a"]["scale"] = "nope"
        d["tree"][2]["weight"] = 0.9
        d["cities"][3]["code"] = "450100"
    errors = load_mutated(tmp_path, raw, mutate).splitlines()
    assert len(errors) >= 3


def test_not_yaml(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(sat.CodebookError, match="not valid UTF-8 YAML"):
        sat.load_codebook(path)


def test_missing_top_level_key(tmp_path, raw):
    msg = load_mutated(tmp_path, raw, lambda d: d.pop("tree"))
    assert "missing top-level key 'tree'" in msg


def test_stage_modules_are_reachable_from_the_package():
    import satisfaction as sat

    assert callable(sat.ranking.rank_sets) and callable(sat.index.pls_path) and callable(sat.reliability.omega)
    assert callable(sat.weighting.rake) and callable(sat.estimate.mean) and callable(sat.schemes.ahp)
    with pytest.raises(AttributeError):
        sat.no_such_stage


def test_weighting_method_is_checked(tmp_path, raw):
    errors = load_mutated(tmp_path, raw, lambda d: d["weighting"].update(method="ipf"))
    assert "weighting.method: 'ipf' is not one of raking, linear, poststratify" in errors
    errors = load_mutated(tmp_path, raw, lambda d: d["weighting"].update(method="poststratify"))
    assert "poststratify uses one margin (crossed cells), got 3" in errors


def test_weighting_fallback_names_known_margins(tmp_path, raw):
    errors = load_mutated(tmp_path, raw, lambda d: d["weighting"].update(fallback=[["education", "income"]]))
    assert "weighting.fallback[0]: 'income' is not one of the margins (" in errors
