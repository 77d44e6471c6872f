"""Personal data: the codebook's header and value patterns, checked on every column, and masking
so that a value that looks personal is never repeated in what ingestion writes."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..codebook import Codebook

def _looks_personal(codebook: Codebook, header: str, values: pd.Series) -> str | None:
    for pat in codebook.personal_header_patterns:
        if pat.search(header):
            return f"header matches the personal-data pattern {pat.pattern!r}"
    sample = values[values.str.strip() != ""].str.strip().head(200)
    if len(sample):
        for pat in codebook.personal_value_patterns:
            share = sample.map(lambda v: bool(pat.match(v))).mean()
            if share >= 0.5:
                return f"{share:.0%} of its values match the personal-data pattern {pat.pattern!r}"
    return None


def _unanchored(pattern: re.Pattern) -> re.Pattern:
    """A personal-value pattern (``^1[3-9]\\d{9}$``) that also finds the value inside a longer text."""
    text = pattern.pattern
    text = text[1:] if text.startswith("^") else text
    text = text[:-1] if text.endswith("$") and not text.endswith("\\$") else text
    return re.compile(r"(?<![0-9A-Za-z@.])(?:" + text + r")(?![0-9A-Za-z@])", pattern.flags)


def _mask(match: re.Match) -> str:
    """138****5678; an ID number keeps its first 6 and last 4 characters; an e-mail its first letter."""
    s = match.group(0)
    if "@" in s:
        local, domain = s.split("@", 1)
        return local[:1] + "***@" + domain
    keep_head = 6 if len(s) >= 15 else 3
    return s[:keep_head] + "*" * max(1, len(s) - keep_head - 4) + s[-4:]


def mask_personal(text, codebook: Codebook) -> str:
    """``text`` with every value matching the codebook's personal-data patterns masked, so that
    problems and rejects can show where a phone number or ID was typed without repeating it."""
    if text is None:
        return text
    out = str(text)
    for pat in codebook.personal_value_patterns:
        out = _unanchored(pat).sub(_mask, out)
    return out


def looks_personal_value(values: pd.Series, codebook: Codebook) -> np.ndarray:
    """Which values are (or contain) a phone number, ID number or e-mail address."""
    hit = np.zeros(len(values), dtype=bool)
    text = values.astype(str)
    for pat in codebook.personal_value_patterns:
        hit |= text.str.contains(_unanchored(pat), regex=True).to_numpy(dtype=bool)
    return hit


def _masked(frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Every text cell with personal values masked (:func:`mask_personal`)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            for pat in codebook.personal_value_patterns:
                text = text.str.replace(_unanchored(pat), _mask, regex=True)
            out[col] = text
    return out
