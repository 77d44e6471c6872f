"""A city's bulletin (城市通报): one city's results, in one or two printed pages.

:class:`CityBulletin` words and rounds what :class:`~satisfaction.report.cities.YearResults` holds
for one city — the numbers every bulletin shares, computed once per year — in the language asked.
Its sections are blocks (markdown, tables, figures) as the provincial report's are, so the page,
the PDF and the Word document are built the same way. Every claim follows the report's one
standard (:mod:`satisfaction.report.context`): ranks through rank confidence sets, "above" and
"below" only where the Holm-adjusted difference is significant, a priority only where the interval of
its importance allows it, a target's verdict at the targets file's stated confidence.
"""
from __future__ import annotations

import datetime as dt
from functools import cached_property

import pandas as pd

from . import fmt, plotting
from ..codebook import Codebook, normalize_header
from .labels import check_lang, issued_line, issuer_name, t
from .sections.base import Figure, Markdown, Table, section_number

NOTEBOOK = "city_bulletin.ipynb"
#: The bulletin's sections, in order.
SECTIONS = ("overall", "indicators", "rates", "priorities", "tier", "targets", "notes")


class CityBulletin:
    """One city's bulletin for one year, in ``lang``.

    Parameters
    ----------
    results : :class:`~satisfaction.report.cities.YearResults` of the year
    codebook : the codebook the results were computed with
    city : city code (or a name the codebook knows)
    lang : ``"zh"`` (default) or ``"en"``
    issued : date of issue (default today)
    report_href : link to the provincial report, shown in the notes (relative to the bulletin)
    """

    def __init__(self, results, codebook: Codebook, city: str, *, lang: str = "zh",
                 issued: str | dt.date | None = None, report_href: str | None = None):
        self.results, self.codebook = results, codebook
        self.lang = check_lang(lang)
        self.city = codebook.city_lookup().get(normalize_header(str(city)), str(city))
        if self.city not in results.cities:
            from ..errors import UsageError

            names = "、".join(codebook.city_label(c, "zh") for c in results.cities)
            raise UsageError(f"city {city!r} has no result in {results.year} (cities: {names})")
        self.year = results.year
        self.issued = dt.date.fromisoformat(str(issued)) if issued else dt.date.today()
        self.report_href = report_href

    # ---- words ---------------------------------------------------------------------------------
    def t(self, key: str, **kw) -> str:
        return t(key, self.lang, **kw)

    def name(self, city: str | None = None) -> str:
        return self.codebook.city_label(city or self.city, self.lang)

    def node(self, code: str) -> str:
        return self.codebook.label(code, self.lang)

    def join(self, words) -> str:
        return ("、" if self.lang == "zh" else ", ").join(words)

    def ci(self, low, high) -> str:
        return fmt.interval(low, high)

    @property
    def region_name(self) -> str:
        return self.codebook.region["en" if self.lang == "en" else "zh"]

    @property
    def title(self) -> str:
        return self.t("b_title", year=self.year, city=self.name())

    def heading_markdown(self) -> str:
        n = int(self.results.precision.set_index("city").loc[self.city, "n"])
        return "\n\n".join([f"# {self.title}", self.t("b_subtitle", region=self.region_name, year=self.year, n=n),
                            issued_line(self.codebook, self.issued, self.lang)])

    # ---- the sections ----------------------------------------------------------------------------
    def numbered(self) -> list[tuple[str, str]]:
        """``(key, numbered heading)`` of each section shown, in order."""
        out = []
        for i, key in enumerate(SECTIONS, start=1):
            number = section_number(i, self.lang)
            out.append((key, f"{number}{'' if self.lang == 'zh' else ' '}{self.t('b_sec_' + key)}"))
        return out

    def render(self, key: str) -> list:
        """The section's blocks, its numbered heading first."""
        heading = dict(self.numbered())[key]
        return [Markdown(f"## {heading}"), *getattr(self, f"_{key}")()]

    @cached_property
    def all_blocks(self) -> dict[str, list]:
        return {key: self.render(key) for key in SECTIONS}

    def figures(self) -> dict[str, object]:
        return {b.key: b.figure for blocks in self.all_blocks.values() for b in blocks if isinstance(b, Figure)}

    def tables(self) -> dict[str, Table]:
        return {b.key: b for blocks in self.all_blocks.values() for b in blocks if isinstance(b, Table)}

    def text(self) -> str:
        out = [self.heading_markdown()]
        for blocks in self.all_blocks.values():
            out += [b.text for b in blocks if isinstance(b, Markdown)]
            out += [b.note for b in blocks if isinstance(b, Table) and b.note]
        return "\n\n".join(out)

    # ---- 1. overall -------------------------------------------------------------------------------
    def _overall(self) -> list:
        r, idx = self.results, self.codebook.tree.code
        me = r.city_nodes(self.city).loc[idx]
        prov = r.province.set_index("node").loc[idx]
        vs = r.city_versus(self.city).loc[idx]
        versus = self.t(f"b_versus_{vs['position']}", d=fmt.num(abs(vs["difference"])) if vs["position"] != "none"
                        else fmt.signed(vs["difference"]), ci=fmt.interval(vs["ci_low"], vs["ci_high"], signed_values=True))
        rank = r.city_ranks(self.city).loc[idx]
        text = [self.t("b_overall", city=self.name(), est=fmt.num(me["estimate"]), ci=self.ci(me["ci_low"], me["ci_high"]),
                       prov=fmt.num(prov["estimate"]), versus=versus),
                self.t("b_rank", p=int(rank["cities"]), lower=int(rank["lower"]), upper=int(rank["upper"]),
                       tier=self.t(f"tier_{r.tiers[self.city]}"), rank=int(rank["rank"]), third=-(-int(rank["cities"]) // 3))]
        if r.change is not None and self.city in set(r.change["city"]):
            ch = r.change.set_index("city").loc[self.city]
            verdict = (self.t("change_none") if not ch["significant"]
                       else self.t("change_up") if ch["change"] > 0 else self.t("change_down"))
            text.append(self.t("b_change", prev=r.previous_year, before=fmt.num(ch["previous"]), change=fmt.signed(ch["change"]),
                               ci=fmt.interval(ch["ci_low"], ch["ci_high"], signed_values=True), verdict=verdict,
                               n=len(r.change)))
        else:
            text.append(self.t("b_no_change"))
        blocks = [Markdown("".join(text) if self.lang == "zh" else " ".join(text))]
        trend = r.trend
        mine, province = trend[trend["city"] == self.city], trend[trend["city"] == "province"]
        if len(mine) > 1:
            years = sorted(mine["year"])
            fig = plotting.city_trend_chart(mine, province, title=self.t("b_trend_title", city=self.name(), first=years[0],
                                                                          last=years[-1]),
                                            ylabel=self.t("fig_index_x"), city_label=self.name(),
                                            province_label=self.region_name)
            blocks.append(Figure("trend", fig))
        return blocks

    # ---- 2. dimensions and indicators ----------------------------------------------------------------
    def _indicator_rows(self) -> pd.DataFrame:
        r = self.results
        me, vs, ranks = r.city_nodes(self.city), r.city_versus(self.city), r.city_ranks(self.city)
        prov = r.province.set_index("node")
        rows = []
        for dim in self.codebook.dimensions:
            for code, level in [(dim.code, 1)] + [(ind.code, 2) for ind in dim.children]:
                if code not in vs.index:
                    continue
                rows.append({"node": code, "level": level, "label": self.node(code), "estimate": me.loc[code, "estimate"],
                             "province": prov.loc[code, "estimate"], "difference": vs.loc[code, "difference"],
                             "ci_low": vs.loc[code, "ci_low"], "ci_high": vs.loc[code, "ci_high"],
                             "p_holm": vs.loc[code, "p_holm"], "position": vs.loc[code, "position"],
                             "rank": ranks.loc[code, "rank"] if code in ranks.index else None,
                             "rank_lower": ranks.loc[code, "lower"] if code in ranks.index else None,
                             "rank_upper": ranks.loc[code, "upper"] if code in ranks.index else None})
        return pd.DataFrame(rows)

    def _indicators(self) -> list:
        rows = self._indicator_rows()
        judge = {"above": self.t("b_pos_above"), "below": self.t("b_pos_below"), "none": self.t("b_pos_none")}
        indent = "　" if self.lang == "zh" else "\u2003"     # a space HTML does not collapse
        display = pd.DataFrame({
            self.t("col_measure"): [(indent if lv == 2 else "") + label for lv, label in zip(rows["level"], rows["label"])],
            self.t("col_city_score"): rows["estimate"].map(fmt.num),
            self.t("col_province_score"): rows["province"].map(fmt.num),
            self.t("col_difference"): [f"{fmt.signed(d)}（{fmt.interval(a, b, signed_values=True)}）" if self.lang == "zh"
                                       else f"{fmt.signed(d)} ({fmt.interval(a, b, signed_values=True)})"
                                       for d, a, b in zip(rows["difference"], rows["ci_low"], rows["ci_high"])],
            self.t("col_rank_set"): [f"{int(a)}–{int(b)}" if pd.notna(a) else "—" for a, b in zip(rows["rank_lower"], rows["rank_upper"])],
            self.t("col_judgement"): rows["position"].map(judge)})
        ind = rows[rows["level"] == 2]
        strengths = [self.node(c) for c in ind.loc[ind["position"] == "above", "node"]]
        weaknesses = [self.node(c) for c in ind.loc[ind["position"] == "below", "node"]]
        words = [self.t("b_indicators_intro")]
        if strengths:
            words.append(self.t("b_strengths", items=self.join(strengths)))
        if weaknesses:
            words.append(self.t("b_weaknesses", items=self.join(weaknesses)))
        if not strengths and not weaknesses:
            words.append(self.t("b_none_different"))
        fig = plotting.difference_chart(ind, title=self.t("b_diff_title", city=self.name()), xlabel=self.t("b_diff_x"),
                                        position_labels=judge)
        return [Markdown("\n\n".join(words)), Figure("differences", fig),
                Table("indicators", display, rows, note=self.t("ci_raw_note"))]

    # ---- 3. satisfaction rates ----------------------------------------------------------------------
    def _rates(self) -> list:
        r = self.results
        rates = r.rates.set_index(["city", "dimension"])
        keys = ["overall", *[d.code for d in self.codebook.dimensions]]
        keys = [k for k in keys if (self.city, k) in rates.index]
        small = False
        city_col, prov_col = [], []
        for k in keys:
            row = rates.loc[(self.city, k)]
            if row["n"] < r.min_cell:
                small = True
                city_col.append("—")
            else:
                ci = fmt.interval(100 * row["ci_low"], 100 * row["ci_high"]) + "%"
                city_col.append(f"{fmt.pct(row['rate'])}（{ci}）" if self.lang == "zh" else f"{fmt.pct(row['rate'])} ({ci})")
            prov_col.append(fmt.pct(rates.loc[("province", k), "rate"]))
        display = pd.DataFrame({self.t("col_measure"): [self.t("b_rate_overall") if k == "overall" else self.node(k) for k in keys],
                                self.t("col_rate_city"): city_col, self.t("col_rate_province"): prov_col})
        data = r.rates[r.rates["city"].isin([self.city, "province"])].reset_index(drop=True)
        note = self.t("b_rates_small", threshold=r.min_cell) if small else None
        return [Markdown(self.t("b_rates_intro")), Table("rates", display, data, note=note)]

    # ---- 4. priorities -------------------------------------------------------------------------------
    def _priorities(self) -> list:
        from ..drivers import MIN_ROWS_PER_PREDICTOR

        d = self.results.drivers
        d = d[d["city"] == self.city].sort_values("importance", ascending=False)
        words = [self.t("b_priorities_intro", average=fmt.pct(1 / max(len(d), 1)))]
        if d["importance"].isna().all():
            words.append(self.t("b_priorities_too_few", k=MIN_ROWS_PER_PREDICTOR))
            return [Markdown("\n\n".join(words))]
        named = d[d["priority"]]
        thin = d[d["candidate"] & ~d["priority"]]

        def items(rows):
            return self.join(self.t("b_priority_item", label=self.node(row["indicator"]), imp=fmt.pct(row["importance"]),
                                    ci=fmt.interval(100 * row["ci_low"], 100 * row["ci_high"]) + "%",
                                    score=fmt.num(row["performance"])) for _, row in rows.iterrows())

        words.append(self.t("b_priorities", items=items(named)) if len(named) else self.t("b_no_priorities"))
        if len(thin):
            words.append(self.t("b_candidates", items=items(thin)))
        return [Markdown("\n\n".join(words))]

    # ---- 5. the next tier ------------------------------------------------------------------------------
    def _tier(self) -> list:
        g = self.results.gaps.set_index("city").loc[self.city]
        p = len(self.results.cities)
        third = -(-p // 3)
        if g["next_tier"] is None or pd.isna(g["next_tier"]):
            return [Markdown(self.t("b_tier_top", third=third))]
        tier, nxt = self.t(f"tier_{g['tier']}"), self.t(f"tier_{g['next_tier']}")
        if pd.isna(g["required"]):
            return [Markdown(self.t("b_tier_unreachable", tier=tier, next=nxt))]
        return [Markdown(self.t("b_tier_gap", tier=tier, next=nxt, required=fmt.num(g["required"]), gap=fmt.num(g["gap"]),
                                prob=probability(g["probability"], self.lang), impr=fmt.num(g["improvement_80"])))]

    # ---- 6. plan targets ---------------------------------------------------------------------------------
    def _targets(self) -> list:
        mine = self.results.city_targets(self.city)
        if mine.empty:
            return [Markdown(self.t("b_targets_none"))]
        table = targets_table(mine, self, unit_column=False)
        conf = self.results.target_confidence
        from ..targets import VERDICTS

        words = VERDICTS[self.lang]
        return [Markdown(self.t("b_targets_intro", conf=fmt.pct(conf), inv=fmt.pct(1 - conf), **words)), table]

    # ---- 7. notes ----------------------------------------------------------------------------------------
    def _notes(self) -> list:
        composite = self.codebook.composite
        size = (composite.get("official") or composite["sizes"][0]) if composite else None
        weighting = (self.t("b_weighting_sized", size=self.t(f"size_{size}")) if size else self.t("b_weighting_equal"))
        name = self.t("b_report_link")
        report = f"[{name}]({self.report_href})" if self.report_href else name
        return [Markdown(self.t("b_notes", region=self.region_name, year=self.year, weighting=weighting, report=report))]


def probability(p: float, lang: str = "zh") -> str:
    """A probability as a reader sees it: a whole percentage, "< 1%" and "> 99%" at the ends — a
    few hundred replicates resolve no finer, and cannot say "never" or "certainly"."""
    if pd.isna(p):
        return "—"
    if p < 0.01:
        return "< 1%"
    if p > 0.99:
        return "> 99%"
    return f"{100 * p:.0f}%"


def target_label(row, words) -> str:
    """A target in words: "消费维权满意率不低于 80%", "消费者满意度指数不低于 78 分"."""
    threshold = f"{row['threshold']:g}"
    if row["measure"] == "score":
        return words.t("b_target_score", of=words.node(row["of"]), threshold=threshold)
    of = words.t("b_rate_overall") if row["of"] == "overall" else words.node(row["of"])
    return words.t("b_target_rate", of=of, threshold=threshold)


def targets_table(rows: pd.DataFrame, words, *, unit_column: bool = True) -> Table:
    """The targets (rows of :func:`~satisfaction.report.cities.evaluate_targets`) as a published table;
    ``words`` gives the language (a bulletin or the annual report)."""
    from ..targets import VERDICTS

    v = VERDICTS[words.lang]
    unit = {"province": words.t("province_row")}
    est = [f"{fmt.num(e)}{'%' if m == 'rate' else ''}（{fmt.interval(a, b)}{'%' if m == 'rate' else ''}）" if words.lang == "zh"
           else f"{fmt.num(e)}{'%' if m == 'rate' else ''} ({fmt.interval(a, b)}{'%' if m == 'rate' else ''})"
           for e, a, b, m in zip(rows["estimate"], rows["ci_low"], rows["ci_high"], rows["measure"])]
    columns = {}
    if unit_column:
        columns[words.t("col_unit")] = [unit.get(u) or words.codebook.city_label(u, words.lang) for u in rows["unit"]]
    columns.update({words.t("col_target"): [target_label(r, words) for _, r in rows.iterrows()],
                    words.t("col_target_year"): rows["target_year"].astype(int).astype(str).to_numpy(),
                    words.t("col_estimate_ci"): est,
                    words.t("col_probability"): [probability(p, words.lang) for p in rows["probability"]],
                    words.t("col_verdict_target"): [v[x] for x in rows["verdict"]]})
    return Table("targets", pd.DataFrame(columns), rows.reset_index(drop=True),
                 digits={"threshold": 1, "estimate": 1, "se": 2, "ci_low": 1, "ci_high": 1, "probability": 3})


# ---- the files ---------------------------------------------------------------------------------------

#: Fault points inside the writing of a bulletin's files, in order (as the report's OUTPUT_STEPS).
BULLETIN_STEPS = ("figures", "html", "docx", "pdf")


def bulletin_notebook(bulletin):
    """The bulletin as an nbformat notebook of display outputs: the heading, then one cell per
    section (what :func:`show_bulletin` shows for it)."""
    from .display import block_outputs, outputs_notebook

    return outputs_notebook(bulletin.heading_markdown(),
                            {key: block_outputs(blocks) for key, blocks in bulletin.all_blocks.items()},
                            {"year": bulletin.year, "region": bulletin.results.region, "lang": bulletin.lang,
                             "city": bulletin.city, "title": bulletin.title})


def show_bulletin(bulletin, key: str) -> None:
    """Display one section of the bulletin in the notebook."""
    from IPython.display import publish_display_data

    from .display import block_outputs

    for output in block_outputs(bulletin.all_blocks[key]):
        publish_display_data(output["data"], output["metadata"])


def bulletin_files(bulletin, *, pdf: bool = True) -> dict[str, bytes]:
    """Every file of a bulletin, by name: ``<city>.html``, ``<city>.pdf`` (A4, printed by the same
    headless browser as the report), ``<city>.docx`` (python-docx), ``<city>.ipynb``, the figures
    (``figures/*.png|svg``) and ``bulletin.json`` (the SHA-256 of every other file and the headline
    numbers). Nothing is written to the project: the caller publishes the files
    (:func:`satisfaction.report.publish.publish_files`), so the work can run on any machine."""
    import hashlib
    import json
    import tempfile
    from pathlib import Path

    import nbformat

    from ..ingest.swap import fault_point
    from .display import rendered
    from .docx import document_bytes
    from .html import render_html

    stem = bulletin.city
    files: dict[str, bytes] = {}
    for name, fig in bulletin.figures().items():
        files[f"figures/{name}.png"] = rendered(fig, "png")
        files[f"figures/{name}.svg"] = rendered(fig, "svg")
    fault_point("figures")
    nb = bulletin_notebook(bulletin)
    html = render_html(nb, lang=bulletin.lang, title=bulletin.title, kind="bulletin")
    files[f"{stem}.ipynb"] = nbformat.writes(nb).encode("utf-8")
    files[f"{stem}.html"] = html.encode("utf-8")
    fault_point("html")
    blocks = [Markdown(bulletin.heading_markdown())] + [b for blocks in bulletin.all_blocks.values() for b in blocks]
    issuer = issuer_name(bulletin.codebook, bulletin.lang)
    files[f"{stem}.docx"] = document_bytes(blocks, title=bulletin.title, lang=bulletin.lang, issued=bulletin.issued,
                                           author=issuer or None, footer=issuer or None)
    fault_point("docx")
    if pdf:
        from ..errors import PublishError, SatisfactionError
        from .html import print_page

        with tempfile.TemporaryDirectory(prefix="satisfaction-bulletin-") as tmp:
            try:
                print_page(html, Path(tmp) / f"{stem}.pdf")
            except SatisfactionError as exc:
                raise PublishError(f"cannot print {stem}.pdf: {exc}") from exc
            files[f"{stem}.pdf"] = (Path(tmp) / f"{stem}.pdf").read_bytes()
        fault_point("pdf")
    r, idx = bulletin.results, bulletin.codebook.tree.code
    me = r.city_nodes(bulletin.city).loc[idx]
    ranks = r.city_ranks(bulletin.city).loc[idx]
    summary = {"year": bulletin.year, "region": r.region, "city": bulletin.city, "lang": bulletin.lang,
               "issued": bulletin.issued.isoformat(), "title": bulletin.title,
               "index": {"estimate": float(me["estimate"]), "ci_low": float(me["ci_low"]), "ci_high": float(me["ci_high"]),
                         "rank_lower": int(ranks["lower"]), "rank_upper": int(ranks["upper"]),
                         "tier": str(r.tiers[bulletin.city])},
               "sections": [heading for _, heading in bulletin.numbered()],
               "outputs": {name: hashlib.sha256(blob).hexdigest() for name, blob in sorted(files.items())}}
    files["bulletin.json"] = (json.dumps(summary, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return files
