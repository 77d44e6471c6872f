"""The report's sections, in the order they are published (numbers are generated from it)."""
from __future__ import annotations

from .appendix import AppendixSection
from .breakdown import GroupsSection, RatesSection
from .headline import AdviceSection, SummarySection
from .results import IndicatorsSection, RankingSection, ScoresSection, TrendSection

SECTIONS = [SummarySection, ScoresSection, RankingSection, IndicatorsSection, RatesSection, GroupsSection,
            TrendSection, AdviceSection, AppendixSection]

__all__ = ["SECTIONS", "AdviceSection", "AppendixSection", "GroupsSection", "IndicatorsSection", "RankingSection",
           "RatesSection", "ScoresSection", "SummarySection", "TrendSection"]
