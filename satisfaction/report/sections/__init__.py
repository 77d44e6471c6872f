"""The report's sections, in the order they are published (numbers are generated from it)."""
from __future__ import annotations

from .appendix import AppendixSection
from .breakdown import GroupsSection, RatesSection
from .cities import BulletinsSection, TargetsSection
from .headline import AdviceSection, SummarySection
from .results import IndicatorsSection, RankingSection, ScoresSection, TrendSection

SECTIONS = [SummarySection, ScoresSection, RankingSection, IndicatorsSection, RatesSection, GroupsSection,
            TrendSection, AdviceSection, TargetsSection, BulletinsSection, AppendixSection]

__all__ = ["SECTIONS", "AdviceSection", "AppendixSection", "BulletinsSection", "GroupsSection", "IndicatorsSection", "RankingSection",
           "RatesSection", "ScoresSection", "SummarySection", "TargetsSection", "TrendSection"]
