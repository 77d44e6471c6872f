"""The annual report: its sections in order, the words they share, and its files.

:class:`AnnualReport` holds a :class:`~satisfaction.report.context.ReportContext` (the year, loaded
and computed once, in numbers) and renders each section in a language as blocks the notebook
shows; everything is a function of the context, so it is tested like any other function.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from functools import cached_property
from pathlib import Path

import pandas as pd

from . import plotting
from ..codebook import Codebook
from ..drivers import QUADRANTS, importance_performance
from ..index import city_flags, pls_index, unit_item_means
from ..survey.weighting import replicate_design
from .context import LEVEL, RANK_DRAWS, REPLICATES, SENSITIVITY_DRAWS, ReportContext
from .labels import check_lang, issued_line, t
from .sections import SECTIONS
from .sections.base import Figure, Markdown, Table, section_number

NOTEBOOK = "annual_report.ipynb"

__all__ = ["AnnualReport", "LEVEL", "NOTEBOOK", "RANK_DRAWS", "REPLICATES", "SENSITIVITY_DRAWS"]


class AnnualReport:
    """Everything the annual report shows for one year and region.

    Parameters
    ----------
    year : int
    processed_dir : folder holding ``<year>/`` (and earlier years) written by ``satisfaction ingest``
    codebook : Codebook or path
    region : region code; must be the codebook's region (default)
    lang : ``"zh"`` (default) or ``"en"``
    replicates, draws, seed : the analysis settings (re-raked bootstrap replicates, Monte Carlo
        draws of the uncertainty analysis, the seed of every random step; default the year)
    issued : the date the report is issued (default today)
    """

    def __init__(self, year: int, *, processed_dir: str | Path, codebook: Codebook | str | Path,
                 region: str | None = None, lang: str = "zh", replicates: int = REPLICATES,
                 draws: int = SENSITIVITY_DRAWS, seed: int | None = None, issued: str | dt.date | None = None):
        self.lang = check_lang(lang)
        self.ctx = ReportContext(year, processed_dir=processed_dir, codebook=codebook, region=region,
                                 replicates=replicates, draws=draws, seed=seed)
        self.year, self.codebook = self.ctx.year, self.ctx.codebook
        self.issued = dt.date.fromisoformat(str(issued)) if issued else dt.date.today()
        #: ``reports/<year>/<region>/cities/``: where the city bulletins are published (set by the
        #: publishing run, so that the report links the bulletins there; None: no links)
        self.bulletins_root: Path | None = None
        #: whether the numbers the bulletins share are kept in ``data/interim/`` once computed (a
        #: notebook that only explores sets it False: it writes nothing)
        self.store_shared = True
        #: the worker process building some sections meanwhile (:mod:`.prefetch`; set by a publishing
        #: run), or None
        self.prefetch = None
        self.sections = [cls(self) for cls in SECTIONS]
        self.sections = [s for s in self.sections if s.available()]

    # ---- words shared by the sections ---------------------------------------------------------
    def t(self, key: str, **kw) -> str:
        return t(key, self.lang, **kw)

    @property
    def region_name(self) -> str:
        return self.codebook.region["en" if self.lang == "en" else "zh"]

    def city(self, code: str) -> str:
        return self.codebook.city_label(code, self.lang)

    def node(self, code: str) -> str:
        return self.codebook.label(code, self.lang)

    def join(self, words, strong: bool = False) -> str:
        words = list(words)
        return ("；" if strong else "、").join(words) if self.lang == "zh" else ("; " if strong else ", ").join(words)

    def letters(self, code: str) -> str:
        """Group letters of the compact letter display; in Chinese the heavenly stems 甲乙丙…"""
        if self.lang != "zh":
            return code
        stems = "甲乙丙丁戊己庚辛壬癸"
        return "".join(stems[(ord(ch) - ord("a")) % len(stems)] if "a" <= ch <= "z" else ch for ch in code)

    def size_name(self, column: str | None) -> str:
        return self.t(f"size_{column}") if column else self.t("size_equal")

    def verdict(self, row) -> str:
        """The one wording of a change: significant (Holm-adjusted) up or down, or not significant."""
        if not row["significant"]:
            return self.t("change_none")
        return self.t("change_up") if row["change"] > 0 else self.t("change_down")

    @cached_property
    def flags(self) -> pd.DataFrame:
        return city_flags(self.ctx.survey.data, self.ctx.design, self.codebook, lang=self.lang)

    def flag(self, city: str) -> str:
        f = self.flags.set_index("city")["flag"]
        return f.get(city, "")

    def tier_sentence(self) -> str:
        """What the rank sets allow one to say of the cities' order, in one sentence: the leading and
        trailing tiers, or, when the sets are too wide for either, that the order cannot be told —
        with the cities above and below the provincial average (Holm-adjusted)."""
        tiers = self.ctx.ranking["tiers"]
        order = list(self.ctx.scores["city"])
        groups = {k: [self.city(c) for c in order if tiers[c] == k] for k in ("top", "middle", "bottom")}
        third = -(-len(order) // 3)
        if groups["top"] or groups["bottom"]:
            return self.t("tiers_sentence", top=self.join(groups["top"]) or self.t("none"),
                          middle=self.join(groups["middle"]) or self.t("none"),
                          bottom=self.join(groups["bottom"]) or self.t("none"), third=third)
        avg = self.ctx.ranking["average"]
        unit = avg.columns[0]
        above = [self.city(c) for c in order if c in set(avg.loc[avg["position"] == "above", unit])]
        below = [self.city(c) for c in order if c in set(avg.loc[avg["position"] == "below", unit])]
        return self.t("tiers_none", third=third, above=self.join(above) or self.t("none"),
                      below=self.join(below) or self.t("none"))

    @cached_property
    def fieldwork(self) -> tuple[pd.Series, bool]:
        """The data files (one per fieldwork agency) and the cities each covered; and whether agency
        and city effects are confounded (every city from one file, some file covering several)."""
        data = self.ctx.survey.data
        files = data.groupby("source_file")["city"].agg(lambda c: sorted(set(c)))
        per_city = data.groupby("city")["source_file"].nunique()
        return files, bool((per_city == 1).all() and (files.map(len) > 1).any())

    @cached_property
    def findings(self):
        from .sections.headline import Findings

        return Findings(self)

    # ---- analyses shared by sections ------------------------------------------------------------
    @cached_property
    def replicate_design(self):
        """The design with re-raked bootstrap replicates (seeded: same data, same report)."""
        return replicate_design(self.ctx.design, self.codebook, replicates=self.ctx.replicates, seed=self.ctx.seed)

    @cached_property
    def shared(self):
        """The numbers the city bulletins share (:func:`satisfaction.report.cities.year_results`),
        computed from this report — or read, when a batch of bulletins computed them first."""
        from .cities import year_results

        return year_results(self.year, processed_dir=self.ctx.processed_dir, codebook=self.codebook,
                            region=self.ctx.region, replicates=self.ctx.replicates, seed=self.ctx.seed, report=self,
                            store=self.store_shared)

    @cached_property
    def city_item_means(self) -> pd.DataFrame:
        return unit_item_means(self.ctx.design.data, self.codebook, weights=self.ctx.design.weights)

    @cached_property
    def joint_uncertainty(self):
        """Ranks under sampling error and method choices drawn together (Sobol with sampling as a factor)."""
        from ..sensitivity import joint_rank_uncertainty, replicate_item_means

        reps = replicate_item_means(self.replicate_design, self.codebook)
        return joint_rank_uncertainty(self.city_item_means, reps, self.codebook, n_draws=self.ctx.draws,
                                      seed=self.ctx.seed)

    @cached_property
    def model(self):
        """``(fit, per-city table, bootstrap)`` of the codebook's structural model, or None."""
        if not self.codebook.structural:
            return None
        fit, table = pls_index(self.replicate_design, self.codebook, by="city")
        return fit, table, fit.bootstrap(self.replicate_design)

    @cached_property
    def drivers(self) -> pd.DataFrame:
        return importance_performance(self.ctx.design.data, self.codebook, by="city", weights=self.ctx.design.weights,
                                      lang=self.lang)

    def drivers_figure_units(self) -> list[str]:
        analysed = set(self.drivers.loc[self.drivers["importance"].notna(), "city"])
        return [c for c in self.ctx.scores["city"] if c in analysed]

    def _drivers_plot_args(self) -> dict:
        return {"units": self.drivers_figure_units(), "names": {c: self.city(c) for c in self.ctx.scores["city"]},
                "quadrant_names": [QUADRANTS[self.lang][k] for k in ("concentrate", "keep", "low", "overkill")],
                "xlabel": self.t("fig_ipa_x"), "ylabel": self.t("fig_ipa_y")}

    def drivers_figure(self):
        """The importance–performance small multiples on one figure (print, the figures folder)."""
        return plotting.quadrant_grid(self.drivers, title=self.t("fig_ipa_title", year=self.year), **self._drivers_plot_args())

    def drivers_panels(self) -> list:
        """The same charts one figure per city, on shared scales, each titled with the city's name."""
        return plotting.quadrant_panels(self.drivers, **self._drivers_plot_args())

    def priorities(self) -> pd.DataFrame:
        """Per city (rank order): the indicators to concentrate on, most important first."""
        concentrate = QUADRANTS[self.lang]["concentrate"]
        d = self.drivers[self.drivers["quadrant"] == concentrate].sort_values("importance", ascending=False)
        listed = d.groupby("city")["label"].agg(self.join)
        too_few = QUADRANTS[self.lang]["too_few"]
        for city in self.drivers.loc[self.drivers["quadrant"] == too_few, "city"].unique():
            listed[city] = too_few
        cities = list(self.ctx.scores["city"])
        return pd.DataFrame({self.t("col_city"): [self.city(c) for c in cities],
                             self.t("col_concentrate"): [listed.get(c, "—") for c in cities]})

    # ---- the page ---------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        return self.t("report_title", year=self.year, region=self.region_name)

    def heading_markdown(self) -> str:
        sub = self.t("report_subtitle", n_cities=len(self.ctx.scores), n=self.ctx.survey.rows_kept, year=self.year)
        return "\n\n".join([f"# {self.title}", sub, issued_line(self.codebook, self.issued, self.lang)])

    def reproducibility(self) -> str:
        """Package version, codebook hash, the inputs' hashes (from the manifest) and the settings."""
        from .. import __version__

        manifest = getattr(self.ctx.survey, "manifest", {}) or {}
        inputs = sorted(s.get("sha256") or "" for s in manifest.get("inputs", []))
        digest = hashlib.sha256("".join(inputs).encode()).hexdigest()[:12]
        return self.t("reproducibility", version=__version__, codebook=self.codebook.sha256[:12], files=len(inputs),
                      inputs=digest, reps=self.ctx.replicates, draws=self.ctx.draws, seed=self.ctx.seed)

    def numbered(self) -> list[tuple[str, object]]:
        """``(heading, section)`` in order, the numbers generated."""
        return [(f"{section_number(i, self.lang)} {s.title()}" if self.lang == "en" else f"{section_number(i, self.lang)}{s.title()}", s)
                for i, s in enumerate(self.sections, start=1)]

    def section(self, key: str):
        for heading, s in self.numbered():
            if s.key == key:
                return heading, s
        raise KeyError(key)

    def render(self, key: str) -> list:
        """The section's blocks, its numbered heading first — built once per report: the notebook,
        the page, the tables and the figures folder all use these blocks (the same figure objects,
        so each figure is drawn and rendered once)."""
        cache = self.__dict__.setdefault("_blocks", {})
        if key not in cache and self.prefetch is not None and key in self.prefetch.keys:
            self.prefetch.take(self, key)        # built meanwhile by a worker process (.prefetch)
        if key not in cache:
            heading, s = self.section(key)
            cache[key] = [Markdown(f"## {heading}"), *s.blocks()]
        return cache[key]

    @property
    def all_blocks(self) -> dict[str, list]:
        """Every section's blocks (:meth:`render`), in report order."""
        return {s.key: self.render(s.key) for s in self.sections}

    def forget_blocks(self) -> None:
        """Drop the rendered blocks and outputs: the next use builds the sections again from the
        context (its numbers stay computed)."""
        for name in ("_blocks", "_outputs"):
            self.__dict__.pop(name, None)

    def tables(self) -> dict[str, Table]:
        return {b.key: b for blocks in self.all_blocks.values() for b in blocks if isinstance(b, Table)}

    def figures(self) -> dict[str, object]:
        return {b.key: b.figure for blocks in self.all_blocks.values() for b in blocks if isinstance(b, Figure)}

    def text(self) -> str:
        """All the words of the report body (markdown and table notes), for checks."""
        out = [self.heading_markdown()]
        for blocks in self.all_blocks.values():
            for b in blocks:
                if isinstance(b, Markdown):
                    out.append(b.text)
                elif isinstance(b, Table) and b.note:
                    out.append(b.note)
        return "\n\n".join(out)

    # ---- files ------------------------------------------------------------------------------------
    def save_outputs(self, folder: str | Path, *, pdf: bool = False) -> Path:
        """Write the report's files (page, notebook, tables, figures; the PDF if asked) into ``folder``,
        for exploring. Publishing — the folder derived from year, region and language, locked, swapped
        in atomically — is :func:`satisfaction.report.publish.finish_report` (the notebook's last cell)."""
        from ..paths import resolve
        from .publish import write_outputs

        folder = resolve(folder)
        write_outputs(self, folder, pdf=pdf)
        return folder




