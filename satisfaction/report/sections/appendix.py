"""The appendix: how the evaluation was made (design, fieldwork, weighting, precision, reliability,
weights, uncertainty, the supplementary model), a glossary and the reproducibility line."""
from __future__ import annotations

import pandas as pd

from .. import fmt, plotting
from ...reliability import quality_flags, reliability_table
from ...schemes import fixed_weights, weights_for
from .base import Figure, Markdown, Section, Table


class AppendixSection(Section):
    key = "appendix"

    def blocks(self) -> list:
        return [*self.method(), *self.precision(), *self.reliability(), *self.weights(), *self.uncertainty(),
                *self.model(), *self.pairwise(), *self.glossary(), Markdown(self.report.reproducibility())]

    def sub(self, key: str) -> str:
        return f"### {self.t(key)}"

    # ---- design and fieldwork ----------------------------------------------------------------
    def method(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        data = ctx.survey.data
        dates = pd.to_datetime(data["interview_date"]) if "interview_date" in data else pd.Series(dtype="datetime64[ns]")
        period = (t("method_dates", first=dates.min().strftime("%Y-%m-%d"), last=dates.max().strftime("%Y-%m-%d"))
                  if dates.notna().any() else t("method_no_dates"))
        files, confounded = r.fieldwork
        blocks = [f"{name}：{r.join([r.city(c) for c in cities])}" if self.lang == "zh" else
                  f"{name}: {r.join([r.city(c) for c in cities])}" for name, cities in files.items()]
        text = [self.sub("app_method"), t("method_design", n_cities=data["city"].nunique(), n=len(data), period=period),
                t("method_files", files="；".join(blocks) if self.lang == "zh" else "; ".join(blocks))]
        if confounded:
            text.append(t("method_agency_caveat"))
        text.append(t("method_weighting", reps=ctx.replicates))
        return [Markdown("\n\n".join(text))]

    def precision(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        p = ctx.precision.set_index("city").loc[list(ctx.scores["city"])].reset_index()
        display = pd.DataFrame({t("col_city"): p["city"].map(r.city), t("col_n"): p["n"],
                                t("col_kish_deff"): p["kish_deff"].map(lambda v: fmt.num(v, 2)),
                                t("col_deff"): p["deff"].map(lambda v: fmt.num(v, 2)),
                                t("col_neff"): p["effective_n"].map(lambda v: fmt.num(v, 0)),
                                t("col_moe_p"): p["moe_proportion"].map(fmt.pct),
                                t("col_moe_index"): p["moe_index"].map(fmt.num),
                                t("col_meets"): p["meets"].map({True: t("yes"), False: t("no")})})
        text = t("precision_note", target=fmt.pct(0.05, 0), met=int(p["meets"].sum()), total=len(p),
                 minimum=self.cb.min_valid_per_city)
        return [Markdown(self.sub("app_precision") + "\n\n" + text),
                Table("precision", display, p, digits={"kish_deff": 2, "deff": 2, "effective_n": 0, "moe_proportion": 3, "moe_index": 1})]

    # ---- reliability and data quality ----------------------------------------------------------------
    def reliability(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        reps = r.replicate_design.replicates.materialize(ctx.design.n).weights
        table = reliability_table(ctx.design.data, self.cb, weights=ctx.design.weights, lang=self.lang,
                                  replicate_weights=reps)
        display = pd.DataFrame({
            t("col_dimension"): table["dimension"], t("col_items"): table["k"], t("col_n"): table["n"],
            t("col_alpha"): [f"{fmt.coef(a)}（{fmt.coef(lo)}–{fmt.coef(hi)}）" if self.lang == "zh" else
                             f"{fmt.coef(a)} ({fmt.coef(lo)}–{fmt.coef(hi)})"
                             for a, lo, hi in zip(table["alpha"], table["ci_low"], table["ci_high"])],
            t("col_alpha_boot"): [f"{fmt.coef(lo)}–{fmt.coef(hi)}" for lo, hi in zip(table["boot_low"], table["boot_high"])],
            t("col_omega"): [f"{fmt.coef(a)} / {fmt.coef(b)}" for a, b in zip(table["omega_total"], table["omega_h"])],
            t("col_kmo"): table["kmo"].map(fmt.coef), t("col_ave"): table["ave"].map(fmt.coef),
            t("col_verdict"): table["verdict"]})
        five = [c for c in self.cb.index_items if self.cb.items[c].scale.max == 5]
        flags = quality_flags(ctx.survey.data, five, dont_know=ctx.survey.dont_know).set_index("city")
        flags = flags.reindex(ctx.scores["city"])
        quality = pd.DataFrame({t("col_city"): [r.city(c) for c in flags.index], t("col_n"): flags["n"].to_numpy(),
                                t("col_straight"): flags["straightlining_rate"].map(fmt.pct).to_numpy()})
        if "speeding_rate" in flags:
            quality[t("col_speed")] = flags["speeding_rate"].map(fmt.pct).to_numpy()
        quality[t("col_nonresp")] = flags["item_nonresponse_rate"].map(fmt.pct).to_numpy()
        quality[t("col_dk")] = flags["dont_know_rate"].map(fmt.pct).to_numpy()
        return [Markdown(self.sub("app_reliability") + "\n\n" + t("reliability_note")),
                Table("reliability", display, table),
                Markdown(t("quality_note")), Table("quality", quality, flags.reset_index())]

    # ---- weights and their provenance -----------------------------------------------------------------
    def weights(self) -> list:
        r, t = self.report, self.t
        means = r.city_item_means
        sets = {name: weights_for(name, self.cb, means) for name in ("equal", "ahp", "entropy", "pca")
                if name != "ahp" or self.cb.ahp}
        used = fixed_weights(self.cb)
        rows, shown = [], []
        for node in [self.cb.tree, *self.cb.dimensions]:
            for child, w in used.weights[node.code].items():
                rows.append({"node": node.code, "child": child, "used": w, **{n: ws.weights[node.code][child] for n, ws in sets.items()}})
                shown.append({t("col_node"): r.node(node.code), t("col_child"): r.node(child),
                              t("col_weight_used"): fmt.coef(w), t("col_provenance"): t("prov_codebook"),
                              **{t(f"col_{n}"): fmt.coef(ws.weights[node.code][child]) for n, ws in sets.items()}})
        text = self.sub("app_weights") + "\n\n" + t("weights_note")
        idx = self.cb.tree.code
        others = [c for c in self.cb.composite.get("sizes", []) if c != self.ctx.official_size] if self.cb.composite else []
        for col in others:
            c = self.ctx.province(column=col).set_index("node").loc[idx]
            text += " " + t("scores_other_composite", size=r.size_name(col), est=fmt.num(c["estimate"]),
                            ci=fmt.interval(c["ci_low"], c["ci_high"]))
        return [Markdown(text), Table("weights", pd.DataFrame(shown), pd.DataFrame(rows))]

    # ---- uncertainty of the ranks: sampling and method together -----------------------------------------
    def uncertainty(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        res = r.joint_uncertainty
        ranks = res.ranks.copy()
        # the report's one level: the central 95 % of the simulated ranks (columns follow the units' input order)
        order = list(r.city_item_means.index)
        draws = pd.DataFrame(res.rank_draws, columns=order)
        ranks["p025"] = draws.quantile(0.025).reindex(ranks["unit"]).to_numpy()
        ranks["p975"] = draws.quantile(0.975).reindex(ranks["unit"]).to_numpy()
        display = pd.DataFrame({t("col_city"): ranks["unit"].map(r.city), t("col_nominal_rank"): ranks["nominal_rank"],
                                t("col_median_rank"): ranks["median_rank"].map(lambda v: fmt.num(v, 0)),
                                t("col_rank_range"): [f"{fmt.num(lo, 0)}–{fmt.num(hi, 0)}" for lo, hi in zip(ranks["p025"], ranks["p975"])]})
        sobol = res.sobol
        sobol_display = pd.DataFrame({t("col_factor"): [t(f"factor_{f}") for f in sobol["factor"]],
                                      t("col_first"): sobol["first_order"].clip(lower=0).map(fmt.coef),
                                      t("col_total"): sobol["total"].clip(lower=0).map(fmt.coef)})
        totals = sobol.set_index("factor")["total"].clip(lower=0)
        plot_ranks = ranks.assign(name=ranks["unit"].map(r.city), p05=ranks["p025"], p95=ranks["p975"])
        return [Markdown(self.sub("app_uncertainty") + "\n\n" + t("uncertainty_note", draws=ctx.draws, reps=ctx.replicates,
                                                                  sampling=fmt.coef(totals.get("sampling", 0.0), 2),
                                                                  method=fmt.coef(totals.drop("sampling", errors="ignore").sum(), 2))),
                Figure("rank_uncertainty", plotting.rank_range_chart(plot_ranks, title=t("fig_rank_title", year=ctx.year),
                                                                     xlabel=t("fig_rank_x"), nominal_label=t("fig_rank_nominal"),
                                                                     range_label=t("fig_rank_range"))),
                Table("rank_uncertainty", display, ranks),
                Table("sensitivity", sobol_display, sobol)]

    # ---- the supplementary model ---------------------------------------------------------------------
    def model(self) -> list:
        r, t = self.report, self.t
        if r.model is None:
            return []
        fit, _, boot = r.model
        spec = self.cb.structural
        label = lambda lv: spec["labels"][lv][1 if self.lang == "en" else 0]  # noqa: E731
        p = boot.paths
        display = pd.DataFrame({t("col_from"): p["from"].map(label), t("col_to"): p["to"].map(label),
                                t("col_path"): p["estimate"].map(fmt.coef), t("col_se"): p["se"].map(fmt.coef),
                                t("col_ci"): [f"{fmt.coef(lo)}–{fmt.coef(hi)}" for lo, hi in zip(p["ci_low"], p["ci_high"])],
                                t("col_r2"): p["to"].map(fit.r2).map(fmt.coef)})
        name = spec["en" if self.lang == "en" else "zh"] or spec["code"]
        return [Markdown(self.sub("app_model") + "\n\n" + t("model_note", model=name, reps=self.ctx.replicates, gof=fit.gof)),
                Table("model_paths", display, p)]

    def pairwise(self) -> list:
        r, t, ctx = self.report, self.t, self.ctx
        names = {c: r.city(c) for c in ctx.scores["city"]}
        fig = plotting.difference_heatmap(ctx.ranking["pairs"], list(ctx.scores["city"]), names=names,
                                          title=t("fig_heat_title", year=ctx.year), colorbar_label=t("fig_heat_cbar"))
        return [Markdown(self.sub("app_pairwise") + "\n\n" + t("pairwise_note")), Figure("pairwise_differences", fig)]

    def glossary(self) -> list:
        return [Markdown(self.sub("app_glossary") + "\n\n" + self.t("glossary"))]
