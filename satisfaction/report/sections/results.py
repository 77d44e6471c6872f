"""The results: the index and its three dimensions, the ranking, the second-level indicators and
the years."""
from __future__ import annotations

import pandas as pd

from .. import fmt, plotting
from .base import Figure, Markdown, Section, Table


class ScoresSection(Section):
    key = "scores"

    def blocks(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        idx = self.cb.tree.code
        dims = [d.code for d in self.cb.dimensions]
        prov = ctx.province_now.set_index("node")
        cities = list(ctx.scores["city"])
        wide = ctx.node_scores.pivot(index="city", columns="node", values="estimate")
        head = ctx.node_scores[ctx.node_scores["node"] == idx].set_index("city")
        interviews = ctx.survey.data.groupby("city").size()
        data = pd.DataFrame({"city": ["province", *cities],
                             "name": [t("province_row"), *[r.city(c) for c in cities]],
                             "n": [int(interviews.sum()), *interviews.reindex(cities).astype(int)],
                             idx: [prov.loc[idx, "estimate"], *head.loc[cities, "estimate"]],
                             "se": [prov.loc[idx, "se"], *head.loc[cities, "se"]],
                             "ci_low": [prov.loc[idx, "ci_low"], *head.loc[cities, "ci_low"]],
                             "ci_high": [prov.loc[idx, "ci_high"], *head.loc[cities, "ci_high"]],
                             **{d: [prov.loc[d, "estimate"], *wide.loc[cities, d]] for d in dims}})
        data["flag"] = ["", *[r.flag(c) for c in cities]]
        display = pd.DataFrame({
            t("col_city"): data["name"], t("col_n"): data["n"],
            r.node(idx): data[idx].map(fmt.num), t("col_ci"): [fmt.interval(a, b) for a, b in zip(data["ci_low"], data["ci_high"])],
            **{r.node(d): data[d].map(fmt.num) for d in dims}})
        if (data["flag"] != "").any():
            display[t("col_flag")] = data["flag"]
        text = t("scores_note") + "\n\n" + t("scores_province", region=r.region_name, size=r.size_name(ctx.official_size),
                                             est=fmt.num(prov.loc[idx, "estimate"]))
        plot = ctx.scores.assign(name=ctx.scores["city"].map(r.city))
        return [Markdown(text),
                Figure("index_by_city", plotting.index_bar_chart(plot, labels={}, index_code=idx, title=t("fig_index_title", year=ctx.year),
                                                                 xlabel=t("fig_index_x"), value_format=fmt.num)),
                Table("scores", display, data, digits={idx: 1, "se": 2, "ci_low": 1, "ci_high": 1, **{d: 1 for d in dims}}),
                Figure("dimensions_by_city", plotting.dimension_chart(plot, dimensions=dims, labels={d: r.node(d) for d in dims},
                                                                      title=t("fig_dim_title", year=ctx.year), ylabel=t("fig_dim_y")))]


class RankingSection(Section):
    key = "ranking"

    def blocks(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        rk = ctx.ranking
        sets = rk["sets"].set_index("city")
        avg = rk["average"].set_index("city")
        cities = list(ctx.scores["city"])
        data = pd.DataFrame({"city": cities, "name": [r.city(c) for c in cities],
                             "estimate": sets.loc[cities, "estimate"].to_numpy(), "rank": sets.loc[cities, "rank"].to_numpy(),
                             "rank_lower": sets.loc[cities, "lower"].to_numpy(), "rank_upper": sets.loc[cities, "upper"].to_numpy(),
                             "tier": rk["tiers"].loc[cities].to_numpy(), "letters": rk["letters"].loc[cities].to_numpy(),
                             "vs_average": avg.loc[cities, "difference"].to_numpy(), "p_holm": avg.loc[cities, "p_holm"].to_numpy(),
                             "position": avg.loc[cities, "position"].to_numpy()})
        display = pd.DataFrame({
            t("col_point_rank"): data["rank"], t("col_city"): data["name"],
            r.node(self.cb.tree.code): data["estimate"].map(fmt.num),
            t("col_rank_set"): [f"{lo}–{hi}" if lo != hi else f"{lo}" for lo, hi in zip(data["rank_lower"], data["rank_upper"])],
            t("col_tier"): data["tier"].map(lambda x: t(f"tier_{x}")),
            t("col_letters"): data["letters"].map(r.letters),
            t("col_vs_avg"): [f"{t(p)}（{fmt.signed(d)}）" if self.lang == "zh" else f"{t(p)} ({fmt.signed(d)})"
                              for p, d in zip(data["position"], data["vs_average"])]})
        best = r.join([r.city(c) for c in rk["best"].loc[rk["best"]["in_set"], "city"]])
        worst = r.join([r.city(c) for c in rk["worst"].loc[rk["worst"]["in_set"], "city"]])
        cat = pd.DataFrame({"estimate": sets["estimate"], "lower": sets["lower"], "upper": sets["upper"]})
        rows = ctx.node_scores[ctx.node_scores["node"] == self.cb.tree.code].set_index("city")
        cat["ci_low"], cat["ci_high"] = rows["ci_low"], rows["ci_high"]
        cat["name"] = [r.city(c) for c in cat.index]
        return [Markdown(t("ranking_note") + "\n\n" + r.tier_sentence() + "\n\n" + t("tau_note", tau=rk["tau"], best=best, worst=worst)),
                Figure("rank_sets", plotting.caterpillar_chart(cat, title=t("fig_cat_title", year=ctx.year), xlabel=t("fig_index_x"),
                                                               set_label=t("fig_cat_set"))),
                Table("ranking", display, data, digits={"estimate": 1, "vs_average": 1, "p_holm": 3})]


class IndicatorsSection(Section):
    key = "indicators"

    def blocks(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        prov = ctx.province_now.set_index("node")
        cities = list(ctx.scores["city"])
        scores = ctx.node_scores[ctx.node_scores["level"] == 2]
        wide = scores.pivot(index="node", columns="city", values="estimate")
        ranks = wide.rank(axis=1, ascending=False, method="min")
        rows, shown = [], []
        for dim in self.cb.dimensions:
            for ind in dim.children:
                items = len(ind.weights)
                thin = items < 3
                rows.append({"dimension": dim.code, "indicator": ind.code, "items": items, "province": prov.loc[ind.code, "estimate"],
                             "province_se": prov.loc[ind.code, "se"], **{c: wide.loc[ind.code, c] for c in cities},
                             **{f"rank_{c}": ranks.loc[ind.code, c] for c in cities}, "few_items": thin})
                label = r.node(ind.code) + ("＊" if thin else "")
                shown.append({t("col_dimension"): r.node(dim.code), t("col_indicator"): label,
                              t("col_province"): f"{fmt.num(prov.loc[ind.code, 'estimate'])}（{fmt.num(prov.loc[ind.code, 'se'], 2)}）"
                              if self.lang == "zh" else f"{fmt.num(prov.loc[ind.code, 'estimate'])} ({fmt.num(prov.loc[ind.code, 'se'], 2)})",
                              **{r.city(c): f"{fmt.num(wide.loc[ind.code, c])}/{int(ranks.loc[ind.code, c])}" for c in cities}})
        data = pd.DataFrame(rows)
        rank_cols = [f"rank_{c}" for c in cities]
        data[rank_cols] = data[rank_cols].astype("Int64")   # ranks are whole numbers (empty where a city has no score)
        note = t("indicators_note") if data["few_items"].any() else None
        return [Markdown(t("indicators_intro")), Table("indicators", pd.DataFrame(shown), data, note=note,
                                                        digits={"province": 1, "province_se": 2, **{c: 1 for c in cities}})]


class TrendSection(Section):
    key = "trend"

    def available(self) -> bool:
        return len(self.ctx.years) > 1

    def blocks(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        idx = self.cb.tree.code
        nodes = [idx, *[d.code for d in self.cb.dimensions]]
        series = ctx.province_by_year[ctx.province_by_year["node"].isin(nodes)]
        years = sorted(series["year"].unique())
        # year-on-year changes of the provincial index: one family, Holm-adjusted
        steps = []
        for before, after in zip(years[:-1], years[1:]):
            ch = ctx.province_change(after, before).set_index("node").loc[idx]
            steps.append({"year": after, "previous_year": before, **ch.drop(labels=["p_holm", "significant"]).to_dict()})
        steps = pd.DataFrame(steps)
        from ..context import holm

        steps["p_holm"] = holm(steps["p"])
        steps["significant"] = steps["p_holm"] < 1 - ctx.level
        wide = series.pivot(index="node", columns="year", values="estimate").loc[nodes]
        lo = series.pivot(index="node", columns="year", values="ci_low").loc[nodes]
        hi = series.pivot(index="node", columns="year", values="ci_high").loc[nodes]
        display = pd.DataFrame({t("col_node_name"): [r.node(n) for n in nodes],
                                **{str(y): [f"{fmt.num(wide.loc[n, y])}（{fmt.interval(lo.loc[n, y], hi.loc[n, y])}）"
                                            if self.lang == "zh" else f"{fmt.num(wide.loc[n, y])} ({fmt.interval(lo.loc[n, y], hi.loc[n, y])})"
                                            for n in nodes] for y in years}})
        city_rows = []
        for y, s in ctx.scores_by_year.items():
            part = s[s["node"] == idx]
            city_rows.append(part.assign(year=y)[["year", "city", "estimate", "se", "ci_low", "ci_high"]])
        cities = pd.concat(city_rows, ignore_index=True)
        city_wide = cities.pivot(index="city", columns="year", values="estimate").reindex(list(ctx.scores["city"]))
        city_display = pd.DataFrame({t("col_city"): [r.city(c) for c in city_wide.index],
                                     **{str(y): city_wide[y].map(fmt.num).to_numpy() for y in years}})
        ups = steps[steps["significant"] & (steps["change"] > 0)]["year"].tolist()
        downs = steps[steps["significant"] & (steps["change"] < 0)]["year"].tolist()
        first, last = wide.loc[idx, years[0]], wide.loc[idx, years[-1]]
        text = t("trend_note", first_year=years[0], last_year=years[-1], first=fmt.num(first), last=fmt.num(last),
                 n=len(steps), up=r.join(map(str, ups)) or t("none"), down=r.join(map(str, downs)) or t("none"))
        step_display = pd.DataFrame({t("col_period"): [f"{int(a)}–{int(b)}" for a, b in zip(steps["previous_year"], steps["year"])],
                                     t("col_change"): steps["change"].map(fmt.signed),
                                     t("col_ci_raw"): [fmt.interval(a, b, signed_values=True) for a, b in zip(steps["ci_low"], steps["ci_high"])],
                                     t("col_p_holm"): steps["p_holm"].map(fmt.pvalue),
                                     t("col_verdict"): [r.verdict(row) for _, row in steps.iterrows()]})
        fig = plotting.trend_chart(series[series["node"] == idx], cities, names={c: r.city(c) for c in ctx.scores["city"]},
                                   title=t("fig_trend_title", region=r.region_name, first=years[0], last=years[-1]),
                                   ylabel=t("fig_index_x"), province_label=r.region_name)
        blocks = [Markdown(text), Figure("trend", fig),
                  Table("trend_province", display, series.reset_index(drop=True), digits={"estimate": 1, "se": 2, "ci_low": 1, "ci_high": 1}),
                  Table("trend_changes", step_display, steps, note=t("ci_raw_note"), digits={"change": 1, "ci_low": 1, "ci_high": 1, "p": 3, "p_holm": 3}),
                  Table("trend_cities", city_display, cities, digits={"estimate": 1, "se": 2, "ci_low": 1, "ci_high": 1})]
        changes = city_changes_table(r)
        if changes is not None:
            ch = changes.data
            ups = r.join(r.city(c) for c in ch.loc[ch["significant"] & (ch["change"] > 0), "city"]) or t("none")
            downs = r.join(r.city(c) for c in ch.loc[ch["significant"] & (ch["change"] < 0), "city"]) or t("none")
            blocks += [Markdown(t("city_change_note", prev=ctx.previous_year, n=len(ch), up=ups, down=downs)), changes]
        return blocks


def city_changes_table(report) -> Table | None:
    """Each city against last year: change with CI, Holm-adjusted p and the verdict."""
    ctx, t = report.ctx, report.t
    if ctx.previous_year is None:
        return None
    ch = ctx.city_change().set_index("city")
    cities = [c for c in ctx.scores["city"] if c in ch.index]
    data = ch.loc[cities].reset_index()
    display = pd.DataFrame({t("col_city"): [report.city(c) for c in cities],
                            t("col_prev_score"): data["previous"].map(fmt.num),
                            report.node(ctx.codebook.tree.code): data["current"].map(fmt.num),
                            t("col_change"): data["change"].map(fmt.signed),
                            t("col_ci_raw"): [fmt.interval(a, b, signed_values=True) for a, b in zip(data["ci_low"], data["ci_high"])],
                            t("col_p_holm"): data["p_holm"].map(fmt.pvalue),
                            t("col_verdict"): [report.verdict(row) for _, row in data.iterrows()]})
    return Table("change", display, data, note=t("ci_raw_note"), digits={"previous": 1, "current": 1, "change": 1, "ci_low": 1, "ci_high": 1,
                                                   "p": 3, "p_holm": 3})


