"""The summary (first screen) and the problems-and-recommendations section: findings generated
from the numbers by stated rules."""
from __future__ import annotations

import pandas as pd

from .. import fmt
from .base import Markdown, Section, Table


class Findings:
    """The facts the summary and the recommendations state, each by one rule (in numbers)."""

    def __init__(self, report):
        self.report = report
        ctx = report.ctx
        cb = ctx.codebook
        prov = ctx.province_now.set_index("node")
        self.index = prov.loc[cb.tree.code]
        self.dimensions = prov.loc[[d.code for d in cb.dimensions]]
        indicators = [ind.code for d in cb.dimensions for ind in d.children]
        self.indicators = prov.loc[indicators].sort_values("estimate")
        self.change = ctx.province_change() if ctx.previous_year is not None else None
        self.city_change = ctx.city_change() if ctx.previous_year is not None else None
        self.tiers = ctx.ranking["tiers"]
        # Rule: an indicator is a province-wide weakness when it is among the two lowest-scoring
        # indicators of the province; its reach is the number of cities where it is among the
        # city's three lowest-scoring indicators.
        wide = ctx.node_scores[ctx.node_scores["node"].isin(indicators)].pivot(index="city", columns="node",
                                                                                 values="estimate")
        lowest3 = wide.apply(lambda row: set(row.nsmallest(3).index), axis=1)
        self.reach = pd.Series({ind: int(sum(ind in s for s in lowest3)) for ind in indicators})
        self.weakest = list(self.indicators.index[:2])
        self.best = self.indicators.index[-1]
        self.weakest_dimension = self.dimensions["estimate"].idxmin()
        self.n_cities = len(wide)


class SummarySection(Section):
    key = "summary"

    def blocks(self) -> list:
        r, f = self.report, self.report.findings
        ctx, t = self.ctx, self.t
        idx = f.index
        text = [t("summary_index", year=ctx.year, region=r.region_name, est=fmt.num(idx["estimate"]),
                  ci=fmt.interval(idx["ci_low"], idx["ci_high"]), size=r.size_name(ctx.official_size))]
        if f.change is not None:
            ch = f.change.set_index("node").loc[self.cb.tree.code]
            line = t("summary_change", prev=ctx.previous_year, before=fmt.num(ch["previous"]),
                     change=fmt.signed(ch["change"]), ci=fmt.interval(ch["ci_low"], ch["ci_high"], signed_values=True),
                     verdict=r.verdict(ch))
            first = ctx.years[0]
            if first < ctx.previous_year:
                long = ctx.province_change(ctx.year, first).set_index("node").loc[self.cb.tree.code]
                line += t("summary_long_change", first=first, before=fmt.num(long["previous"]), change=fmt.signed(long["change"]),
                          ci=fmt.interval(long["ci_low"], long["ci_high"], signed_values=True), verdict=r.verdict(long))
            text.append(line + t("summary_rounding"))
        dims = []
        for code, row in f.dimensions.iterrows():
            part = t("summary_dimension", name=r.node(code), est=fmt.num(row["estimate"]),
                     ci=fmt.interval(row["ci_low"], row["ci_high"]))
            if f.change is not None:
                ch = f.change.set_index("node").loc[code]
                part += t("summary_dimension_change", change=fmt.signed(ch["change"]), verdict=r.verdict(ch))
            dims.append(part)
        text.append(t("summary_dimensions", items=r.join(dims, strong=True)))
        best, worst = f.indicators.loc[f.best], f.indicators.loc[f.weakest[0]]
        text.append(t("summary_indicators", best=r.node(f.best), best_score=fmt.num(best["estimate"]),
                      worst=r.node(f.weakest[0]), worst_score=fmt.num(worst["estimate"])))
        text.append(r.tier_sentence())
        if f.city_change is not None:
            up = f.city_change[f.city_change["significant"] & (f.city_change["change"] > 0)]["city"]
            down = f.city_change[f.city_change["significant"] & (f.city_change["change"] < 0)]["city"]
            text.append(t("summary_city_changes", prev=ctx.previous_year, n=len(f.city_change),
                          up=r.join([r.city(c) for c in up]) or t("none"),
                          down=r.join([r.city(c) for c in down]) or t("none")))
        flagged = r.flags[r.flags["flag"] != ""]
        if len(flagged):
            text.append(t("summary_flagged", cities=r.join([r.city(c) for c in flagged["city"]])))
        if r.fieldwork[1]:
            text.append(t("summary_agency"))
        findings = "\n".join(f"{i}. {line}" for i, line in enumerate(AdviceSection(r).recommendations(), start=1))
        return [Markdown("\n\n".join(text)), Markdown(f"**{t('summary_findings')}**\n\n{findings}")]


class AdviceSection(Section):
    key = "advice"

    def recommendations(self) -> list[str]:
        """3–5 findings with what to do, each from one rule:

        1. the two lowest-scoring indicators province-wide, with the number of cities where each is
           among the city's three lowest — improve these first;
        2. the lowest-scoring dimension;
        3. cities whose rank set places them in the trailing third, with their own weakest indicator;
        4. a significant change of the provincial index (Holm over the index and its dimensions);
        5. cities whose samples fall short: below the minimum, weighted by the fallback, or with a
           margin of error beyond the target at the observed design effect.
        """
        r, f, t = self.report, self.report.findings, self.t
        out = []
        weak = [t("advice_weak_item", name=r.node(c), score=fmt.num(f.indicators.loc[c, "estimate"]), reach=f.reach[c],
                  total=f.n_cities) for c in f.weakest]
        out.append(t("advice_weakest", items=r.join(weak)))
        dim = f.dimensions.loc[f.weakest_dimension]
        out.append(t("advice_dimension", name=r.node(f.weakest_dimension), score=fmt.num(dim["estimate"])))
        bottom = [c for c, tier in f.tiers.items() if tier == "bottom"]
        if bottom:
            wide = self.ctx.node_scores
            parts = []
            for c in bottom:
                mine = wide[(wide["city"] == c) & (wide["level"] == 2)].nsmallest(1, "estimate").iloc[0]
                parts.append(t("advice_city_item", city=r.city(c), name=r.node(mine["node"]), score=fmt.num(mine["estimate"])))
            out.append(t("advice_bottom", items=r.join(parts)))
        if f.change is not None:
            ch = f.change.set_index("node").loc[self.cb.tree.code]
            key = "advice_change_sig" if ch["significant"] else "advice_change_none"
            out.append(t(key, prev=self.ctx.previous_year, change=fmt.signed(ch["change"])))
        flagged = r.flags[r.flags["flag"] != ""]
        imprecise = self.ctx.precision.loc[~self.ctx.precision["meets"], "city"]
        short = [c for c in self.ctx.scores["city"] if c in set(flagged["city"]) | set(imprecise)]
        if short:
            out.append(t("advice_flagged", cities=r.join([r.city(c) for c in short])))
        return out[:5]

    def blocks(self) -> list:
        r, t = self.report, self.t
        items = "\n".join(f"{i}. {line}" for i, line in enumerate(self.recommendations(), start=1))
        blocks = [Markdown(t("advice_note") + "\n\n" + items)]
        pri = r.priorities()
        blocks.append(Markdown(t("drivers_note")))
        if r.drivers_figure_units():
            from .base import Figure

            blocks.append(Figure("importance_performance", r.drivers_figure(), panels=r.drivers_panels()))
        blocks.append(Table("priorities", pri, priorities_data(r), digits={"importance": 3, "performance": 1, "r2": 3}))
        return blocks


def priorities_data(report) -> pd.DataFrame:
    """The numbers behind the priorities table, tidy: one row per city (in rank order) and
    second-level indicator (in the codebook's order), with its importance, performance and quadrant
    (a key that does not depend on the language: concentrate, keep, low, overkill, too_few), and
    ``priority``, the order of the indicators to concentrate on (1 = most important; empty for the
    others), which is the order the report lists them in."""
    from ...drivers import QUADRANTS

    cities = list(report.ctx.scores["city"])
    indicators = [ind.code for dim in report.codebook.dimensions for ind in dim.children]
    d = report.drivers[report.drivers["city"].isin(cities)].copy()
    d["quadrant"] = d["quadrant"].map({word: key for key, word in QUADRANTS[report.lang].items()})
    d = d.sort_values(["city", "indicator"], key=lambda s: s.map({c: i for i, c in enumerate(cities if s.name == "city" else indicators)}))
    focus = d[d["quadrant"] == "concentrate"].sort_values("importance", ascending=False, kind="stable")
    d["priority"] = (focus.groupby("city").cumcount() + 1).reindex(d.index).astype("Int64")
    d.insert(1, "name", d["city"].map(report.city))
    return d[["city", "name", "indicator", "label", "dimension", "importance", "performance", "quadrant", "priority", "r2", "n"]] \
        .reset_index(drop=True)
