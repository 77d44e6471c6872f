"""Satisfaction rates, and the index by region and by population group."""
from __future__ import annotations

import inspect

import pandas as pd

from .. import fmt
from ...breakdowns import OVERALL, group_scores, group_tests, province_rates, region_scores, satisfaction_rates
from .base import Markdown, Section, Table


#: the level of the index scores :func:`group_tests` returns with its tests (``group_scores``' default)
GROUP_TESTS_LEVEL = inspect.signature(group_scores).parameters["level"].default


def suppressed(values, n, threshold: int, formatter) -> list[str]:
    """Each value formatted, or "—" where it rests on fewer than ``threshold`` respondents."""
    return [formatter(v) if k >= threshold else "—" for v, k in zip(values, n)]


class RatesSection(Section):
    key = "rates"

    def blocks(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        rates = satisfaction_rates(ctx.design, self.cb, by="city", level=ctx.level)
        prov = province_rates(rates, ctx.sizes(), level=ctx.level).set_index("dimension")
        dims = [d.code for d in self.cb.dimensions]
        cities = list(ctx.scores["city"])
        wide = rates.set_index(["city", "dimension"])
        threshold = self.cb.min_cell
        rows = [{t("col_city"): t("province_row"),
                 t("col_rate_overall"): f"{fmt.pct(prov.loc[OVERALL, 'rate'])}（{fmt.pct(prov.loc[OVERALL, 'ci_low'])}–{fmt.pct(prov.loc[OVERALL, 'ci_high'])}）"
                 if self.lang == "zh" else f"{fmt.pct(prov.loc[OVERALL, 'rate'])} ({fmt.pct(prov.loc[OVERALL, 'ci_low'])}–{fmt.pct(prov.loc[OVERALL, 'ci_high'])})",
                 **{r.node(d): fmt.pct(prov.loc[d, "rate"]) for d in dims}}]
        small = False
        for c in cities:
            o = wide.loc[(c, OVERALL)]
            ok = o["n"] >= threshold
            small |= not ok
            rows.append({t("col_city"): r.city(c),
                         t("col_rate_overall"): (f"{fmt.pct(o['rate'])}（{fmt.pct(o['ci_low'])}–{fmt.pct(o['ci_high'])}）" if self.lang == "zh"
                                                 else f"{fmt.pct(o['rate'])} ({fmt.pct(o['ci_low'])}–{fmt.pct(o['ci_high'])})") if ok else "—",
                         **{r.node(d): suppressed([wide.loc[(c, d), "rate"]], [wide.loc[(c, d), "n"]], threshold, fmt.pct)[0]
                            for d in dims}})
        lowest = min(dims, key=lambda d: prov.loc[d, "rate"])
        text = t("rates_note", region=r.region_name, rate=fmt.pct(prov.loc[OVERALL, "rate"]),
                 ci=fmt.interval(100 * prov.loc[OVERALL, "ci_low"], 100 * prov.loc[OVERALL, "ci_high"]) + "%",
                 lowest=r.node(lowest), lowest_rate=fmt.pct(prov.loc[lowest, "rate"]))
        note = t("small_cells_note", threshold=threshold) if small else None
        data = pd.concat([prov.reset_index().assign(city="province"), rates], ignore_index=True)
        data["suppressed"] = data["n"] < threshold      # the spreadsheets say which cells the report withholds
        return [Markdown(text), Table("rates", pd.DataFrame(rows), data, note=note,
                                      digits={"rate": 3, "se": 3, "ci_low": 3, "ci_high": 3})]


class GroupsSection(Section):
    key = "groups"

    def blocks(self) -> list:
        return [*self.regions(), *self.groups()]

    def regions(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        if not self.cb.raw.get("regions"):
            return []
        res = region_scores(ctx.node_scores, self.cb, ctx.sizes(), level=ctx.level)
        idx = self.cb.tree.code
        dims = [d.code for d in self.cb.dimensions]
        scores = res.scores
        spec = self.cb.raw["regions"]
        region_col = scores.columns[0]
        wide = scores.pivot(index=region_col, columns="node", values="estimate")
        head = scores[scores["node"] == idx].set_index(region_col)
        order = list(head["estimate"].sort_values(ascending=False).index)
        label = lambda code: spec[code]["en" if self.lang == "en" else "zh"]  # noqa: E731
        display = pd.DataFrame({t("col_region"): [label(g) for g in order],
                                t("col_cities"): [r.join(r.city(c) for c in spec[g]["cities"]) for g in order],
                                r.node(idx): head.loc[order, "estimate"].map(fmt.num).to_numpy(),
                                t("col_ci"): [fmt.interval(a, b) for a, b in zip(head.loc[order, "ci_low"], head.loc[order, "ci_high"])],
                                **{r.node(d): wide.loc[order, d].map(fmt.num).to_numpy() for d in dims}})
        pairs = res.pairs[res.pairs["node"] == idx] if "node" in res.pairs else res.pairs
        p_col = "p_holm" if "p_holm" in pairs else "p_adjusted"
        a_col, b_col = [c for c in pairs.columns if c.endswith("_a") or c == "unit_a"][0], [c for c in pairs.columns if c.endswith("_b") or c == "unit_b"][0]
        sig = pairs[pairs[p_col] < 1 - ctx.level]
        differ = r.join(f"{label(a)}与{label(b)}" if self.lang == "zh" else f"{label(a)} and {label(b)}"
                        for a, b in zip(sig[a_col], sig[b_col])) or t("none")
        text = f"### {t('sub_regions')}\n\n" + t("regions_note", size=r.size_name(ctx.official_size), differ=differ)
        return [Markdown(text), Table("regions", display, scores, digits={"estimate": 1, "se": 2, "ci_low": 1, "ci_high": 1})]

    def groups(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        idx = self.cb.tree.code
        threshold = self.cb.min_cell
        rows, data, sentences, small, tested = [], [], [], False, []
        for group, demo in self.cb.demographics.items():
            tests = group_tests(ctx.design, self.cb, group)
            # the tests carry the group's index scores (at the default 95 %): computed once
            scores = tests.scores if ctx.level == GROUP_TESTS_LEVEL else group_scores(ctx.design, self.cb, group, level=ctx.level)
            scores = scores[scores["node"] == idx] if "node" in scores else scores
            p_ind = float(tests.independence["p_value"].iloc[0])
            tested.append(p_ind)
            cat_col = scores.columns[0]
            for _, row in scores.iterrows():
                ok = row["n"] >= threshold
                small |= not ok
                name = demo.categories.get(int(row[cat_col]), {}).get("en" if self.lang == "en" else "zh", str(row[cat_col]))
                rows.append({t("col_group"): demo.label(self.lang), t("col_category"): name, t("col_n"): int(row["n"]),
                             r.node(idx): fmt.num(row["estimate"]) if ok else "—",
                             t("col_ci"): fmt.interval(row["ci_low"], row["ci_high"]) if ok else "—"})
                data.append({"group": group, "category": row[cat_col], **{k: row[k] for k in ("estimate", "se", "ci_low", "ci_high", "n")},
                             "suppressed": not ok})
            pairs = tests.pairs
            p_col = "p_adjusted" if "p_adjusted" in pairs else "p_holm"
            n_sig = int((pairs[p_col] < 1 - ctx.level).sum()) if len(pairs) else 0
            sentences.append({"group": demo.label(self.lang), "pairs": n_sig, "total": len(pairs)})
        from ..context import holm

        for sentence, p_adj in zip(sentences, holm(tested)):     # the four tests shown together: one family
            sentence.update(p=fmt.pvalue(p_adj), verdict=t("differ_yes") if p_adj < 1 - ctx.level else t("differ_no"))
        sentences = [t("group_sentence", **x) for x in sentences]
        note = t("small_cells_note", threshold=threshold) if small else None
        text = f"### {t('sub_groups')}\n\n" + t("groups_note") + "\n\n" + "\n".join(f"- {s}" for s in sentences)
        return [Markdown(text), Table("groups", pd.DataFrame(rows), pd.DataFrame(data), note=note,
                                      digits={"estimate": 1, "se": 2, "ci_low": 1, "ci_high": 1})]
