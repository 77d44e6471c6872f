"""What a section is: numbers from the context, rendered in a language as blocks the notebook shows
(markdown, tables with a note, figures). Section numbers are generated from the order of the
report, never written into the words."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..labels import t

ZH_NUMERALS = "一二三四五六七八九十"


@dataclass
class Markdown:
    text: str


@dataclass
class Table:
    """A published table: ``display`` (formatted once, as the reader sees it) and ``data`` (the
    unrounded numbers behind it, for the CSV and XLSX files), with an optional note under it."""

    key: str
    display: pd.DataFrame
    data: pd.DataFrame
    note: str | None = None
    digits: dict = field(default_factory=dict)   # data column → decimals shown (XLSX number format)


@dataclass
class Figure:
    """A published figure; ``panels`` optionally holds the same content as separate figures (one per
    panel of a small-multiples chart, shared scales, each titled) for pages that reflow them."""

    key: str
    figure: object
    panels: list = field(default_factory=list)


def section_number(n: int, lang: str) -> str:
    """``一、`` … ``十、``, ``十一、`` … ``九十九、`` in Chinese, ``1.`` in English."""
    if lang == "zh":
        if n <= 10:
            return ZH_NUMERALS[n - 1] + "、"
        tens, units = divmod(n, 10)
        if tens >= 10:
            return f"{n}、"
        return f"{'' if tens == 1 else ZH_NUMERALS[tens - 1]}十{ZH_NUMERALS[units - 1] if units else ''}、"
    return f"{n}."


class Section:
    """One section of the report. Subclasses set ``key`` (its label is ``sec_<key>``) and build
    ``blocks()``; ``self.report`` gives the context, the language and the words."""

    key = ""

    def __init__(self, report):
        self.report = report
        self.ctx = report.ctx
        self.lang = report.lang
        self.cb = report.ctx.codebook

    def t(self, key: str, **fmt) -> str:
        return t(key, self.lang, **fmt)

    def title(self) -> str:
        return self.t(f"sec_{self.key}")

    def available(self) -> bool:
        return True

    def blocks(self) -> list:
        raise NotImplementedError
