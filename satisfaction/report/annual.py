"""The annual report's content: :class:`AnnualReport` computes every table, figure and text the
notebook shows, so it is tested like any other function."""
from __future__ import annotations

from functools import cached_property

import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import plotting
from ..codebook import Codebook, load_codebook
from ..errors import SatisfactionError
from ..survey.estimate import margin_of_error, vcov
from ..drivers import QUADRANTS, importance_performance
from ..index import city_flags, composite, pls_index, sample_sizes, score_table, unit_item_means, weighted_scores
from ..schemes import fixed_weights, weights_for
from ..ranking import change, pairwise, point_ranks, rank_correlation, rank_sets, tau_best, tiers, versus_average
from ..sensitivity import rank_sensitivity
from ..reliability import quality_flags, reliability_table
from ..survey.weighting import replicate_design, survey_design
from ..ingest import atomic_write_bytes, read_processed, xlsx_bytes
from .labels import check_lang, t
from ..paths import resolve

STAGING_ENV = "SATISFACTION_REPORT_STAGING"
NOTEBOOK = "annual_report.ipynb"
#: Bootstrap replicates behind the report's intervals (re-raked, seeded by the year).
REPLICATES = 500
#: Monte Carlo draws of the rank sensitivity analysis (each costs 6 index builds).
SENSITIVITY_DRAWS = 1000
#: Bootstrap draws behind the rank confidence sets.
RANK_DRAWS = 1000


class AnnualReport:
    """Everything the annual report shows for one year and region.

    Parameters
    ----------
    year : int
    processed_dir : folder holding ``<year>/`` written by ``satisfaction ingest``
    codebook : Codebook or path
    region : region code; must be the codebook's region (default)
    lang : ``"zh"`` (default) or ``"en"``
    """

    def __init__(self, year: int, *, processed_dir: str | Path, codebook: Codebook | str | Path,
                 region: str | None = None, lang: str = "zh"):
        self.year = int(year)
        self.lang = check_lang(lang)
        self.codebook = codebook if isinstance(codebook, Codebook) else load_codebook(resolve(codebook))
        self.region = region or self.codebook.region["code"]
        if self.region != self.codebook.region["code"]:
            raise SatisfactionError(f"region {self.region!r} is not the codebook's region {self.codebook.region['code']!r}")
        self.processed_dir = resolve(processed_dir)
        self.survey = read_processed(self.processed_dir / str(self.year), self.codebook)
        self.design = survey_design(self.survey.data, self.codebook)
        self.node_scores = weighted_scores(self.design, self.codebook, by="city")
        self.scores = score_table(self.node_scores, self.codebook)
        self.scores.insert(2, "name", self.scores["city"].map(lambda c: self.codebook.city_label(c, self.lang)))

    # ---- words ------------------------------------------------------------------------------
    def _label(self, code: str) -> str:
        return self.codebook.label(code, self.lang)

    @property
    def title(self) -> str:
        region = self.codebook.region["en" if self.lang == "en" else "zh"]
        return t("report_title", self.lang, year=self.year, region=region)

    def heading_markdown(self) -> str:
        title = self.codebook.title["en" if self.lang == "en" else "zh"]
        sub = t("report_subtitle", self.lang, title=title, year=self.year, n_cities=len(self.scores),
                n=self.survey.rows_kept)
        return f"# {self.title}\n\n{sub}"

    def sample_markdown(self) -> str:
        sizes = sample_sizes(self.survey.data, self.codebook)
        text = f"## {t('sec_sample', self.lang)}\n\n" + t(
            "sample_note", self.lang, minimum=self.codebook.min_valid_per_city,
            met=int(sizes["meets_minimum"].sum()), total=len(sizes))
        flagged = self.flags[self.flags["flag"] != ""]
        if len(flagged):
            sep = "；" if self.lang == "zh" else "; "
            cities = sep.join(f"{self.codebook.city_label(c, self.lang)}（{f}）" if self.lang == "zh" else
                              f"{self.codebook.city_label(c, self.lang)} ({f})" for c, f in zip(flagged["city"], flagged["flag"]))
            text += "\n\n" + t("flags_note", self.lang, cities=cities)
        return text

    @cached_property
    def flags(self) -> pd.DataFrame:
        """Per city: below the codebook's minimum sample, weighted by the documented fallback
        (:func:`satisfaction.index.city_flags`)."""
        return city_flags(self.survey.data, self.design, self.codebook, lang=self.lang)

    def scores_markdown(self) -> str:
        idx = self.codebook.tree.code
        top, bottom = self.scores.iloc[0], self.scores.iloc[-1]
        text = (f"## {t('sec_scores', self.lang)}\n\n{t('scores_note', self.lang)}\n\n"
                + t("top_bottom", self.lang, top=top["name"], top_score=top[idx], bottom=bottom["name"],
                    bottom_score=bottom[idx]))
        for size, c in self.composites().items():
            text += " " + t("composite_note", self.lang, size=t(f"size_{size}", self.lang), est=c["estimate"],
                            lo=c["ci_low"], hi=c["ci_high"])
        return text

    def composites(self) -> dict[str, pd.Series]:
        """The provincial index weighted by each size column of the codebook's ``composite`` section."""
        if not self.codebook.composite:
            return {}
        sizes = pd.read_csv(self.codebook.sizes_path, dtype={"city": str}).set_index("city")
        return {col: composite(self.node_scores, sizes[col]) for col in self.codebook.composite["sizes"]
                if col in sizes.columns}

    # ---- robustness and priorities ----------------------------------------------------------------
    @cached_property
    def city_item_means(self) -> pd.DataFrame:
        return unit_item_means(self.design.data, self.codebook, weights=self.design.weights)

    @cached_property
    def sensitivity(self):
        return rank_sensitivity(self.city_item_means, self.codebook, n_draws=SENSITIVITY_DRAWS, seed=self.year)

    @cached_property
    def drivers(self) -> pd.DataFrame:
        return importance_performance(self.design.data, self.codebook, by="city", weights=self.design.weights,
                                      lang=self.lang)

    def robustness_markdown(self) -> str:
        return (f"## {t('sec_robustness', self.lang)}\n\n"
                + t("robustness_note", self.lang, draws=SENSITIVITY_DRAWS, pert=0.25))

    def weights_table(self) -> pd.DataFrame:
        """The weights used (codebook) with their provenance, and the alternatives, for the index's
        and the first-level indicators' children."""
        sets = {name: weights_for(name, self.codebook, self.city_item_means) for name in ("equal", "ahp", "entropy", "pca")
                if name != "ahp" or self.codebook.ahp}
        used = fixed_weights(self.codebook)
        rows = []
        for node in [self.codebook.tree, *self.codebook.dimensions]:
            for child, w in used.weights[node.code].items():
                row = {t("col_node", self.lang): self._label(node.code), t("col_child", self.lang): self._label(child),
                       t("col_weight_used", self.lang): round(w, 3), t("col_provenance", self.lang): t("prov_codebook", self.lang)}
                for name, ws in sets.items():
                    row[t(f"col_{name}", self.lang)] = round(ws.weights[node.code][child], 3)
                rows.append(row)
        return pd.DataFrame(rows)

    def rank_uncertainty_table(self) -> pd.DataFrame:
        r = self.sensitivity.ranks
        return pd.DataFrame({
            t("col_city", self.lang): r["unit"].map(lambda c: self.codebook.city_label(c, self.lang)),
            t("col_nominal_rank", self.lang): r["nominal_rank"],
            t("col_median_rank", self.lang): r["median_rank"].round(1),
            t("col_rank_range", self.lang): [f"{lo:.0f}–{hi:.0f}" for lo, hi in zip(r["p05"], r["p95"])],
            t("col_shift", self.lang): r["mean_abs_shift"].round(2),
        })

    def sobol_markdown(self) -> str:
        return t("sobol_note", self.lang)

    def sobol_table(self) -> pd.DataFrame:
        s = self.sensitivity.sobol
        return pd.DataFrame({t("col_factor", self.lang): [t(f"factor_{f}", self.lang) for f in s["factor"]],
                             t("col_first", self.lang): s["first_order"].clip(lower=0).round(3),
                             t("col_total", self.lang): s["total"].clip(lower=0).round(3)})

    def rank_figure(self):
        ranks = self.sensitivity.ranks.assign(name=lambda r: r["unit"].map(lambda c: self.codebook.city_label(c, self.lang)))
        return plotting.rank_range_chart(ranks, title=t("fig_rank_title", self.lang, year=self.year),
                                         xlabel=t("fig_rank_x", self.lang), nominal_label=t("fig_rank_nominal", self.lang),
                                         range_label=t("fig_rank_range", self.lang))

    def drivers_markdown(self) -> str:
        return f"## {t('sec_drivers', self.lang)}\n\n{t('drivers_note', self.lang)}"

    def drivers_figure(self):
        names = {c: self.codebook.city_label(c, self.lang) for c in self.scores["city"]}
        quadrants = [QUADRANTS[self.lang][k] for k in ("concentrate", "keep", "low", "overkill")]
        analysed = set(self.drivers.loc[self.drivers["importance"].notna(), "city"])
        units = [c for c in self.scores["city"] if c in analysed]   # a city with too few interviews has no chart
        return plotting.quadrant_grid(self.drivers, units=units, names=names, quadrant_names=quadrants,
                                      title=t("fig_ipa_title", self.lang, year=self.year),
                                      xlabel=t("fig_ipa_x", self.lang), ylabel=t("fig_ipa_y", self.lang))

    # ---- the structural (PLS) model --------------------------------------------------------------
    @cached_property
    def model(self):
        """``(fit, per-city table, bootstrap)`` of the codebook's structural model, or None."""
        if not self.codebook.structural:
            return None
        fit, table = pls_index(self.replicate_design, self.codebook, by="city")
        return fit, table, fit.bootstrap(self.replicate_design)

    def _lv_label(self, lv: str) -> str:
        zh, en = self.codebook.structural["labels"][lv]
        return en if self.lang == "en" else zh

    def model_markdown(self) -> str:
        fit = self.model[0]
        name = self.codebook.structural["en" if self.lang == "en" else "zh"] or self.codebook.structural["code"]
        return f"## {t('sec_model', self.lang)}\n\n" + t("model_note", self.lang, model=name, reps=REPLICATES, gof=fit.gof)

    def model_paths_table(self) -> pd.DataFrame:
        fit, _, boot = self.model
        p = boot.paths
        r2 = fit.r2
        return pd.DataFrame({
            t("col_from", self.lang): p["from"].map(self._lv_label), t("col_to", self.lang): p["to"].map(self._lv_label),
            t("col_path", self.lang): p["estimate"].round(3), t("col_se", self.lang): p["se"].round(3),
            t("col_ci", self.lang): [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(p["ci_low"], p["ci_high"])],
            t("col_r2", self.lang): p["to"].map(r2).round(3)})

    def model_constructs_table(self) -> pd.DataFrame:
        fit, _, boot = self.model
        rel = fit.reliability
        idx = boot.index.set_index("lv")
        lvs = list(fit.model.lvs)
        return pd.DataFrame({
            t("col_lv", self.lang): [self._lv_label(lv) for lv in lvs],
            t("col_model_index", self.lang): idx.loc[lvs, "estimate"].round(1).to_numpy(),
            t("col_ci", self.lang): [f"{lo:.1f}–{hi:.1f}" for lo, hi in zip(idx.loc[lvs, "ci_low"], idx.loc[lvs, "ci_high"])],
            t("col_r2", self.lang): [f"{fit.r2[lv]:.3f}" if lv in fit.r2.index else "—" for lv in lvs],
            "alpha": rel.loc[lvs, "alpha"].round(3).to_numpy(), t("col_rho_a", self.lang): rel.loc[lvs, "rhoA"].round(3).to_numpy(),
            t("col_rho_c", self.lang): rel.loc[lvs, "rhoC"].round(3).to_numpy(), "AVE": rel.loc[lvs, "AVE"].round(3).to_numpy()})

    def model_figure(self):
        _, table, _ = self.model
        lv = self.codebook.structural["index"]
        part = table[table["lv"] == lv].rename(columns={"estimate": lv})
        part = part.assign(name=part["city"].map(lambda c: self.codebook.city_label(c, self.lang)))
        return plotting.index_bar_chart(part, labels={}, index_code=lv,
                                        title=t("fig_model_title", self.lang, year=self.year, lv=self._lv_label(lv)),
                                        xlabel=t("fig_index_x", self.lang))

    # ---- ranking inference --------------------------------------------------------------------------
    def _index_rows(self, node_scores: pd.DataFrame) -> pd.DataFrame:
        idx = self.codebook.tree.code
        return node_scores[node_scores["node"] == idx].set_index("city")

    @cached_property
    def ranking(self) -> dict:
        """Rank sets, pairwise comparisons, tiers, τ-best/worst and the comparison with the average."""
        rows = self._index_rows(self.node_scores).loc[list(self.scores["city"])]
        # the covariance the estimates carry (cities are separate strata: zero off the diagonal here,
        # but a design with shared PSUs or national calibration would not be)
        est, var = rows["estimate"], vcov(rows.reset_index()).to_numpy()
        sets = rank_sets(est, var, n_draws=RANK_DRAWS, seed=self.year)
        pairs = pairwise(est, var, seed=self.year)
        sizes = None
        if self.codebook.composite:
            table = pd.read_csv(self.codebook.sizes_path, dtype={"city": str}).set_index("city")
            sizes = table[self.codebook.composite["sizes"][0]].reindex(est.index).to_numpy()
        tau = min(3, len(est))
        return {"sets": sets, "pairs": pairs, "tiers": tiers(est, pairs),
                "best": tau_best(est, var, tau, n_draws=RANK_DRAWS, seed=self.year),
                "worst": tau_best(est, var, tau, n_draws=RANK_DRAWS, seed=self.year, worst=True),
                "average": versus_average(est, var, sizes=sizes), "tau": tau}

    def ranking_markdown(self) -> str:
        r = self.ranking
        name = lambda c: self.codebook.city_label(c, self.lang)  # noqa: E731
        sep = "、" if self.lang == "zh" else ", "
        best = sep.join(name(c) for c in r["best"].loc[r["best"]["in_set"], "city"])
        worst = sep.join(name(c) for c in r["worst"].loc[r["worst"]["in_set"], "city"])
        return (f"## {t('sec_ranking', self.lang)}\n\n{t('ranking_note', self.lang)}\n\n"
                + t("tau_note", self.lang, tau=r["tau"], best=best, worst=worst))

    def ranking_table(self) -> pd.DataFrame:
        r = self.ranking
        sets = r["sets"].set_index("city")
        avg = r["average"].set_index("city")
        cities = list(self.scores["city"])
        return pd.DataFrame({
            t("col_rank", self.lang): sets.loc[cities, "rank"].to_numpy(),
            t("col_city", self.lang): self.scores["name"].to_numpy(),
            self._label(self.codebook.tree.code): sets.loc[cities, "estimate"].round(2).to_numpy(),
            t("col_rank_set", self.lang): [f"[{lo}, {hi}]" for lo, hi in zip(sets.loc[cities, "lower"], sets.loc[cities, "upper"])],
            t("col_tier", self.lang): r["tiers"].loc[cities].to_numpy(),
            t("col_vs_avg", self.lang): [f"{t(pos, self.lang)} ({d:+.1f})" for pos, d in
                                          zip(avg.loc[cities, "position"], avg.loc[cities, "difference"])],
        })

    def caterpillar_figure(self):
        rows = self._index_rows(self.node_scores)
        sets = self.ranking["sets"].set_index("city")
        table = pd.DataFrame({"estimate": rows["estimate"], "ci_low": rows["ci_low"], "ci_high": rows["ci_high"],
                              "lower": sets["lower"], "upper": sets["upper"]})
        table["name"] = [self.codebook.city_label(c, self.lang) for c in table.index]
        return plotting.caterpillar_chart(table, title=t("fig_cat_title", self.lang, year=self.year),
                                          xlabel=t("fig_index_x", self.lang), set_label=t("fig_cat_set", self.lang))

    def heatmap_figure(self):
        names = {c: self.codebook.city_label(c, self.lang) for c in self.scores["city"]}
        return plotting.difference_heatmap(self.ranking["pairs"], list(self.scores["city"]), names=names,
                                           title=t("fig_heat_title", self.lang, year=self.year),
                                           colorbar_label=t("fig_heat_cbar", self.lang))

    @cached_property
    def previous(self) -> pd.DataFrame | None:
        """Last year's index per city (weighted, linearised SEs), or None without its processed data."""
        folder = self.processed_dir / str(self.year - 1)
        if not folder.exists():
            return None
        survey = read_processed(folder, self.codebook)
        return weighted_scores(survey_design(survey.data, self.codebook), self.codebook, by="city")

    def change_markdown(self) -> str:
        head = f"## {t('sec_change', self.lang)}\n\n"
        if self.previous is None:
            return head + t("no_previous", self.lang, prev=self.year - 1)
        ch = self.change
        corr = rank_correlation(self._index_rows(self.previous)["estimate"], self._index_rows(self.node_scores)["estimate"])
        return head + t("change_note", self.lang, prev=self.year - 1, tau=corr["kendall_tau"], rho=corr["spearman_rho"],
                        n_up=int((ch["significant"] & (ch["change"] > 0)).sum()),
                        n_down=int((ch["significant"] & (ch["change"] < 0)).sum()))

    @cached_property
    def change(self) -> pd.DataFrame:
        now = self._index_rows(self.node_scores).reset_index()
        before = self._index_rows(self.previous).reset_index()
        return change(now, before, by="city")

    def change_table(self) -> pd.DataFrame | None:
        if self.previous is None:
            return None
        prev_rows = self._index_rows(self.previous)
        prev_sets = rank_sets(prev_rows["estimate"], vcov(prev_rows.reset_index()).to_numpy(), n_draws=RANK_DRAWS,
                              seed=self.year - 1).set_index("city")
        sets = self.ranking["sets"].set_index("city")
        ch = self.change.set_index("city")
        cities = [c for c in self.scores["city"] if c in ch.index]
        fmt = lambda s, c: f"{s.loc[c, 'rank']} [{s.loc[c, 'lower']}, {s.loc[c, 'upper']}]"  # noqa: E731
        return pd.DataFrame({
            t("col_city", self.lang): [self.codebook.city_label(c, self.lang) for c in cities],
            t("col_prev_score", self.lang): ch.loc[cities, "previous"].round(2).to_numpy(),
            self._label(self.codebook.tree.code): ch.loc[cities, "current"].round(2).to_numpy(),
            t("col_change", self.lang): [f"{d:+.2f} ({lo:+.2f}, {hi:+.2f})" for d, lo, hi in
                                          zip(ch.loc[cities, "change"], ch.loc[cities, "ci_low"], ch.loc[cities, "ci_high"])],
            t("col_p", self.lang): ch.loc[cities, "p"].round(3).to_numpy(),
            t("col_prev_set", self.lang): [fmt(prev_sets, c) for c in cities],
            t("col_rank_set", self.lang): [fmt(sets, c) for c in cities],
        })

    def slope_figure(self):
        prev_rank = point_ranks(self._index_rows(self.previous)["estimate"])
        prev = pd.Series(prev_rank, index=self._index_rows(self.previous).index)
        now_rows = self._index_rows(self.node_scores)
        now = pd.Series(point_ranks(now_rows["estimate"]), index=now_rows.index)
        ch = self.change.set_index("city")
        direction = np.sign(ch["change"]).where(ch["significant"], 0).astype(int)
        names = {c: self.codebook.city_label(c, self.lang) for c in now.index}
        return plotting.slopegraph(prev, now, names=names, years=(self.year - 1, self.year), changes=direction,
                                   title=t("fig_slope_title", self.lang, prev=self.year - 1, year=self.year),
                                   labels=(t("fig_slope_up", self.lang), t("fig_slope_down", self.lang),
                                           t("fig_slope_same", self.lang)))

    def priorities_table(self) -> pd.DataFrame:
        """Per city (rank order): the indicators to concentrate on, most important first."""
        concentrate = QUADRANTS[self.lang]["concentrate"]
        sep = "、" if self.lang == "zh" else "; "
        d = self.drivers[self.drivers["quadrant"] == concentrate].sort_values("importance", ascending=False)
        listed = d.groupby("city")["label"].agg(sep.join)
        too_few = QUADRANTS[self.lang]["too_few"]
        for city in self.drivers.loc[self.drivers["quadrant"] == too_few, "city"].unique():
            listed[city] = too_few
        return pd.DataFrame({t("col_city", self.lang): self.scores["name"],
                             t("col_concentrate", self.lang): self.scores["city"].map(listed).fillna("—").to_numpy()})

    def dimensions_markdown(self) -> str:
        sep = "、" if self.lang == "zh" else ", "
        dims = sep.join(self._label(d.code) for d in self.codebook.dimensions)
        return f"## {t('sec_dimensions', self.lang)}\n\n" + t("dimensions_note", self.lang, dims=dims)

    # ---- tables -----------------------------------------------------------------------------
    def sample_table(self) -> pd.DataFrame:
        sizes = sample_sizes(self.survey.data, self.codebook)
        out = pd.DataFrame({
            t("col_city", self.lang): sizes["city"].map(lambda c: self.codebook.city_label(c, self.lang)),
            t("col_n", self.lang): sizes["n"],
            t("col_minimum", self.lang): sizes["minimum"],
            t("col_meets", self.lang): sizes["meets_minimum"].map({True: t("yes", self.lang), False: t("no", self.lang)}),
        })
        diag = self.design.weight_diagnostics
        if diag is not None:
            diag = diag.set_index("city").reindex(sizes["city"])
            out[t("col_deff", self.lang)] = diag["kish_deff"].round(2).to_numpy()
            out[t("col_neff", self.lang)] = diag["effective_n"].round(0).astype("Int64").to_numpy()
            out[t("col_moe", self.lang)] = [round(100 * margin_of_error(n, deff=1.0), 1) for n in diag["effective_n"]]
        return out

    def scores_table(self) -> pd.DataFrame:
        idx = self.codebook.tree.code
        s = self.scores
        respondents = self.survey.data.groupby("city").size()
        out = pd.DataFrame({
            t("col_rank", self.lang): s["rank"],
            t("col_city", self.lang): s["name"],
            t("col_n", self.lang): s["city"].map(respondents).to_numpy(),
            self._label(idx): s[idx].round(2),
            t("col_se", self.lang): s["se"].round(2),
            t("col_ci", self.lang): [f"{lo:.1f}–{hi:.1f}" for lo, hi in zip(s["ci_low"], s["ci_high"])],
        })
        for dim in self.codebook.dimensions:
            out[self._label(dim.code)] = s[dim.code].round(2)
        flags = self.flags.set_index("city")["flag"]
        if (flags != "").any():
            out[t("col_flag", self.lang)] = s["city"].map(flags).fillna("").to_numpy()
        return out

    def indicator_table(self) -> pd.DataFrame:
        """Second-level indicator scores: one row per indicator, one column per city (rank order)."""
        wide = self.node_scores.pivot(index="node", columns="city", values="estimate")[list(self.scores["city"])]
        rows = []
        for dim in self.codebook.dimensions:
            for ind in dim.children:
                rows.append([self._label(dim.code), self._label(ind.code), *wide.loc[ind.code].round(2)])
        first, second = ("一级指标", "二级指标") if self.lang == "zh" else ("First level", "Second level")
        return pd.DataFrame(rows, columns=[first, second, *self.scores["name"]])

    def reliability_markdown(self) -> str:
        return f"## {t('sec_reliability', self.lang)}\n\n{t('reliability_note', self.lang)}"

    def quality_markdown(self) -> str:
        return t("quality_note", self.lang)

    @cached_property
    def replicate_design(self):
        """The design with re-raked bootstrap replicates (seeded by the year: same data, same report)."""
        return replicate_design(self.design, self.codebook, replicates=REPLICATES, seed=self.year)

    def reliability_table(self) -> pd.DataFrame:
        """Per first-level indicator: alpha with its Feldt and bootstrap intervals, omega, AVE,
        HTMT, KMO, the weakest item and a verdict."""
        reps = self.replicate_design.replicates.materialize(self.design.n).weights
        table = reliability_table(self.design.data, self.codebook, weights=self.design.weights, lang=self.lang,
                                  replicate_weights=reps)
        fmt = lambda v: "—" if pd.isna(v) else f"{v:.3f}"  # noqa: E731
        return pd.DataFrame({
            t("col_dimension", self.lang): table["dimension"],
            t("col_items", self.lang): table["k"],
            t("col_n", self.lang): table["n"],
            t("col_alpha", self.lang): [f"{a:.3f} ({lo:.3f}–{hi:.3f})" for a, lo, hi in zip(table["alpha"], table["ci_low"], table["ci_high"])],
            t("col_alpha_boot", self.lang): [f"{lo:.3f}–{hi:.3f}" for lo, hi in zip(table["boot_low"], table["boot_high"])],
            t("col_std_alpha", self.lang): table["std_alpha"].round(3),
            t("col_omega", self.lang): [f"{fmt(a)} / {fmt(b)}" for a, b in zip(table["omega_total"], table["omega_h"])],
            t("col_weakest", self.lang): [f"{i} ({r:.2f})" for i, r in zip(table["weakest_item"], table["weakest_r_drop"])],
            t("col_kmo", self.lang): table["kmo"].round(3),
            t("col_ave", self.lang): table["ave"].round(3),
            t("col_htmt", self.lang): [f"{h:.2f} ({w})" if w else "—" for h, w in zip(table["max_htmt"], table["htmt_with"])],
            t("col_verdict", self.lang): table["verdict"],
        })

    def quality_table(self) -> pd.DataFrame:
        """Data-quality rates per city (cities in rank order)."""
        five_point = [c for c in self.codebook.index_items if self.codebook.items[c].scale.max == 5]
        flags = quality_flags(self.survey.data, five_point, dont_know=self.survey.dont_know).set_index("city")
        flags = flags.reindex(self.scores["city"])
        out = pd.DataFrame({t("col_city", self.lang): self.scores["name"].to_numpy(),
                            t("col_n", self.lang): flags["n"].to_numpy(),
                            t("col_straight", self.lang): (100 * flags["straightlining_rate"]).round(1).to_numpy()})
        if "speeding_rate" in flags:
            out[t("col_speed", self.lang)] = (100 * flags["speeding_rate"]).round(1).to_numpy()
        out[t("col_nonresp", self.lang)] = (100 * flags["item_nonresponse_rate"]).round(1).to_numpy()
        out[t("col_dk", self.lang)] = (100 * flags["dont_know_rate"]).round(1).to_numpy()
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"sample": self.sample_table(), "scores": self.scores_table(), "indicators": self.indicator_table(),
                "reliability": self.reliability_table(), "quality": self.quality_table(), "weights": self.weights_table(),
                "rank_uncertainty": self.rank_uncertainty_table(), "sensitivity": self.sobol_table(),
                "priorities": self.priorities_table(),
                **({"model_paths": self.model_paths_table(), "model_constructs": self.model_constructs_table()}
                   if self.model is not None else {}),
                "ranking": self.ranking_table(),
                **({"change": self.change_table()} if self.previous is not None else {})}

    # ---- figures ----------------------------------------------------------------------------
    def index_figure(self):
        return plotting.index_bar_chart(
            self.scores, labels={}, index_code=self.codebook.tree.code,
            title=t("fig_index_title", self.lang, year=self.year), xlabel=t("fig_index_x", self.lang))

    def dimension_figure(self):
        dims = [d.code for d in self.codebook.dimensions]
        return plotting.dimension_chart(
            self.scores, dimensions=dims, labels={d: self._label(d) for d in dims},
            title=t("fig_dim_title", self.lang, year=self.year), ylabel=t("fig_dim_y", self.lang))

    def figures(self) -> dict[str, bytes]:
        """PNG bytes of every figure, by file stem."""
        return {"index_by_city": plotting.figure_png(self.index_figure()),
                "dimensions_by_city": plotting.figure_png(self.dimension_figure()),
                "rank_uncertainty": plotting.figure_png(self.rank_figure()),
                "importance_performance": plotting.figure_png(self.drivers_figure()),
                **({"model_index_by_city": plotting.figure_png(self.model_figure())} if self.model is not None else {}),
                "rank_sets": plotting.figure_png(self.caterpillar_figure()),
                "pairwise_differences": plotting.figure_png(self.heatmap_figure()),
                **({"rank_movement": plotting.figure_png(self.slope_figure())} if self.previous is not None else {})}

    # ---- output -----------------------------------------------------------------------------
    def save_outputs(self, output_dir: str | Path) -> Path:
        """Write tables (XLSX + CSV) and figures (PNG) to ``output_dir``.

        When run by :func:`run_report`, files go to its staging folder instead, which replaces
        ``output_dir`` only once the whole report has succeeded.
        """
        target = Path(os.environ.get(STAGING_ENV) or resolve(output_dir))
        tables = self.tables()
        sheet_names = {"sample": "样本" if self.lang == "zh" else "sample",
                       "scores": "指数与排名" if self.lang == "zh" else "scores",
                       "indicators": "二级指标" if self.lang == "zh" else "indicators",
                       "reliability": "信度" if self.lang == "zh" else "reliability",
                       "quality": "数据质量" if self.lang == "zh" else "data quality",
                       "weights": "权重" if self.lang == "zh" else "weights",
                       "rank_uncertainty": "排名不确定性" if self.lang == "zh" else "rank uncertainty",
                       "sensitivity": "敏感性" if self.lang == "zh" else "sensitivity",
                       "priorities": "改进重点" if self.lang == "zh" else "priorities",
                       "model_paths": "模型路径" if self.lang == "zh" else "model paths",
                       "model_constructs": "模型潜变量" if self.lang == "zh" else "model constructs",
                       "ranking": "排名推断" if self.lang == "zh" else "ranking",
                       "change": "与上年相比" if self.lang == "zh" else "change"}
        atomic_write_bytes(target / "tables.xlsx", xlsx_bytes({sheet_names[k]: v for k, v in tables.items()}))
        for name, df in tables.items():
            atomic_write_bytes(target / f"{name}.csv", df.to_csv(index=False, lineterminator="\n").encode("utf-8-sig"))
        for name, png in self.figures().items():
            atomic_write_bytes(target / "figures" / f"{name}.png", png)
        return target
