"""Figures: 200 dpi PNG and SVG with the same bytes on every run, no bar cut off above zero,
Okabe–Ito colours, importance–performance labels that never overlap, and one figure per city with
shared scales for pages that reflow."""
from __future__ import annotations

import io
import itertools
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from satisfaction.drivers import QUADRANTS, importance_performance
from satisfaction.report import plotting
from satisfaction.report.sections.base import Figure as FigureBlock

NAMES = ["南宁", "柳州", "桂林", "梧州", "北海", "防城港", "钦州", "贵港", "玉林", "百色"]
QUADRANT_NAMES = [QUADRANTS["zh"][k] for k in ("concentrate", "keep", "low", "overkill")]


# ---- small, fixed inputs for every chart -----------------------------------------------------------
def scores() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    est = np.sort(rng.uniform(71, 78, len(NAMES)))[::-1]
    se = rng.uniform(0.6, 1.0, len(NAMES))
    return pd.DataFrame({"city": [f"45{i:02d}00" for i in range(len(NAMES))], "name": NAMES, "CSI": est,
                         "ci_low": est - 1.96 * se, "ci_high": est + 1.96 * se,
                         "S": est + 2, "E": est - 0.5, "R": est - 3})


def all_charts() -> dict[str, Figure]:
    s = scores()
    n = len(s)
    ranks = pd.DataFrame({"name": NAMES, "nominal_rank": np.arange(1, n + 1), "median_rank": np.arange(1, n + 1),
                          "p05": np.maximum(np.arange(1, n + 1) - 2, 1), "p95": np.minimum(np.arange(1, n + 1) + 3, n)})
    cat = pd.DataFrame({"name": NAMES, "estimate": s["CSI"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                        "lower": np.maximum(np.arange(1, n + 1) - 3, 1), "upper": np.minimum(np.arange(1, n + 1) + 3, n)})
    pairs = pd.DataFrame([(a, b, s.CSI[i] - s.CSI[j], abs(s.CSI[i] - s.CSI[j]) > 3)
                          for (i, a), (j, b) in itertools.combinations(enumerate(s.city), 2)],
                         columns=["unit_a", "unit_b", "difference", "significant"])
    years = np.arange(2019, 2025)
    province = pd.DataFrame({"year": years, "estimate": 70 + 0.8 * np.arange(6)})
    province["ci_low"], province["ci_high"] = province["estimate"] - 0.6, province["estimate"] + 0.6
    cities = pd.DataFrame([(y, c, 70 + 0.5 * k + 0.03 * i) for k, y in enumerate(years) for i, c in enumerate(s.city)],
                          columns=["year", "city", "estimate"])
    names = dict(zip(s.city, s.name))
    ipa = demo_free_ipa()
    units = list(dict.fromkeys(ipa["city"]))
    prev = pd.Series(np.arange(1, n + 1), index=s.city)
    return {
        "index": plotting.index_bar_chart(s, index_code="CSI", title="各城市消费者满意度指数", xlabel="指数（0–100）"),
        "dimensions": plotting.dimension_chart(s, dimensions=["S", "E", "R"], labels={"S": "消费供给", "E": "消费环境", "R": "消费维权"},
                                               title="各城市三个维度得分", ylabel="得分（0–100）"),
        "ranks": plotting.rank_range_chart(ranks, title="名次的不确定性", xlabel="名次", nominal_label="公布名次", range_label="范围"),
        "caterpillar": plotting.caterpillar_chart(cat, title="排名置信集", xlabel="指数", set_label="排名置信集"),
        "slope": plotting.slopegraph(prev, prev[::-1].set_axis(prev.index), names=names, years=(2023, 2024), title="名次变化",
                                     changes=pd.Series([1, -1, 0] * 3 + [0], index=s.city), labels=("上升", "下降", "无显著变化")),
        "heatmap": plotting.difference_heatmap(pairs, list(s.city), names=names, title="城市间差值", colorbar_label="差值"),
        "trend": plotting.trend_chart(province, cities, names=names, title="指数变化", ylabel="指数", province_label="全区"),
        "quadrants": plotting.quadrant_grid(ipa, units=units, names=names, quadrant_names=QUADRANT_NAMES,
                                            title="重要性—表现分析", xlabel="重要性（%）", ylabel="表现（0–100）"),
    }


def demo_free_ipa(cities: int = 4, points: int = 12, seed: int = 3) -> pd.DataFrame:
    """An importance–performance table of the shape ``importance_performance`` returns."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(cities):
        imp, perf = rng.dirichlet(np.ones(points)), rng.uniform(68, 80, points)
        for k in range(points):
            rows.append((f"45{c:02d}00", f"X{k}", f"指标{k}", imp[k], perf[k]))
    d = pd.DataFrame(rows, columns=["city", "indicator", "label", "importance", "performance"])
    return d.assign(quadrant=quadrants_of(d))


def quadrants_of(d: pd.DataFrame) -> list[str]:
    mi = d.groupby("city")["importance"].transform("mean")
    mp = d.groupby("city")["performance"].transform("mean")
    hi_i, hi_p = d["importance"] >= mi, d["performance"] >= mp
    return [QUADRANT_NAMES[0] if i and not p else QUADRANT_NAMES[1] if i else QUADRANT_NAMES[3] if p else QUADRANT_NAMES[2]
            for i, p in zip(hi_i, hi_p)]


# ---- checks on figures ----------------------------------------------------------------------------
def truncated_bars(fig: Figure) -> list[str]:
    """Bars whose base is not zero or whose value axis does not reach zero (lengths then lie)."""
    found = []
    for ax in fig.axes:
        for container in ax.containers:
            if not isinstance(container, BarContainer):
                continue
            horizontal = container.orientation == "horizontal"
            lo, hi = ax.get_xlim() if horizontal else ax.get_ylim()
            if not min(lo, hi) <= 0 <= max(lo, hi):
                found.append(f"{ax.get_title()}: value axis {lo:.1f}–{hi:.1f} leaves out zero")
            for bar in container.patches:
                base = bar.get_x() if horizontal else bar.get_y()
                if abs(base) > 1e-9:
                    found.append(f"{ax.get_title()}: bar starts at {base}")
    return found


def label_overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts in the same axes whose drawn bounding boxes overlap."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent() for t in texts]
        for (a, ba), (b, bb) in itertools.combinations(zip(texts, boxes), 2):
            if ba.overlaps(bb):
                out.append((a.get_text(), b.get_text()))
    return out


def artist_colours(fig: Figure) -> set[tuple[float, float, float]]:
    """RGB of every line, marker, collection and patch drawn in the figure's axes (not colour-mapped
    images and meshes, not the axes and legend backgrounds)."""
    found = []
    for ax in fig.axes:
        for line in ax.lines:
            found += [line.get_color(), line.get_markerfacecolor(), line.get_markeredgecolor()]
        for coll in ax.collections:
            if coll.get_array() is not None:          # colour-mapped (the heat map's colour bar)
                continue
            found += list(coll.get_facecolor()) + list(coll.get_edgecolor())
        for patch in ax.patches:
            found += [patch.get_facecolor()]
    rgb = set()
    for c in found:
        if isinstance(c, str) and c.lower() == "none":
            continue
        rgba = mcolors.to_rgba(c)
        if rgba[3] > 0:
            rgb.add(tuple(round(v, 3) for v in rgba[:3]))
    return rgb


def colour_blind_safe(rgb: tuple[float, float, float]) -> bool:
    okabe = {tuple(round(v, 3) for v in mcolors.to_rgb(c)) for c in plotting.OKABE_ITO.values()}
    return rgb in okabe or max(rgb) - min(rgb) < 1e-3        # or a grey


def title_of(fig: Figure) -> str:
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return sup or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")


@pytest.fixture(scope="module")
def charts():
    return all_charts()


# ---- output formats ------------------------------------------------------------------------------
def test_png_is_200_dpi_and_the_same_bytes_on_every_render(charts):
    from PIL import Image

    png = plotting.figure_png(charts["index"])
    assert png == plotting.figure_png(charts["index"])
    assert png == plotting.figure_png(all_charts()["index"])       # a figure built again, too
    dpi = Image.open(io.BytesIO(png)).info["dpi"]
    assert dpi == pytest.approx((200, 200), abs=0.01)
    assert b"tIME" not in png and b"tEXt" not in png
    assert Image.open(io.BytesIO(plotting.figure_png(charts["index"], dpi=100))).size[0] * 2 == Image.open(io.BytesIO(png)).size[0]


def test_svg_is_well_formed_deterministic_and_needs_no_font(charts):
    svg = plotting.figure_svg(charts["quadrants"])
    assert svg == plotting.figure_svg(charts["quadrants"])
    assert svg == plotting.figure_svg(all_charts()["quadrants"])
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert not [e for e in root.iter() if e.tag.split("}")[-1] == "text"]
    assert b"<dc:date>" not in svg
    # the glyphs are there as paths, drawn by reference (the characters appear only in comments)
    paths = {e.get("id") for e in root.iter() if e.tag.split("}")[-1] == "path" and e.get("id")}
    text_groups = [g for g in root.iter() if g.tag.split("}")[-1] == "g" and (g.get("id") or "").startswith("text_")]
    refs = [u.get("{http://www.w3.org/1999/xlink}href") for g in text_groups for u in g.iter() if u.tag.split("}")[-1] == "use"]
    assert len(refs) > 50 and all(r.lstrip("#") in paths for r in refs)


def test_svg_refuses_a_missing_glyph():
    plotting.use_cjk_font()
    fig = Figure()
    fig.subplots().set_title("\U0001F600")
    with pytest.raises(RuntimeError, match="cannot draw"):
        plotting.figure_svg(fig)


# ---- honest scales, safe colours, titles ---------------------------------------------------------------
def test_no_chart_has_bars_cut_off_above_zero(charts):
    for name, fig in charts.items():
        assert truncated_bars(fig) == [], name


def test_the_bar_check_finds_a_truncated_axis():
    fig = Figure()
    ax = fig.subplots()
    ax.barh(["a", "b"], [77.1, 71.7])
    assert truncated_bars(fig) == []
    ax.set_xlim(64, 80)
    assert truncated_bars(fig)


def test_palette_is_okabe_ito(charts):
    okabe = {c.upper() for c in plotting.OKABE_ITO.values()}
    assert {c.upper() for c in plotting.PALETTE.values()} <= okabe
    assert {c.upper() for c in plotting.QUADRANT_COLOURS} <= okabe
    assert len(set(plotting.QUADRANT_MARKERS)) == 4                 # shapes as well as colours
    for name, fig in charts.items():
        bad = [c for c in artist_colours(fig) if not colour_blind_safe(c)]
        assert not bad, (name, bad)
    assert charts["heatmap"].axes[0].images[0].get_cmap().name == "RdBu"   # ColorBrewer's colour-blind-safe diverging scale


def test_the_colour_check_finds_an_unsafe_colour():
    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1], color="#d62728")
    assert not all(colour_blind_safe(c) for c in artist_colours(fig))


def test_every_figure_has_a_title(charts):
    for name, fig in charts.items():
        assert title_of(fig), name


def test_city_names_at_the_ends_of_trend_lines_do_not_collide(charts):
    assert label_overlaps(charts["trend"]) == []


def test_spread_keeps_order_gap_and_bounds():
    values = [5.0, 5.01, 4.99, 9.0, 5.02, 0.1]
    out = plotting.spread(values, 0.5, lower=0.0, upper=10.0)
    assert list(np.argsort(out, kind="stable")) == list(np.argsort(values, kind="stable"))
    assert np.diff(np.sort(out)).min() >= 0.5 - 1e-9
    assert out.min() >= 0.0 and out.max() <= 10.0
    assert out[3] == 9.0                                             # a free label stays where it is
    assert plotting.spread([1.0, 2.0], 0.5).tolist() == [1.0, 2.0]


# ---- importance–performance labels and panels -----------------------------------------------------
@pytest.fixture(scope="module")
def demo_ipa(survey_2024, codebook):
    d = importance_performance(survey_2024.data, codebook, by="city", lang="zh")
    return d[d["importance"].notna()]


def test_quadrant_labels_do_not_overlap_on_the_demo_data(demo_ipa, codebook):
    units = list(dict.fromkeys(demo_ipa["city"]))
    names = {c: codebook.cities[c].zh for c in units}
    grid = plotting.quadrant_grid(demo_ipa, units=units, names=names, quadrant_names=QUADRANT_NAMES,
                                  title="重要性—表现分析", xlabel="重要性（%）", ylabel="表现（0–100）")
    labelled = sum(len(ax.texts) for ax in grid.axes)
    assert labelled == (demo_ipa["quadrant"] == QUADRANT_NAMES[0]).sum()
    assert label_overlaps(grid) == []
    panels = plotting.quadrant_panels(demo_ipa, units=units, names=names, quadrant_names=QUADRANT_NAMES,
                                      xlabel="重要性（%）", ylabel="表现（0–100）")
    for unit, fig in zip(units, panels):
        assert label_overlaps(fig) == [], names[unit]
        # every indicator named, plus the four quadrant names in the corners
        assert len(fig.axes[0].texts) == (demo_ipa["city"] == unit).sum() + 4


def worst_case(points: int = 16) -> pd.DataFrame:
    """Many indicators, all to concentrate on, at nearly the same place, with long names."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"city": "450100", "indicator": [f"X{k}" for k in range(points)],
                      "label": [f"消费者权益保护{k}" for k in range(points)],
                      "importance": 0.10 + rng.normal(0, 1e-4, points), "performance": 72 + rng.normal(0, 0.01, points)})
    other = pd.DataFrame({"city": "450200", "indicator": ["Y0", "Y1"], "label": ["甲", "乙"], "importance": [0.0, 0.2],
                          "performance": [60.0, 85.0]})
    d = pd.concat([d, other], ignore_index=True)
    return d.assign(quadrant=QUADRANT_NAMES[0])


def test_quadrant_labels_do_not_overlap_in_the_worst_case():
    d = worst_case()
    grid = plotting.quadrant_grid(d, units=["450100", "450200"], names={}, quadrant_names=QUADRANT_NAMES,
                                  title="重要性—表现分析", xlabel="重要性（%）", ylabel="表现（0–100）")
    assert sum(len(ax.texts) for ax in grid.axes) == len(d)
    assert label_overlaps(grid) == []
    panel = plotting.quadrant_panels(d, units=["450100"], names={"450100": "南宁"}, quadrant_names=QUADRANT_NAMES,
                                     xlabel="重要性（%）", ylabel="表现（0–100）")[0]
    assert len(panel.axes[0].texts) == 16 + 4
    assert label_overlaps(panel) == []
    # displaced labels are tied to their point by a leader line
    assert len(panel.axes[0].lines) - 2 >= 8                         # beside the two cross lines


def test_labels_stay_apart_at_the_published_resolution():
    """Labels are placed at the layout dpi; rendered at 200 dpi they must still not overlap."""
    panel = plotting.quadrant_panels(worst_case(), units=["450100"], names={"450100": "南宁"}, quadrant_names=QUADRANT_NAMES,
                                     xlabel="x", ylabel="y")[0]
    plotting.figure_png(panel, dpi=200)
    panel.set_dpi(200)
    assert label_overlaps(panel) == []


def test_one_panel_per_city_with_shared_scales_and_titles(demo_ipa, codebook):
    units = list(dict.fromkeys(demo_ipa["city"]))[::-1]
    names = {c: codebook.cities[c].zh for c in units}
    panels = plotting.quadrant_panels(demo_ipa, units=units, names=names, quadrant_names=QUADRANT_NAMES,
                                      xlabel="重要性（%）", ylabel="表现（0–100）")
    assert len(panels) == len(units)
    assert [title_of(p) for p in panels] == [names[c] for c in units]
    assert len({p.axes[0].get_xlim() for p in panels}) == 1 and len({p.axes[0].get_ylim() for p in panels}) == 1
    assert panels[0].axes[0].get_xlim()[0] == 0                     # importance from zero
    (_, x1), (y0, y1) = panels[0].axes[0].get_xlim(), panels[0].axes[0].get_ylim()
    assert x1 >= 100 * demo_ipa["importance"].max() and y0 <= demo_ipa["performance"].min() <= demo_ipa["performance"].max() <= y1
    # the grid uses the same scales
    grid = plotting.quadrant_grid(demo_ipa, units=units, names=names, quadrant_names=QUADRANT_NAMES, title="t",
                                  xlabel="x", ylabel="y")
    assert grid.axes[0].get_xlim() == panels[0].axes[0].get_xlim()
    assert grid.axes[0].get_ylim() == panels[0].axes[0].get_ylim()


def test_figure_block_carries_panels():
    assert FigureBlock("k", None).panels == []
    assert FigureBlock("k", None, panels=[1, 2]).panels == [1, 2]
