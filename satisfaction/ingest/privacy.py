"""Personal data: the codebook's rules, checked on every column, and masking so that a value that
looks personal is never repeated in what ingestion writes.

The codebook's ``personal_data`` section declares the rules:

- ``header_patterns``: a column whose header matches is personal data whatever it holds;
- ``value_patterns``: regular expressions for values that are personal wherever they appear
  (mobile numbers ``^1[3-9]\\d{9}$``, e-mail addresses), also found inside a longer text;
- ``id_card: true``: 18-character resident ID numbers (公民身份号码), recognised by a plausible
  birth date and the check character of GB 11643-1999, so that an 18-digit respondent code is not
  taken for one;
- ``names``: ``surnames`` (and ``titles`` such as 先生, 女士): a whole value made of a declared
  surname and one or two more characters (or a title) is a name — unless it is part of, or
  contains, a label the codebook knows (a city such as 贺州, a category such as 高中/中专).

A column the codebook does not know is personal data when half of its filled values follow a
rule; in the columns it knows, each such value rejects its row. Masking keeps just enough to find
the cell: 138****5678, 110105********002X, z***@example.com, 张*.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..codebook import Codebook, normalize_header

#: GB 11643-1999 weights of the first 17 digits (2^(17-i) mod 11) and the check characters by sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
_ID_PATTERN = re.compile(r"^\d{17}[\dXx]$")


def id_card_valid(number: str) -> bool:
    """Whether ``number`` is a well-formed 18-character resident ID number (GB 11643-1999).

    Digits 7–14 are a birth date (YYYYMMDD, from 1900 to today) and the 18th character is the check
    code ``"10X98765432"[Σ dᵢ·wᵢ mod 11]`` with the weights ``wᵢ = 2^(17−i) mod 11`` =
    7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2.
    """
    if not _ID_PATTERN.match(number):
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == number[17].upper()


def _mask_text(s: str) -> str:
    """138****5678; an ID number keeps its first 6 and last 4 characters; an e-mail its first letter."""
    if "@" in s:
        local, domain = s.split("@", 1)
        return local[:1] + "***@" + domain
    keep_head = 6 if len(s) >= 15 else 3
    return s[:keep_head] + "*" * max(1, len(s) - keep_head - 4) + s[-4:]


@dataclass(frozen=True)
class _Rule:
    """One personal-value rule: ``search`` finds candidates inside a text (``whole`` only as the
    whole value), ``valid`` confirms a candidate, ``mask`` hides it."""

    name: str
    pattern: re.Pattern
    search: re.Pattern | None
    valid: Callable[[str], bool]
    mask: Callable[[str], str]


def _unanchored(pattern: re.Pattern) -> re.Pattern:
    """A personal-value pattern (``^1[3-9]\\d{9}$``) that also finds the value inside a longer text."""
    text = pattern.pattern
    text = text[1:] if text.startswith("^") else text
    text = text[:-1] if text.endswith("$") and not text.endswith("\\$") else text
    return re.compile(r"(?<![0-9A-Za-z@.])(?:" + text + r")(?![0-9A-Za-z@])", pattern.flags)


def _known_words(codebook: Codebook) -> tuple[str, ...]:
    """Labels the codebook knows (cities and their aliases, category labels): never a person's name."""
    words = {w for c in codebook.cities.values() for w in (c.zh, *c.aliases)}
    words |= {lab.get("zh", "") for d in codebook.demographics.values() for lab in d.categories.values()}
    return tuple(sorted(normalize_header(w) for w in words if w))


def _rules(codebook: Codebook) -> list[_Rule]:
    cached = codebook.__dict__.get("_personal_rules")
    if cached is None:
        cached = codebook.__dict__["_personal_rules"] = _build_rules(codebook)
    return cached


def _build_rules(codebook: Codebook) -> list[_Rule]:
    rules = [_Rule("pattern", pat, _unanchored(pat), lambda s: True, _mask_text)
             for pat in codebook.personal_value_patterns]
    if codebook.personal_id_card:
        rules.append(_Rule("id_card", _ID_PATTERN, _unanchored(_ID_PATTERN), id_card_valid, _mask_text))
    if codebook.personal_names is not None:
        known = _known_words(codebook)
        names = codebook.personal_names

        def is_name(s: str, names=names, known=known) -> bool:
            word = normalize_header(s)
            return bool(names.match(s)) and not any(k in word or word in k for k in known)

        def mask_name(s: str, surnames=codebook.personal_surnames) -> str:
            head = next((x for x in surnames if s.startswith(x)), "")   # longest first: 欧阳 before 欧
            return head + "*" * (len(s) - len(head))

        rules.append(_Rule("name", names, None, is_name, mask_name))
    return rules


def _looks_personal(codebook: Codebook, header: str, values: pd.Series) -> str | None:
    for pat in codebook.personal_header_patterns:
        if pat.search(header):
            return f"header matches the personal-data pattern {pat.pattern!r}"
    sample = values[values.str.strip() != ""].str.strip().head(200)
    if len(sample):
        for rule in _rules(codebook):
            share = sample.map(lambda v: bool(rule.pattern.match(v)) and rule.valid(v)).mean()
            if share >= 0.5:
                what = {"id_card": "resident ID numbers (check digit valid)", "name": "personal names (the codebook's "
                        "surnames)"}.get(rule.name, f"the personal-data pattern {rule.pattern.pattern!r}")
                return f"{share:.0%} of its values are {what}" if rule.name != "pattern" else \
                    f"{share:.0%} of its values match {what}"
    return None


def mask_personal(text, codebook: Codebook) -> str:
    """``text`` with every value matching the codebook's personal-data rules masked, so that
    problems and rejects can show where a phone number or ID was typed without repeating it."""
    if text is None:
        return text
    out = str(text)
    for rule in _rules(codebook):
        if rule.search is None:
            stripped = out.strip()
            if stripped and rule.valid(stripped):
                out = out.replace(stripped, rule.mask(stripped))
            continue
        out = rule.search.sub(lambda m, rule=rule: rule.mask(m.group(0)) if rule.valid(m.group(0)) else m.group(0), out)
    return out


def looks_personal_value(values: pd.Series, codebook: Codebook) -> np.ndarray:
    """Which values are (or contain) a phone number, ID number or e-mail address, or are a name."""
    text = values.astype(str)
    hit = np.zeros(len(values), dtype=bool)
    for rule in _rules(codebook):
        if rule.search is None:
            candidates = text.str.strip()
            cand = candidates.str.match(rule.pattern).to_numpy(dtype=bool)
        else:
            cand = text.str.contains(rule.search, regex=True).to_numpy(dtype=bool)
        for pos in np.flatnonzero(cand & ~hit):
            value = text.iloc[pos]
            found = [value.strip()] if rule.search is None else [m.group(0) for m in rule.search.finditer(value)]
            hit[pos] = any(rule.valid(v) for v in found)
    return hit


def _masked(frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Every text cell with personal values masked (:func:`mask_personal`)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: mask_personal(v, codebook) if isinstance(v, str) else v)
    return out
