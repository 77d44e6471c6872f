"""The plan targets of the province and its cities, and the links to each city's bulletin."""
from __future__ import annotations

from pathlib import Path

from .. import fmt
from .base import Markdown, Section


class TargetsSection(Section):
    """Every registered target due this year or later (the targets file beside the codebook), with
    this year's estimate, the probability that the true value meets it and the verdict — the same
    rows each city's bulletin shows for itself."""

    key = "targets"

    def available(self) -> bool:
        from ..cities import load_project_targets

        targets = load_project_targets(self.cb)
        return targets is not None and len(targets.due(self.ctx.year).targets) > 0

    def blocks(self) -> list:
        from ...targets import VERDICTS
        from ..bulletin import targets_table

        shared = self.report.shared
        rows = shared.targets
        order = {"province": -1, **{c: i for i, c in enumerate(self.cb.cities)}}
        rows = rows.assign(_order=rows["unit"].map(order)).sort_values(["_order", "key"], kind="stable").drop(columns="_order")
        conf = shared.target_confidence
        words = _Words(self.report)
        text = self.t("targets_intro", conf=fmt.pct(conf), inv=fmt.pct(1 - conf), **VERDICTS[self.lang])
        return [Markdown(text), targets_table(rows, words, unit_column=True)]


class BulletinsSection(Section):
    """Each city's bulletin: links to its page, PDF and Word document where it is published (a city
    whose bulletin is not published yet is named without links)."""

    key = "bulletins"

    def blocks(self) -> list:
        from ..publish import CITIES

        lines = []
        for city in self.ctx.scores["city"]:
            name = self.report.city(city)
            folder = Path(CITIES) / self.lang / city
            published = self.report.bulletins_root is not None and (
                self.report.bulletins_root / self.lang / city / "bulletin.json").is_file()
            if published:
                href = f"../{folder.as_posix()}/{city}"
                links = self.report.join([f"[{self.t('fmt_html')}]({href}.html)", f"[{self.t('fmt_pdf')}]({href}.pdf)",
                                          f"[{self.t('fmt_docx')}]({href}.docx)"])
                lines.append(f"- {name}：{links}" if self.lang == "zh" else f"- {name}: {links}")
            else:
                lines.append(f"- {name}（{self.t('not_published')}）" if self.lang == "zh"
                             else f"- {name} ({self.t('not_published')})")
        return [Markdown(self.t("bulletins_intro") + "\n\n" + "\n".join(lines))]


class _Words:
    """The annual report seen through the few names :func:`targets_table` asks of a bulletin."""

    def __init__(self, report):
        self.lang, self.codebook, self._report = report.lang, report.codebook, report

    def t(self, key: str, **kw) -> str:
        return self._report.t(key, **kw)

    def node(self, code: str) -> str:
        return self._report.node(code)


__all__ = ["BulletinsSection", "TargetsSection"]
