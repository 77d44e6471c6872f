"""Plan targets (规划目标) of cities and the province, and whether a year's estimate meets them.

City governments write plans with targets — "公共服务业服务质量整体满意率达到 85 % 以上",
"主要生活性服务业消费者调查满意度达到 80 % 以上", an index to reach a value by a year. A project
declares them in ``data/raw/targets.yaml``; :func:`load_targets` reads the file and checks every
rule at once against the codebook, so that one run reports every mistake, each naming its key.

File format
-----------
.. code-block:: yaml

    version: 1
    confidence: 0.95          # optional; the confidence at which a verdict is given (0.5 < c < 1); default 0.95
    targets:
      - unit: 贺州            # a city (code, Chinese name, English name or alias) or "province"
        measure: score        # "score": a 0–100 index score; "rate": a satisfaction rate (满意率), in percent
        of: CSI               # score: the code of the index, a dimension or a second-level indicator;
                              # rate: "overall", a dimension code, or a five-point index item code
        threshold: 80         # 0–100 (points for a score, percent for a rate); "at least" (≥)
        year: 2024            # the target year (four digits)
        source: "贺州市 2020 年提升消费者满意度工作方案"   # optional: where the target was set (free text)

Rules (each broken rule is one listed error; all are collected before :class:`TargetsError` is
raised):

* the file is readable UTF-8 YAML whose top level is a mapping with the keys ``version`` (1, may be
  left out), ``confidence`` (optional) and ``targets`` (a list of mappings);
* an entry has the keys ``unit``, ``measure``, ``of``, ``threshold``, ``year`` and optionally
  ``source`` (free text), no other;
* ``unit`` names a city of the codebook (as ingestion resolves city names: code, Chinese or English
  name, alias; full-/half-width and case ignored) or is ``province``;
* ``measure`` is ``score`` or ``rate``;
* ``of``: for a score, a node of the codebook's indicator tree (the index, a dimension or a
  second-level indicator; a single item has no score); for a rate, ``overall``, a dimension, or an
  index item on the five-point scale — the rates :func:`satisfaction.breakdowns.satisfaction_rates`
  is defined for (with one item the rate is the share answering 4 or 5);
* ``threshold`` is a number in 0–100 (not a bool, not NaN): index points for a score, percent for a
  rate (a rate of 0.853 meets a threshold of 85; a rate's threshold in (0, 1] reads as a fraction and
  is refused: write 85, not 0.85);
* ``year`` is a whole number 1900–2999;
* no two entries share unit (after resolving the city name to its code), measure, of and year;
* ``confidence`` lies strictly between 0.5 and 1.

Verdicts
--------
A target is met when the true value is at or above the threshold. The survey gives an estimate
with a sampling distribution, so the verdict rests on the probability ``p`` that the true value
meets the target:

* from replicates (:func:`meet_probability`): the share of the replicate distribution at or above
  the threshold, ``p = #{b : θ*_b ≥ t} / B`` — the bootstrap probability, one minus the achieved
  significance level of the one-sided bootstrap test of ``θ ≥ t`` (Efron & Tibshirani 1993, §16.4);
* from a normal approximation (:func:`normal_probability`): ``p = Φ((θ̂ − t) / SE)``.

:func:`verdict` says "met" (已达成) when ``p ≥ c``, "not met" (未达成) when ``p ≤ 1 − c`` and
"too close to call" (尚难判断) otherwise, ``c`` the file's ``confidence``. Equivalently the target is
met when the threshold lies at or below the one-sided lower ``c`` confidence bound (percentile or
``θ̂ − z_c·SE``), and not met when it lies at or above the one-sided upper bound: the verdict never
contradicts the report's intervals at the same confidence.

References: Efron, B. & Tibshirani, R.J. (1993) *An Introduction to the Bootstrap*, Chapman & Hall,
ch. 13 (percentile intervals) and ch. 16 (hypothesis testing with the bootstrap).
"""
from __future__ import annotations

import hashlib
import math
import numbers
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .codebook import Codebook, normalize_header
from .errors import ExitCode, SatisfactionError

__all__ = ["TargetsError", "Target", "TargetSet", "load_targets", "VERDICTS", "meet_probability",
           "normal_probability", "verdict", "PROVINCE", "MEASURES", "DEFAULT_CONFIDENCE"]

#: The ``unit`` of a province-wide target.
PROVINCE = "province"
#: What a target may be set on: a 0–100 index score, or a satisfaction rate in percent.
MEASURES = ("score", "rate")
#: The confidence of a verdict when the file gives none.
DEFAULT_CONFIDENCE = 0.95
#: Verdict labels by language.
VERDICTS = {"zh": {"met": "已达成", "not_met": "未达成", "undecided": "尚难判断"},
            "en": {"met": "Met", "not_met": "Not met", "undecided": "Too close to call"}}

_REQUIRED = ("unit", "measure", "of", "threshold", "year")
_OPTIONAL = ("source",)
_TOP_LEVEL = ("version", "confidence", "targets")
_VERSION = 1
_YEARS = (1900, 2999)
_SCALE = (0.0, 100.0)


class TargetsError(SatisfactionError):
    """Raised when a targets file breaks a rule; the message names the file and every offending key."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, path: str, errors: list[str]):
        self.path = str(path)
        self.errors = list(errors)
        super().__init__(f"invalid targets file {self.path}:\n" + "\n".join(f"  - {e}" for e in self.errors))


@dataclass(frozen=True)
class Target:
    """One plan target: ``measure`` of ``of`` for ``unit`` at least ``threshold`` in ``year``.

    ``key`` is where it stands in the file (``targets[3]``); ``unit`` is a city code or
    ``"province"``; ``threshold`` is in index points (score) or percent (rate)."""

    key: str
    unit: str
    measure: str
    of: str
    threshold: float
    year: int
    source: str | None = None


@dataclass(frozen=True)
class TargetSet:
    """The validated targets of a project, in file order. Build it with :func:`load_targets`."""

    path: str
    confidence: float
    targets: tuple[Target, ...]
    sha256: str

    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def for_unit(self, unit: str) -> tuple[Target, ...]:
        """The targets of one unit: a city code, or ``"province"``."""
        return tuple(t for t in self.targets if t.unit == str(unit))

    def due(self, year: int) -> "TargetSet":
        """The targets still relevant in ``year``'s report: those whose target year is ``year`` or later
        (a target for 2025 is tracked in the 2024 report; one for 2023 is no longer)."""
        return replace(self, targets=tuple(t for t in self.targets if t.year >= int(year)))


# ---- loading and validation -------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _rate_groups(codebook: Codebook) -> tuple[set[str], set[str]]:
    """Dimensions with a satisfaction rate, and the five-point index items (one definition, shared
    with :func:`satisfaction.breakdowns.satisfaction_rates`)."""
    from .breakdowns import OVERALL, _five_point_items

    try:
        groups = _five_point_items(codebook)
    except SatisfactionError:  # no item on a 1–5 scale: no rate at all
        return set(), set()
    items = set(groups.pop(OVERALL))
    return set(groups), items


def _check_unit(value: Any, where: str, codebook: Codebook, errors: list[str]) -> str | None:
    if normalize_header(value) == PROVINCE:
        return PROVINCE
    code = codebook.city_lookup().get(normalize_header(value))
    if code is None:
        names = "、".join(c.zh for c in codebook.cities.values())
        errors.append(f"{where}.unit: {value!r} is not a city of the codebook nor \"{PROVINCE}\" (cities: {names})")
    return code


def _check_of(value: Any, measure: str, where: str, codebook: Codebook, errors: list[str]) -> str | None:
    """``of`` against the codebook: a node for a score; overall, a dimension or a five-point index item
    for a rate. Each refusal says which rule."""
    from .breakdowns import OVERALL

    of = str(value)
    nodes = {n.code: n for n in codebook.nodes()}
    if measure == "score":
        if of in nodes:
            return of
        if of in codebook.items:
            parent = next((ind.code for ind in codebook.indicators if of in ind.weights), None)
            hint = f" (its indicator is {parent!r})" if parent else ""
            if of in _rate_groups(codebook)[1]:
                hint += "; for the share of favourable answers use measure: rate"
            errors.append(f"{where}.of: {of!r} is an item, and a score is given for the index, a dimension or a "
                          f"second-level indicator, not for an item{hint}")
        else:
            errors.append(f"{where}.of: {of!r} is not a node of the codebook's indicator tree (a score is given for "
                          f"the index {codebook.tree.code!r}, a dimension or a second-level indicator: "
                          f"{', '.join(nodes)})")
        return None
    dims, items = _rate_groups(codebook)
    if of == OVERALL or of in dims or of in items:
        return of
    if of in {d.code for d in codebook.dimensions}:
        rule = f"dimension {of!r} has no index item on the five-point scale, so no satisfaction rate"
    elif of in codebook.items:
        item = codebook.items[of]
        if item.auxiliary:
            rule = f"{of!r} is not an index item (it is auxiliary); a rate is given for index items only"
        else:
            rule = (f"item {of!r} is on a {item.scale.min:g}–{item.scale.max:g} scale; a satisfaction rate is "
                    f"defined for five-point (1–5) index items only")
    elif of in nodes:
        kind = "the index" if nodes[of].level == 0 else "a second-level indicator"
        use = f"; use {OVERALL!r} for all five-point index items" if nodes[of].level == 0 else ""
        rule = f"{of!r} is {kind}, and a rate is given for {OVERALL!r}, a dimension or a five-point item{use}"
    else:
        rated = [d.code for d in codebook.dimensions if d.code in dims]
        rule = f"{of!r} is neither {OVERALL!r}, a dimension ({', '.join(rated)}) nor a five-point index item of the codebook"
    errors.append(f"{where}.of: {rule}")
    return None


def _check_threshold(value: Any, where: str, errors: list[str]) -> float | None:
    lo, hi = _SCALE
    if not _is_number(value):
        errors.append(f"{where}.threshold: {value!r} is not a number (write the value on the 0–100 scale, "
                      f"e.g. 85 for 85 %)")
        return None
    value = float(value)
    if math.isnan(value):
        errors.append(f"{where}.threshold: NaN is not a threshold")
        return None
    if not lo <= value <= hi:
        errors.append(f"{where}.threshold: {value:g} is outside the scale {lo:g}–{hi:g} (index points for a score, "
                      f"percent for a rate)")
        return None
    return value


def _check_year(value: Any, where: str, errors: list[str]) -> int | None:
    lo, hi = _YEARS
    if not _is_number(value) or not math.isfinite(float(value)) or float(value) != int(value) \
            or not lo <= int(value) <= hi:
        errors.append(f"{where}.year: {value!r} is not a year (a whole number {lo}–{hi})")
        return None
    return int(value)


def _check_confidence(raw: dict, errors: list[str]) -> float:
    value = raw.get("confidence", DEFAULT_CONFIDENCE)
    if not _is_number(value) or not 0.5 < float(value) < 1:  # NaN fails the comparison too
        errors.append(f"confidence: {value!r} must be a number strictly between 0.5 and 1 (e.g. 0.95)")
        return DEFAULT_CONFIDENCE
    return float(value)


def load_targets(path: str | Path, codebook: Codebook) -> TargetSet:
    """Read and validate a targets file (format and rules: the module's docstring).

    Parameters
    ----------
    path : the YAML file; a relative path is read from the current folder if it is there, else from
        the project root (as :func:`satisfaction.load_codebook`).
    codebook : the codebook the targets refer to (cities, indicator tree, items).

    Returns
    -------
    TargetSet
        Targets in file order, cities resolved to their codes.

    Raises
    ------
    TargetsError
        Listing every problem, each naming its key (``targets[3].threshold``), the value and the rule.
    """
    from .codebook import read_yaml_mapping

    path, raw, blob = read_yaml_mapping(path, TargetsError,
                                        "top level must be a mapping with the key 'targets', got {type}")

    errors: list[str] = []
    for key in raw:
        if key not in _TOP_LEVEL:
            errors.append(f"{key}: unknown top-level key (allowed: {', '.join(_TOP_LEVEL)})")
    if raw.get("version", _VERSION) != _VERSION:
        errors.append(f"version: {raw['version']!r} is not supported (this toolkit reads version {_VERSION})")
    confidence = _check_confidence(raw, errors)
    entries = raw.get("targets")
    if "targets" not in raw:
        errors.append("targets: missing (a list of targets)")
        entries = []
    elif not isinstance(entries, list):
        errors.append(f"targets: must be a list of targets, got {entries!r}")
        entries = []

    targets: list[Target] = []
    seen: dict[tuple, str] = {}
    for i, entry in enumerate(entries):
        where = f"targets[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping with the keys {', '.join(_REQUIRED)} (got {entry!r})")
            continue
        for key in entry:
            if key not in _REQUIRED + _OPTIONAL:
                errors.append(f"{where}.{key}: unknown key (allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
        missing = [key for key in _REQUIRED if entry.get(key) is None]
        for key in missing:
            errors.append(f"{where}.{key}: missing (required: {', '.join(_REQUIRED)})")

        unit = measure = of = threshold = year = None
        if "unit" not in missing:
            unit = _check_unit(entry["unit"], where, codebook, errors)
        if "measure" not in missing:
            measure = entry["measure"]
            if measure not in MEASURES:
                errors.append(f"{where}.measure: {measure!r} is not one of {', '.join(MEASURES)}")
                measure = None
        if "of" not in missing and measure is not None:
            of = _check_of(entry["of"], measure, where, codebook, errors)
        if "threshold" not in missing:
            threshold = _check_threshold(entry["threshold"], where, errors)
            if measure == "rate" and threshold is not None and 0 < threshold <= 1:
                errors.append(f"{where}.threshold: {threshold:g} reads as a fraction; a rate's threshold is in percent "
                              f"(write {threshold * 100:g} for {threshold * 100:g} %)")
                threshold = None
        if "year" not in missing:
            year = _check_year(entry["year"], where, errors)
        source = entry.get("source")
        if source is not None and not isinstance(source, str):
            errors.append(f"{where}.source: {source!r} must be text")
            source = None

        if None in (unit, measure, of, threshold, year):
            continue
        identity = (unit, measure, of, year)
        if identity in seen:
            shown = codebook.city_label(unit) if unit in codebook.cities else unit
            errors.append(f"{where}: duplicate of {seen[identity]} (same unit {shown}, measure {measure}, "
                          f"of {of}, year {year})")
            continue
        seen[identity] = where
        targets.append(Target(where, unit, measure, of, threshold, year, source))

    if errors:
        raise TargetsError(str(path), errors)
    return TargetSet(str(path), confidence, tuple(targets), hashlib.sha256(blob).hexdigest())


# ---- verdicts ---------------------------------------------------------------------------


def _threshold_value(threshold: Any) -> float:
    if not _is_number(threshold) or math.isnan(float(threshold)):
        raise SatisfactionError(f"threshold must be a number, got {threshold!r}")
    return float(threshold)


def meet_probability(draws, threshold) -> float:
    """Share of the replicate distribution at or above the threshold: the bootstrap probability that
    the true value meets the target.

    ``draws`` is a 1-D array of draws of the estimate, already centred and scaled so that its
    variance is the estimate's sampling variance (bootstrap replicates as they come; rescaled
    replicates ``θ̂ + f·(θ*_b − θ̄*)`` for designs whose variance carries a factor ``f``), on the scale
    of ``threshold`` (percent for a rate, as in the targets file):

        p = #{b : θ*_b ≥ t} / #{b : θ*_b not NaN}

    NaN draws (a replicate in which the estimate is undefined) are left out; with none left the
    probability is NaN. ``p ≥ c`` is the same as ``t`` lying at or below the ``1 − c`` quantile of
    the draws, the one-sided lower percentile bound (Efron & Tibshirani 1993, ch. 13 and 16).
    """
    x = np.asarray(draws, dtype=float)
    if x.ndim != 1:
        raise SatisfactionError(f"draws must be a 1-D array of draws of one estimate, got shape {x.shape}")
    t = _threshold_value(threshold)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan
    return float(np.count_nonzero(x >= t) / x.size)


def normal_probability(estimate, se, threshold) -> float:
    """Probability that the true value meets the target under the normal approximation:

        p = Φ((θ̂ − t) / SE)

    With ``SE = 0`` the estimate is taken as exact: 1.0 if ``θ̂ ≥ t``, else 0.0. A NaN estimate or SE
    gives NaN. ``p ≥ c`` is the same as ``t ≤ θ̂ − z_c·SE``, the one-sided lower Wald bound.
    """
    t = _threshold_value(threshold)
    estimate, se = float(estimate), float(se)
    if math.isnan(estimate) or math.isnan(se):
        return math.nan
    if se < 0:
        raise SatisfactionError(f"se must not be negative, got {se:g}")
    if se == 0:
        return 1.0 if estimate >= t else 0.0
    z = (estimate - t) / se
    return 0.5 * math.erfc(-z / math.sqrt(2))  # Φ(z), accurate in both tails


def verdict(probability, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """``"met"`` if ``probability ≥ confidence``; ``"not_met"`` if ``probability ≤ 1 − confidence``;
    else ``"undecided"``. Labels for the reader: :data:`VERDICTS`.

    ``probability``: from :func:`meet_probability` or :func:`normal_probability`. A NaN probability
    (no estimate, or no replicate where it is defined) gives ``"undecided"``: there is no evidence
    either way, and the target is neither claimed nor denied.
    """
    if not _is_number(confidence) or not 0.5 < float(confidence) < 1:
        raise SatisfactionError(f"confidence must lie strictly between 0.5 and 1, got {confidence!r}")
    if not _is_number(probability):
        raise SatisfactionError(f"probability must be a number in [0, 1], got {probability!r}")
    p = float(probability)
    if math.isnan(p):
        return "undecided"
    if not 0 <= p <= 1:
        raise SatisfactionError(f"probability must lie in [0, 1], got {p:g}")
    if p >= confidence:
        return "met"
    if 1 - p >= confidence:  # p ≤ 1 − c, written so that p = 0.1 at c = 0.9 is not lost to rounding
        return "not_met"
    return "undecided"
