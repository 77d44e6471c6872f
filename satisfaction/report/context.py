"""The report's context: one year (and the years before it) loaded and computed once, in numbers.

Every section of the report reads this object; nothing here is worded or rounded. The standard of
evidence is stated once, here, and every section uses it:

* intervals and tests at ``level`` (95 %);
* a city's rank is claimed only through its simultaneous rank confidence set (Mogstad, Romano,
  Shaikh & Wilhelm 2024; ``csranks``);
* a change, a difference between groups or a position against the average is called significant
  only when its Holm-adjusted p-value (over the family of tests shown together) is below
  ``1 − level``;
* a sample "meets the requirement" when its margin of error at the *observed* design effect is
  within the codebook's target precision (±5 points for a proportion at 95 %), not when the
  interview count reaches a number fixed in advance.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..codebook import Codebook, load_codebook
from ..errors import SatisfactionError
from ..index import composite, score_table, weighted_scores
from ..ingest import read_processed
from ..paths import resolve
from ..ranking import change, pairwise, rank_sets, tau_best, tiers
from ..survey.estimate import vcov
from ..survey.variance import critical_value
from ..survey.weighting import survey_design

#: Bootstrap replicates behind the report's replicate-based intervals (re-raked, seeded by the year).
REPLICATES = 500
#: Monte Carlo draws of the joint sampling × method uncertainty analysis.
SENSITIVITY_DRAWS = 1000
#: Parametric bootstrap draws behind the rank confidence sets.
RANK_DRAWS = 1000
#: Confidence level of every interval and test in the report.
LEVEL = 0.95
#: The margin of error (for a proportion, at the observed design effect) a city's sample must reach.
TARGET_MARGIN = 0.05


def holm(p) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values: ``p_(i) ↦ max_{j≤i} min(1, (m − j + 1) p_(j))``
    over the m non-missing p-values sorted ascending (as statsmodels' ``multipletests(method="holm")``
    and R's ``p.adjust(method="holm")``); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m:
        values = p[ok]
        order = np.argsort(values, kind="stable")
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * values[order]))
        result = np.empty(m)
        result[order] = adjusted
        out[ok] = result
    return out


class ReportContext:
    """One year of one region, loaded once: the survey, its design, every node's score per city,
    the province's composite, the years before it, rank sets and changes — all in numbers.

    Parameters
    ----------
    year, processed_dir, codebook, region : as :func:`satisfaction.report.run_report`.
    replicates, draws, rank_draws : replicates of the design, Monte Carlo draws of the
        sensitivity analysis, bootstrap draws of the rank sets.
    seed : seeds every random step (default: the year), so the same inputs give the same report.
    """

    def __init__(self, year: int, *, processed_dir: str | Path, codebook: Codebook | str | Path,
                 region: str | None = None, replicates: int = REPLICATES, draws: int = SENSITIVITY_DRAWS,
                 rank_draws: int = RANK_DRAWS, seed: int | None = None):
        self.year = int(year)
        self.codebook = codebook if isinstance(codebook, Codebook) else load_codebook(resolve(codebook))
        self.region = region or self.codebook.region["code"]
        if self.region != self.codebook.region["code"]:
            raise SatisfactionError(f"region {self.region!r} is not the codebook's region {self.codebook.region['code']!r}")
        self.processed_dir = resolve(processed_dir)
        self.replicates, self.draws, self.rank_draws = int(replicates), int(draws), int(rank_draws)
        self.seed = self.year if seed is None else int(seed)
        self.level = LEVEL
        self.survey = read_processed(self.processed_dir / str(self.year), self.codebook)
        self.design = survey_design(self.survey.data, self.codebook)
        self.node_scores = weighted_scores(self.design, self.codebook, by="city", level=self.level)
        self.scores = score_table(self.node_scores, self.codebook)

    # ---- the province ------------------------------------------------------------------------
    @cached_property
    def sizes_table(self) -> pd.DataFrame | None:
        if not self.codebook.composite:
            return None
        return pd.read_csv(self.codebook.sizes_path, dtype={"city": str}).set_index("city")

    @property
    def official_size(self) -> str | None:
        """The size column of the official provincial composite (the codebook's
        ``composite.official``, else its first size column)."""
        if not self.codebook.composite:
            return None
        return self.codebook.composite.get("official") or self.codebook.composite["sizes"][0]

    def sizes(self, column: str | None = None) -> pd.Series:
        """City sizes for the composite (equal sizes when the codebook declares none)."""
        cities = list(self.codebook.cities)
        if self.sizes_table is None:
            return pd.Series(1.0, index=cities)
        return self.sizes_table[column or self.official_size].astype(float)

    def province(self, node_scores: pd.DataFrame | None = None, column: str | None = None) -> pd.DataFrame:
        """Every node's provincial composite (official sizes unless ``column``): ``node, level,
        estimate, se, ci_low, ci_high, units``."""
        node_scores = self.node_scores if node_scores is None else node_scores
        sizes = self.sizes(column)
        levels = node_scores.drop_duplicates("node").set_index("node")["level"]
        rows = []
        for node in levels.index:
            part = node_scores[(node_scores["node"] == node) & node_scores["estimate"].notna()]
            c = composite(part, sizes, node=node, level=self.level)
            rows.append({**c.to_dict(), "level": int(levels[node])})
        return pd.DataFrame(rows)[["node", "level", "estimate", "se", "ci_low", "ci_high", "units"]]

    @cached_property
    def province_now(self) -> pd.DataFrame:
        return self.province()

    # ---- the years ------------------------------------------------------------------------------
    @cached_property
    def years(self) -> list[int]:
        """Every year up to this one with processed data (a manifest), oldest first."""
        return processed_years(self.processed_dir, self.year)

    @cached_property
    def scores_by_year(self) -> dict[int, pd.DataFrame]:
        """Every node's score per city, for every year with data (linearised SEs)."""
        out = {self.year: self.node_scores}
        for year in self.years:
            if year != self.year:
                survey = read_processed(self.processed_dir / str(year), self.codebook)
                out[year] = weighted_scores(survey_design(survey.data, self.codebook), self.codebook, by="city",
                                            level=self.level)
        return dict(sorted(out.items()))

    @cached_property
    def province_by_year(self) -> pd.DataFrame:
        """The provincial composite of every node in every year: ``year, node, level, estimate, se,
        ci_low, ci_high, units``."""
        return pd.concat([self.province(s).assign(year=y) for y, s in self.scores_by_year.items()],
                         ignore_index=True)[["year", "node", "level", "estimate", "se", "ci_low", "ci_high", "units"]]

    @property
    def previous_year(self) -> int | None:
        earlier = [y for y in self.years if y < self.year]
        return earlier[-1] if earlier else None

    def province_change(self, year: int | None = None, before: int | None = None) -> pd.DataFrame:
        """Change of every node's provincial composite between two independent surveys, with CI, p
        and the Holm-adjusted p over the nodes of the same level."""
        year = self.year if year is None else year
        before = self.previous_year if before is None else before
        now = self.province_by_year[self.province_by_year["year"] == year].set_index("node")
        then = self.province_by_year[self.province_by_year["year"] == before].set_index("node")
        return _differences(now, then, self.level, family="level")

    def city_change(self, node: str | None = None, year: int | None = None, before: int | None = None) -> pd.DataFrame:
        """Each city's change of ``node`` (default the index) between two years, with CI, p and the
        Holm-adjusted p over all cities (the family the report shows together)."""
        node = node or self.codebook.tree.code
        year = self.year if year is None else year
        before = self.previous_year if before is None else before
        now = self.scores_by_year[year]
        then = self.scores_by_year[before]
        out = change(now[now["node"] == node], then[then["node"] == node], by="city", level=self.level)
        out["p_holm"] = holm(out["p"])
        out["significant"] = out["p_holm"] < 1 - self.level
        return out

    # ---- ranks -----------------------------------------------------------------------------------
    def _index_rows(self, node_scores: pd.DataFrame, node: str | None = None) -> pd.DataFrame:
        node = node or self.codebook.tree.code
        return node_scores[(node_scores["node"] == node) & node_scores["estimate"].notna()].set_index("city")

    def rank_sets(self, node: str | None = None, node_scores: pd.DataFrame | None = None, seed: int | None = None):
        """Simultaneous 95 % rank confidence sets of the cities on ``node`` (default the index)."""
        rows = self._index_rows(self.node_scores if node_scores is None else node_scores, node)
        return rank_sets(rows["estimate"], vcov(rows.reset_index()).to_numpy(), level=self.level,
                         n_draws=self.rank_draws, seed=self.seed if seed is None else seed)

    @cached_property
    def index_sets(self) -> pd.DataFrame:
        """The index's simultaneous rank confidence sets, cities in the order of the scores table
        (the sets :attr:`ranking` reports, and the tiers are made of)."""
        rows = self._index_rows(self.node_scores).loc[list(self.scores["city"])]
        return rank_sets(rows["estimate"], vcov(rows.reset_index()).to_numpy(), level=self.level,
                         n_draws=self.rank_draws, seed=self.seed)

    @cached_property
    def tiers(self) -> pd.Series:
        """Each city's tier from :attr:`index_sets` (:func:`rank_tiers`)."""
        return rank_tiers(self.index_sets)

    @cached_property
    def ranking(self) -> dict:
        """The index's rank sets, pairwise max-t comparisons, letter groups, τ-best/worst sets and
        each city against the provincial average (official sizes, Holm)."""
        from ..ranking import versus_average

        rows = self._index_rows(self.node_scores).loc[list(self.scores["city"])]
        est, var = rows["estimate"], vcov(rows.reset_index()).to_numpy()
        sets = self.index_sets
        pairs = pairwise(est, var, level=self.level, seed=self.seed)
        tau = int(np.ceil(len(est) / 3))          # the same cut as the tiers: the top and bottom third
        sizes = self.sizes().reindex(est.index).to_numpy()
        return {"sets": sets, "pairs": pairs, "letters": tiers(est, pairs),
                "tiers": self.tiers,
                "best": tau_best(est, var, tau, level=self.level, n_draws=self.rank_draws, seed=self.seed),
                "worst": tau_best(est, var, tau, level=self.level, n_draws=self.rank_draws, seed=self.seed, worst=True),
                "average": versus_average(est, var, sizes=sizes, level=self.level), "tau": tau}

    # ---- precision of the samples ------------------------------------------------------------------
    @cached_property
    def precision(self) -> pd.DataFrame:
        """Per city: interviews; the Kish design effect of its weights; the observed design effect
        of its index estimate (``svymean(deff=TRUE)`` of the respondents' index scores: the
        variance under the design against simple random sampling, which adds the effect of the
        stratification and of how the weights meet the answers); the effective sample size at that
        design effect; the margin of error of a proportion (p = 0.5) at it,
        ``z·√(0.25·deff/n)``; the margin of error of the index (``z · SE``, points); and whether
        the proportion's margin is within ``TARGET_MARGIN``."""
        from dataclasses import replace

        from ..index import respondent_scores
        from ..survey.estimate import mean

        idx = self.codebook.tree.code
        scores = respondent_scores(self.design.data, self.codebook)[idx]
        work = replace(self.design, data=self.design.data.assign(**{"index_score": scores.to_numpy()}))
        observed = mean(work, "index_score", by="city", level=self.level).set_index("city")["deff"]
        diag = self.design.weight_diagnostics.set_index("city")
        n = self.survey.data.groupby("city").size().reindex(list(self.codebook.cities), fill_value=0)
        deff = observed.reindex(n.index)
        z = critical_value(self.level)
        moe_p = z * np.sqrt(0.25 * deff / n)
        rows = self._index_rows(self.node_scores).reindex(n.index)
        return pd.DataFrame({"city": n.index, "n": n.to_numpy(), "kish_deff": diag["kish_deff"].reindex(n.index).to_numpy(),
                             "deff": deff.to_numpy(), "effective_n": (n / deff).to_numpy(),
                             "moe_proportion": moe_p.to_numpy(), "moe_index": (z * rows["se"]).to_numpy(),
                             "meets": (moe_p <= TARGET_MARGIN + 1e-12).to_numpy(),
                             "minimum": self.codebook.min_valid_per_city})


def processed_years(processed_dir: Path, up_to: int) -> list[int]:
    """The years up to ``up_to`` with processed data (a ``<year>/manifest.json``), oldest first."""
    processed_dir = Path(processed_dir)
    if not processed_dir.is_dir():
        return []
    return sorted(int(f.name) for f in processed_dir.iterdir()
                  if f.name.isdigit() and int(f.name) <= up_to and (f / "manifest.json").is_file())


def rank_tiers(sets: pd.DataFrame) -> pd.Series:
    """Tiers from simultaneous rank confidence sets, the one standard for rank statements: a city
    is in the leading tier when its whole set lies within the top third of ranks, in the trailing
    tier when it lies within the bottom third, and otherwise in the middle (its rank cannot be
    placed at either end with 95 % confidence). Returns ``"top"``, ``"middle"`` or ``"bottom"``
    per city."""
    p = len(sets)
    third = int(np.ceil(p / 3))
    unit = sets.columns[0]
    tier = np.where(sets["upper"] <= third, "top", np.where(sets["lower"] > p - third, "bottom", "middle"))
    return pd.Series(tier, index=sets[unit], name="tier")


def _differences(now: pd.DataFrame, then: pd.DataFrame, level: float, family: str) -> pd.DataFrame:
    both = now[["estimate", "se"]].join(then[["estimate", "se"]].add_suffix("_previous"), how="inner")
    d = both["estimate"] - both["estimate_previous"]
    se = np.sqrt(both["se"] ** 2 + both["se_previous"] ** 2)
    z = critical_value(level)
    p = pd.Series(2 * stats.norm.sf(np.abs(d / se)), index=d.index)
    out = pd.DataFrame({"node": both.index, "previous": both["estimate_previous"].to_numpy(),
                        "current": both["estimate"].to_numpy(), "change": d.to_numpy(), "se": se.to_numpy(),
                        "ci_low": (d - z * se).to_numpy(), "ci_high": (d + z * se).to_numpy(), "p": p.to_numpy()})
    groups = now[family].reindex(out["node"]).to_numpy()
    out["p_holm"] = np.nan
    for g in np.unique(groups):
        mask = groups == g
        out.loc[mask, "p_holm"] = holm(out.loc[mask, "p"])
    out["significant"] = out["p_holm"] < 1 - level
    return out
