"""Numbers as a reader sees them: every value is computed unrounded and rounded here, once, so the
same number reads the same in the text, the tables, the charts and the spreadsheets' display.

Scores (0–100) and their changes carry one decimal, shares are percentages with one decimal,
coefficients three decimals, p-values three decimals (``< 0.001`` below that).
"""
from __future__ import annotations

import math

#: Decimals of scores, changes and percentages.
DIGITS = 1


def _bad(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _minus(text: str) -> str:
    return text.replace("-", "−")        # a true minus sign, not a hyphen


def num(x, digits: int = DIGITS) -> str:
    """A score: ``76.253 → "76.3"``; missing → "—"; negative numbers with a true minus sign."""
    if _bad(x):
        return "—"
    if round(float(x), digits) == 0:
        return f"{0:.{digits}f}"
    return _minus(f"{float(x):.{digits}f}")


def signed(x, digits: int = DIGITS) -> str:
    """A change with its sign: ``+0.7``, ``−1.2`` (a true minus sign)."""
    if _bad(x):
        return "—"
    if round(float(x), digits) == 0:
        return f"{0:.{digits}f}"          # no "+0.0" or "−0.0"
    text = f"{float(x):+.{digits}f}"
    return text.replace("-", "−")


def interval(lo, hi, digits: int = DIGITS, signed_values: bool = False) -> str:
    """An interval ``74.3–75.5``; an interval of changes ``−0.1～+1.5`` (a dash between signed
    numbers would read as a minus)."""
    if _bad(lo) or _bad(hi):
        return "—"
    if signed_values:
        return f"{signed(lo, digits)}～{signed(hi, digits)}"
    return f"{num(lo, digits)}–{num(hi, digits)}"


def pct(x, digits: int = DIGITS) -> str:
    """A share as a percentage: ``0.8123 → "81.2%"``."""
    return "—" if _bad(x) else f"{100 * float(x):.{digits}f}%"


def coef(x, digits: int = 3) -> str:
    return num(x, digits)


def pvalue(p) -> str:
    if _bad(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{float(p):.3f}"
