"""Figures of the report: honest scales, colour-blind-safe colours, Chinese labels that render, and
bytes that do not change from run to run.

:func:`use_cjk_font` finds a font with Chinese glyphs — ``SATISFACTION_CJK_FONT`` (a font file)
if set, else an installed family from :data:`CJK_FAMILIES`, else a CJK font file found on the
system — and makes it matplotlib's default sans-serif font. ``python -m satisfaction.report.plotting
--check-font`` exits non-zero when there is none (``make`` then installs Noto CJK where it can).

Conventions of every chart here: estimates with their 95 % confidence intervals are drawn as dot
plots (a point and a whisker), never as bars cut off above zero, so that lengths are not read as
ratios; colours come from the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies) and meaning is carried by marker shape or a label as well as by colour; every figure has
a title in the report's language, which the page uses as the image's alternative text. Figures are
rendered at 200 dpi (:func:`figure_png`) and as SVG with the glyphs as paths (:func:`figure_svg`).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from functools import lru_cache

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB",
    "Noto Sans CJK JP", "Noto Sans CJK TC",
)
_FILE_HINTS = ("notosanscjk", "notoserifcjk", "notosanssc", "sourcehansans", "wqy", "msyh", "simhei", "pingfang", "droidsansfallback")

#: The Okabe–Ito palette (Okabe & Ito, *Color Universal Design*, 2008): eight colours that stay
#: distinct for readers with protanopia, deuteranopia or tritanopia.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}
#: Colours of the index and of the three first-level indicators.
PALETTE = {"index": OKABE_ITO["blue"], "S": OKABE_ITO["blue"], "E": OKABE_ITO["orange"], "R": OKABE_ITO["bluish_green"]}
#: Marker shapes of the three first-level indicators (so that the legend does not rest on colour).
MARKERS = {"S": "o", "E": "s", "R": "^"}
#: Quadrants in the order concentrate, keep, low, overkill: colour and marker shape of each.
QUADRANT_COLOURS = (OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"], OKABE_ITO["sky_blue"], OKABE_ITO["orange"])
QUADRANT_MARKERS = ("D", "o", "s", "^")
#: Neutral greys (reference lines, secondary text); grey is not a carrier of category.
GREY, LIGHT_GREY, TEXT_GREY = "#999999", "#CCCCCC", "#555555"
#: Figures are laid out at this resolution; :func:`figure_png` renders at 200 dpi by default.
LAYOUT_DPI = 100
_SVG_SALT = "satisfaction"


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """Family name of a font that has Chinese glyphs, registering font files as needed."""
    env = os.environ.get("SATISFACTION_CJK_FONT")
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"SATISFACTION_CJK_FONT={env!r} is not a font file")
        font_manager.fontManager.addfont(env)
        return font_manager.FontProperties(fname=env).get_name()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    # Fonts installed after matplotlib built its cache are not in ttflist yet.
    for path in sorted(font_manager.findSystemFonts()):
        if any(h in os.path.basename(path).lower().replace("-", "").replace("_", "") for h in _FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in installed), None)


def use_cjk_font() -> str:
    """Make a CJK font matplotlib's default; raises ``RuntimeError`` (saying what to install) if none."""
    family = find_cjk_font()
    if family is None:
        raise RuntimeError(
            "no font with Chinese glyphs found: install one (Debian/Ubuntu: apt-get install fonts-noto-cjk) "
            "or point SATISFACTION_CJK_FONT at a .otf/.ttf/.ttc file")
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family


def figure_png(fig: Figure, dpi: int = 200) -> bytes:
    """Render a figure to PNG bytes at ``dpi`` (200 by default: sharp on high-density screens and in
    print). No timestamp or software metadata, so the same figure gives the same bytes.

    Raises ``RuntimeError`` if any character had no glyph in the font: a published figure never
    shows a missing-glyph box.
    """
    return _render(fig, format="png", dpi=dpi, metadata={"Software": None})


def figure_svg(fig: Figure) -> bytes:
    """Render a figure to SVG bytes with every glyph drawn as a path (Chinese shows where the font is
    not installed), no date, and element ids from a fixed salt: the same figure gives the same
    bytes. Raises ``RuntimeError`` like :func:`figure_png`."""
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": _SVG_SALT}):
        return _render(fig, format="svg", metadata={"Date": None})


def _render(fig: Figure, **kwargs) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(buf, **kwargs)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    if missing:
        raise RuntimeError("figure has characters the font cannot draw: " + "; ".join(sorted(set(missing))))
    return buf.getvalue()


def missing_glyphs(text: str, family: str | None = None) -> set[str]:
    """Characters of ``text`` that the font (default: the CJK font in use) cannot draw."""
    from matplotlib.ft2font import FT2Font

    family = family or use_cjk_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    font = FT2Font(path)
    return {ch for ch in set(text) if not ch.isspace() and font.get_char_index(ord(ch)) == 0}


def _new_figure(size: tuple[float, float]) -> Figure:
    """A figure with an Agg canvas (so text can be measured before saving) at the layout dpi."""
    use_cjk_font()
    fig = Figure(figsize=size, dpi=LAYOUT_DPI)
    FigureCanvasAgg(fig)
    return fig


def _tidy(ax, *, left: bool = True) -> None:
    ax.spines[["top", "right"] + ([] if left else ["left"])].set_visible(False)
    ax.tick_params(color=TEXT_GREY)


def _box(bbox, pad: float = 0.0) -> tuple[float, float, float, float]:
    return (bbox.x0 - pad, bbox.y0 - pad, bbox.x1 + pad, bbox.y1 + pad)


def place_labels(ax, x, y, texts, *, fontsize: float = 7.0, obstacles=None, marker_px: float = 4.0,
                 pad_px: float = 1.5, colour: str = "#222222", leader_px: float | None = None) -> list:
    """Write ``texts`` beside the points ``(x, y)`` of ``ax`` so that no two labels overlap, no label
    covers a point or text already in the axes, and every label stays inside the axes.

    A small greedy repel, deterministic: labels are placed in the order given; each goes to the free
    position (on a lattice of label centres over the axes) nearest to its point, preferring the right
    of the point, then its left, then above or below. A label that does not touch its point's marker
    (further than ``leader_px``, default ``marker_px`` + 1.5) gets a thin leader line. ``obstacles``
    are the points ``(x, y)`` that labels must not cover (default: the labelled ones); where the
    axes are too crowded for that, a label may cover another point but never another label. Call it after the figure's layout is final (after
    ``tight_layout`` and with the axis limits set): positions are kept in data coordinates, so they
    hold at any output dpi. Returns the labels (``Text``); leader lines are separate ``Line2D``."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0:
        return []
    points = ax.transData.transform(np.column_stack([x, y]))
    others = points if obstacles is None else ax.transData.transform(np.asarray(obstacles, dtype=float).reshape(-1, 2))
    axbox = ax.get_window_extent(renderer)
    texts_before = [t for t in ax.texts if t.get_visible() and t.get_text()]
    boxes = [_box(t.get_window_extent(renderer)) for t in texts_before]
    marks = np.column_stack([others - marker_px, others + marker_px]) if len(others) else np.empty((0, 4))
    out = []
    for (px, py), text in zip(points, texts):
        probe = ax.text(0, 0, text, fontsize=fontsize, ha="center", va="center")
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width + 2 * pad_px, ext.height + 2 * pad_px
        step = max(1.0, min(w, h) / 5)
        cx = np.arange(axbox.x0 + w / 2, axbox.x1 - w / 2 + 1e-9, step)
        cy = np.arange(axbox.y0 + h / 2, axbox.y1 - h / 2 + 1e-9, step)
        # the four positions touching the point's marker first, so a free spot beside it is exact
        near = np.array([[px + marker_px + w / 2, py], [px - marker_px - w / 2, py],
                         [px, py + marker_px + h / 2], [px, py - marker_px - h / 2]])
        cx, cy = np.meshgrid(cx, cy)
        centres = np.vstack([near, np.column_stack([cx.ravel(), cy.ravel()])])
        inside = ((centres[:, 0] - w / 2 >= axbox.x0 - 1e-6) & (centres[:, 0] + w / 2 <= axbox.x1 + 1e-6)
                  & (centres[:, 1] - h / 2 >= axbox.y0 - 1e-6) & (centres[:, 1] + h / 2 <= axbox.y1 + 1e-6))

        def free(obstacles_: np.ndarray) -> np.ndarray:
            if not len(obstacles_):
                return inside.copy()
            o = obstacles_[None, :, :]
            c = centres[:, None, :]
            hit = ((c[..., 0] + w / 2 > o[..., 0]) & (c[..., 0] - w / 2 < o[..., 2])
                   & (c[..., 1] + h / 2 > o[..., 1]) & (c[..., 1] - h / 2 < o[..., 3]))
            return inside & ~hit.any(axis=1)

        placed = np.array(boxes).reshape(-1, 4)
        ok = free(np.vstack([placed, marks]))
        if not ok.any():      # crowded: labels may then cover other points, never other labels
            ok = free(np.vstack([placed, [[px - marker_px, py - marker_px, px + marker_px, py + marker_px]]]))
        if not ok.any():
            ok = free(placed)
        if not ok.any():
            warnings.warn(f"no free place for the label {text!r}: it may overlap others", stacklevel=2)
            ok = inside if inside.any() else np.ones(len(centres), dtype=bool)
        gap = np.hypot(np.maximum(np.abs(centres[:, 0] - px) - w / 2, 0), np.maximum(np.abs(centres[:, 1] - py) - h / 2, 0))
        cost = gap + 0.6 * (centres[:, 0] < px) + 0.05 * np.abs(centres[:, 1] - py)
        best = int(np.argmin(np.where(ok, cost, np.inf)))
        bx, by = centres[best]
        far = gap[best] > (marker_px + 1.5 if leader_px is None else leader_px)
        to_data = ax.transData.inverted().transform
        label = ax.text(*to_data((bx, by)), text, ha="center", va="center", fontsize=fontsize, color=colour, zorder=4)
        if far:
            # from the marker's edge to the nearest point of the label's box
            ex, ey = np.clip(px, bx - w / 2, bx + w / 2), np.clip(py, by - h / 2, by + h / 2)
            d = np.hypot(ex - px, ey - py)
            sx, sy = px + (ex - px) * marker_px / d, py + (ey - py) * marker_px / d
            (x0, y0), (x1, y1) = to_data((sx, sy)), to_data((ex, ey))
            ax.plot([x0, x1], [y0, y1], color=TEXT_GREY, linewidth=0.6, zorder=2)
        boxes.append((bx - w / 2, by - h / 2, bx + w / 2, by + h / 2))
        out.append(label)
    return out


def spread(values, gap: float, lower: float = -np.inf, upper: float = np.inf) -> np.ndarray:
    """Positions as near as possible (least squares) to ``values``, in the same order, with at least
    ``gap`` between neighbours and inside ``[lower, upper]`` where there is room: for labels at the
    ends of lines, one above another. Runs that would collide are merged into blocks centred on
    their values (the pool-adjacent-violators idea)."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    blocks: list[list] = []          # [first index, count, sum of (value - gap * position in block)]
    for k, value in enumerate(v[order]):
        blocks.append([k, 1, value])
        while True:
            start = _block_start(blocks[-1], gap, lower, upper)
            if len(blocks) < 2 or _block_start(blocks[-2], gap, lower, upper) + blocks[-2][1] * gap <= start + 1e-12:
                break
            first, count, total = blocks.pop(-2)
            _, n2, t2 = blocks[-1]
            blocks[-1] = [first, count + n2, total + t2 - gap * count * n2]
    out = np.empty_like(v)
    for first, count, total in blocks:
        start = _block_start([first, count, total], gap, lower, upper)
        out[order[first:first + count]] = start + gap * np.arange(count)
    return out


def _block_start(block, gap: float, lower: float, upper: float) -> float:
    _, count, total = block
    return float(min(max(total / count, lower), max(lower, upper - gap * (count - 1))))


def _estimate_dots(ax, data: pd.DataFrame, value: str, *, colour: str, label_values=None, value_format=None) -> None:
    """Point estimates (rows of ``data`` from the bottom up) with 95 % CI whiskers where
    ``ci_low``/``ci_high`` exist, and optionally the value written right of the whisker."""
    y = np.arange(len(data))
    has_ci = {"ci_low", "ci_high"} <= set(data.columns)
    if has_ci:
        ax.hlines(y, data["ci_low"], data["ci_high"], color=colour, linewidth=1.4, alpha=0.55, zorder=2)
        ax.plot(np.r_[data["ci_low"], data["ci_high"]], np.r_[y, y], "|", color=colour, markersize=6,
                alpha=0.8, markeredgewidth=1.2, zorder=2)
    ax.plot(data[value], y, "o", color=colour, markersize=6, zorder=3)
    if value_format is not None:
        right = data["ci_high"] if has_ci else data[value]
        span = float(right.max() - (data["ci_low"] if has_ci else data[value]).min()) or 1.0
        for yi, (v, r) in enumerate(zip(data[value], right)):
            ax.text(r + 0.02 * span, yi, value_format(v), va="center", fontsize=9, color="#222222")


def index_bar_chart(scores: pd.DataFrame, *, labels: dict[str, str] | None = None, index_code: str, title: str,
                    xlabel: str, name_column: str = "name", value_format=lambda v: f"{v:.1f}"):
    """The index per city as a dot plot: the estimate as a point with its 95 % confidence interval
    as a whisker (``ci_low``/``ci_high``, when present) and the value written beside it, best at
    the top. Cities differ by a few points on a 0–100 scale, so bars cut off above zero would
    exaggerate the gaps and bars from zero would hide them; points on a scale that is not read as
    length show both the gaps and their uncertainty. (The name is kept for its callers.)"""
    data = scores.sort_values(index_code, kind="stable").reset_index(drop=True)
    fig = _new_figure((7.0, 0.34 * len(data) + 1.3))
    ax = fig.subplots()
    _estimate_dots(ax, data, index_code, colour=PALETTE["index"], value_format=value_format)
    ax.set_yticks(range(len(data)), data[name_column])
    ax.set_ylim(-0.6, len(data) - 0.4)
    lo = float((data["ci_low"] if "ci_low" in data else data[index_code]).min())
    hi = float((data["ci_high"] if "ci_high" in data else data[index_code]).max())
    span = (hi - lo) or 1.0
    ax.set_xlim(lo - 0.05 * span, hi + 0.14 * span)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    _tidy(ax)
    fig.tight_layout()
    return fig


def dimension_chart(scores: pd.DataFrame, *, dimensions: list[str], labels: dict[str, str], title: str,
                    ylabel: str, name_column: str = "name"):
    """The first-level indicator scores per city as a dot plot: one row per city (in the order
    given, the first at the top), one marker per indicator (its own colour and shape), joined by a
    thin line that shows the spread. A dot plot because the scores differ by a few points on a 0–100
    scale (see :func:`index_bar_chart`); ``ylabel`` names the score axis, which runs across."""
    data = scores.iloc[::-1].reset_index(drop=True)
    fig = _new_figure((7.0, 0.34 * len(data) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(data))
    values = data[dimensions].astype(float)
    ax.hlines(y, values.min(axis=1), values.max(axis=1), color=LIGHT_GREY, linewidth=1.2, zorder=1)
    for dim in dimensions:
        ax.plot(values[dim], y, linestyle="", marker=MARKERS.get(dim, "o"), markersize=6.5,
                color=PALETTE.get(dim, OKABE_ITO["black"]), markeredgecolor="white", markeredgewidth=0.5,
                label=labels[dim], zorder=3)
    ax.set_yticks(y, data[name_column])
    ax.set_ylim(-0.6, len(data) - 0.4)
    lo, hi = float(values.min().min()), float(values.max().max())
    span = (hi - lo) or 1.0
    ax.set_xlim(lo - 0.05 * span, hi + 0.05 * span)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(ylabel)
    ax.set_title(title, pad=24)
    ax.legend(ncol=len(dimensions), frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), handletextpad=0.3)
    _tidy(ax)
    fig.tight_layout()
    return fig


def rank_range_chart(ranks: pd.DataFrame, *, title: str, xlabel: str, nominal_label: str, range_label: str,
                     name_column: str = "name"):
    """Each city's rank under the Monte Carlo draws: a band from the 5th to the 95th percentile
    (``p05``/``p95``), a dot at the median and a diamond at the published (nominal) rank; best at
    the top, rank 1 at the right."""
    data = ranks.sort_values("nominal_rank", ascending=False, kind="stable").reset_index(drop=True)
    fig = _new_figure((7.0, 0.34 * len(data) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(data))
    ax.hlines(y, data["p05"], data["p95"], color=OKABE_ITO["sky_blue"], alpha=0.55, linewidth=7, label=range_label, zorder=1)
    ax.plot(data["median_rank"], y, "o", color=OKABE_ITO["black"], markersize=4.5, zorder=3)
    ax.plot(data["nominal_rank"], y, "D", color=OKABE_ITO["vermillion"], markersize=5.5, markeredgecolor="white",
            markeredgewidth=0.6, label=nominal_label, zorder=4)
    ax.set_yticks(y, data[name_column])
    ax.set_ylim(-0.6, len(data) - 0.4)
    n = int(max(data["nominal_rank"].max(), np.nanmax(data["p95"])))
    ax.set_xlim(0.5, n + 0.5)
    ax.set_xticks(range(1, n + 1))
    ax.invert_xaxis()
    ax.grid(axis="x", color="#EEEEEE", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title, pad=24)
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    _tidy(ax)
    fig.tight_layout()
    return fig


def quadrant_limits(ipa: pd.DataFrame, units: list[str], by: str = "city") -> tuple[tuple[float, float], tuple[float, float]]:
    """Shared ``(x, y)`` limits of the importance–performance charts of ``units``: importance (in %)
    from 0, performance over the range of all units, so every panel is read on the same scales."""
    part = ipa[ipa[by].isin(units) & ipa["importance"].notna()]
    if part.empty:
        return (0.0, 1.0), (0.0, 100.0)
    x_max = 100 * float(part["importance"].max()) * 1.08
    lo, hi = float(part["performance"].min()), float(part["performance"].max())
    pad = max(1.0, 0.08 * (hi - lo))
    return (0.0, x_max), (lo - pad, hi + pad)


def _quadrant_axes(ax, part: pd.DataFrame, quadrant_names: list[str], limits, *, size: float) -> None:
    style = {q: (c, m) for q, c, m in zip(quadrant_names, QUADRANT_COLOURS, QUADRANT_MARKERS)}
    ax.axvline(100 * part["importance"].mean(), color=GREY, linewidth=0.8, zorder=1)
    ax.axhline(part["performance"].mean(), color=GREY, linewidth=0.8, zorder=1)
    for q, (c, m) in style.items():
        rows = part[part["quadrant"] == q]
        if len(rows):
            ax.scatter(100 * rows["importance"], rows["performance"], s=size, c=c, marker=m, linewidths=0.4,
                       edgecolors="white", zorder=3)
    (x0, x1), (y0, y1) = limits
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _tidy(ax)


def _label_quadrant(ax, part: pd.DataFrame, which: list[str], fontsize: float) -> None:
    labelled = part[part["quadrant"].isin(which)].sort_values("importance", ascending=False, kind="stable")
    place_labels(ax, 100 * labelled["importance"], labelled["performance"], list(labelled["label"]), fontsize=fontsize,
                 obstacles=np.column_stack([100 * part["importance"], part["performance"]]), marker_px=3.5)


def _quadrant_legend_handles(quadrant_names: list[str]) -> list:
    return [Line2D([], [], marker=m, linestyle="", color=c, markeredgecolor="white", markersize=6, label=q)
            for q, c, m in zip(quadrant_names, QUADRANT_COLOURS, QUADRANT_MARKERS)]


def quadrant_grid(ipa: pd.DataFrame, *, units: list[str], names: dict[str, str], quadrant_names: list[str],
                  title: str, xlabel: str, ylabel: str, by: str = "city", columns: int = 3):
    """Importance–performance charts as small multiples on one page (for print and the figures
    folder): one panel per unit, each second-level indicator a point (importance across,
    performance up), the unit's mean importance and performance as the cross lines. Quadrants
    (``quadrant_names`` in the order concentrate, keep, low, overkill) differ by colour and marker
    shape; the indicators to concentrate on are named, with labels that never overlap. All panels
    share their scales (:func:`quadrant_limits`)."""
    rows = max(1, -(-len(units) // columns))
    fig = _new_figure((7.0, 1.95 * rows + 0.9))
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    limits = quadrant_limits(ipa, units, by)
    parts = {}
    for ax, unit in zip(axes.flat, units):
        parts[unit] = part = ipa[(ipa[by] == unit) & ipa["importance"].notna()]
        _quadrant_axes(ax, part, quadrant_names, limits, size=20)
        ax.set_title(names.get(unit, unit), fontsize=9, pad=3)
        ax.tick_params(labelsize=7)
    for k, ax in enumerate(axes.flat):
        if k >= len(units):
            ax.set_visible(False)
            above = axes.flat[k - columns] if k >= columns else None
            if above is not None and k - columns < len(units):
                above.xaxis.set_tick_params(which="both", labelbottom=True)
                above.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    for ax in axes[-1, :]:
        if ax.get_visible():
            ax.set_xlabel(xlabel, fontsize=8)
    fig.legend(handles=_quadrant_legend_handles(quadrant_names), loc="upper center", ncol=4, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.42 / fig.get_figheight()), fontsize=8, handletextpad=0.2, columnspacing=1.2)
    fig.suptitle(title, y=1 - 0.06 / fig.get_figheight(), va="top", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()), h_pad=0.6, w_pad=0.4)
    # tight_layout keeps clear of the figure legend with a wide margin; room for the panel titles suffices
    fig.subplots_adjust(top=1 - 0.86 / fig.get_figheight())
    for ax, unit in zip(axes.flat, units):
        _label_quadrant(ax, parts[unit], quadrant_names[:1], fontsize=6)
    return fig


def quadrant_panels(ipa: pd.DataFrame, *, units: list[str], names: dict[str, str], quadrant_names: list[str],
                    xlabel: str, ylabel: str, by: str = "city", label: str = "all") -> list:
    """The panels of :func:`quadrant_grid` as separate figures, one per unit and in the order of
    ``units``, with the same axis limits, for a page that lays them out in a grid that wraps on a
    narrow screen. Each figure's title is the unit's name (the image's alternative text); the
    quadrant names are written in the corners (so no legend is needed), and the indicators are
    named — all of them (``label="all"``) or those to concentrate on (``label="concentrate"``)."""
    limits = quadrant_limits(ipa, units, by)
    corners = ((0.98, 0.02, "right", "bottom"), (0.98, 0.98, "right", "top"), (0.02, 0.02, "left", "bottom"),
               (0.02, 0.98, "left", "top"))
    figures = []
    for unit in units:
        part = ipa[(ipa[by] == unit) & ipa["importance"].notna()]
        fig = _new_figure((3.6, 3.3))
        ax = fig.subplots()
        _quadrant_axes(ax, part, quadrant_names, limits, size=24)
        for q, colour, marker, (cx, cy, ha, va) in zip(quadrant_names, QUADRANT_COLOURS, QUADRANT_MARKERS, corners):
            ax.text(cx, cy, q, transform=ax.transAxes, ha=ha, va=va, fontsize=7, color=TEXT_GREY, zorder=2)
        ax.set_title(names.get(unit, unit), fontsize=11)
        ax.set_xlabel(xlabel, fontsize=8.5)
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.tick_params(labelsize=8)
        fig.tight_layout(pad=0.5)
        _label_quadrant(ax, part, list(quadrant_names) if label == "all" else quadrant_names[:1], fontsize=7)
        figures.append(fig)
    return figures


def caterpillar_chart(table: pd.DataFrame, *, title: str, xlabel: str, set_label: str, name_column: str = "name"):
    """League table: each city's score with its 95 % CI as a dot and whisker, best at the top, and
    its rank confidence set ``[lower, upper]`` written at the right (``estimate, ci_low, ci_high,
    lower, upper``)."""
    data = table.sort_values("estimate", kind="stable").reset_index(drop=True)
    fig = _new_figure((7.0, 0.34 * len(data) + 1.4))
    ax = fig.subplots()
    _estimate_dots(ax, data, "estimate", colour=PALETTE["index"])
    y = np.arange(len(data))
    ax.set_yticks(y, data[name_column])
    right = float(data["ci_high"].max())
    span = (right - float(data["ci_low"].min())) or 1.0
    text_x = right + 0.04 * span
    for yi, (lo, hi) in zip(y, zip(data["lower"], data["upper"])):
        ax.text(text_x, yi, f"[{lo}, {hi}]" if lo != hi else f"[{lo}]", va="center", fontsize=8.5, color="#222222")
    ax.text(text_x, len(data) - 0.45, set_label, fontsize=8.5, va="bottom", color=TEXT_GREY)
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.set_xlim(float(data["ci_low"].min()) - 0.05 * span, right + 0.22 * span)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title, pad=14)
    _tidy(ax)
    fig.tight_layout()
    return fig


def slopegraph(previous: pd.Series, current: pd.Series, *, names: dict, years: tuple, title: str,
               changes: pd.Series | None = None, labels: tuple = ("up", "down", "no significant change")):
    """Rank movement between two years: one line per city from last year's rank to this year's
    (rank 1 at the top). The significance of its score change (``changes``: +1, −1, 0) is shown by
    colour and line style: solid blue up, solid vermillion down, dashed grey no significant change."""
    common = previous.index.intersection(current.index)
    n = len(common)
    fig = _new_figure((6.2, 0.34 * n + 1.6))
    ax = fig.subplots()
    style = {1: (OKABE_ITO["blue"], "-"), -1: (OKABE_ITO["vermillion"], "-"), 0: (GREY, "--")}
    for unit in common:
        c = 0 if changes is None else int(changes.get(unit, 0))
        colour, line = style[c]
        ax.plot([0, 1], [previous[unit], current[unit]], linestyle=line, marker="o", color=colour,
                linewidth=1.8 if c else 1, markersize=4)
        ax.text(-0.04, previous[unit], f"{names.get(unit, unit)} {int(previous[unit])}", ha="right", va="center", fontsize=8.5)
        ax.text(1.04, current[unit], f"{int(current[unit])} {names.get(unit, unit)}", ha="left", va="center", fontsize=8.5)
    ax.set_ylim(n + 0.7, 0.3)
    ax.set_xlim(-0.55, 1.55)
    ax.set_xticks([0, 1], [str(years[0]), str(years[1])])
    ax.set_yticks([])
    _tidy(ax, left=False)
    handles = [Line2D([], [], color=style[k][0], linestyle=style[k][1], label=l) for k, l in zip((1, -1, 0), labels)]
    ax.legend(handles=handles, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8)
    ax.set_title(title, pad=24)
    fig.tight_layout()
    return fig


def difference_heatmap(pairs: pd.DataFrame, order: list, *, names: dict, title: str, colorbar_label: str):
    """Pairwise differences (row city minus column city) as a heat map on a diverging blue–red scale
    (ColorBrewer RdBu, safe for the common colour-vision deficiencies); differences that are
    significant with simultaneous 95 % confidence are marked with a dot (outlined, so it shows on
    light and dark cells alike)."""
    idx = {u: i for i, u in enumerate(order)}
    n = len(order)
    diff = np.zeros((n, n))
    sig = np.zeros((n, n), dtype=bool)
    for a, b, d, s in zip(pairs["unit_a"], pairs["unit_b"], pairs["difference"], pairs["significant"]):
        i, j = idx[a], idx[b]
        diff[i, j], diff[j, i] = d, -d
        sig[i, j] = sig[j, i] = s
    fig = _new_figure((0.38 * n + 2.6, 0.38 * n + 1.6))
    ax = fig.subplots()
    lim = float(np.abs(diff).max()) or 1.0
    image = ax.imshow(diff, cmap="RdBu", vmin=-lim, vmax=lim)
    ii, jj = np.nonzero(sig)
    ax.plot(jj, ii, "o", color=OKABE_ITO["black"], markeredgecolor="white", markeredgewidth=0.6, markersize=4)
    labels = [names.get(u, u) for u in order]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label(colorbar_label)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def trend_chart(province: pd.DataFrame, cities: pd.DataFrame, *, names: dict, title: str, ylabel: str,
                province_label: str, by: str = "city"):
    """The provincial index by year with its 95 % confidence band (bold), and each city's index by
    year (thin grey lines, the city named at its last point; names that would collide are moved
    apart, with a short leader to their line)."""
    fig = _new_figure((7.6, 4.6))
    ax = fig.subplots()
    ends = []
    for city, part in cities.groupby(by, sort=False):
        part = part.sort_values("year")
        ax.plot(part["year"], part["estimate"], color="#BBBBBB", linewidth=0.9)
        last = part.iloc[-1]
        ends.append((float(last["year"]), float(last["estimate"]), names.get(city, city)))
    prov = province.sort_values("year")
    ax.fill_between(prov["year"], prov["ci_low"], prov["ci_high"], color=PALETTE["index"], alpha=0.25, linewidth=0)
    ax.plot(prov["year"], prov["estimate"], color=PALETTE["index"], linewidth=2.4, marker="o", label=province_label)
    years = [int(y) for y in prov["year"]]
    ax.set_xticks(years, [str(y) for y in years])
    x_last = max([years[-1]] + [e[0] for e in ends]) if years or ends else 0
    ax.set_xlim(min(years + [int(e[0]) for e in ends]) - 0.25, x_last + 0.75)
    texts = [ax.text(x + 0.22, y, name, fontsize=7, color="#666666", va="center") for x, y, name in ends]
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, loc="lower left")
    _tidy(ax)
    fig.tight_layout()
    if texts:
        renderer = fig.canvas.get_renderer()
        height_px = max(t.get_window_extent(renderer).height for t in texts) + 1.5
        y0, y1 = ax.get_ylim()
        gap = height_px / ax.get_window_extent(renderer).height * (y1 - y0)
        moved = spread([e[1] for e in ends], gap, y0 + gap / 2, y1 - gap / 2)
        for t, (x, y, _), ym in zip(texts, ends, moved):
            t.set_y(ym)
            ax.plot([x + 0.03, x + 0.19], [y, ym], color=LIGHT_GREY, linewidth=0.6)
    return fig


def city_trend_chart(city: pd.DataFrame, province: pd.DataFrame, *, title: str, ylabel: str, city_label: str,
                     province_label: str):
    """One city's index by year against the province's, each with its 95 % confidence band: the
    city a solid line with round markers, the province a dashed line with square markers (told
    apart without colour). ``city``/``province``: ``year, estimate, ci_low, ci_high``."""
    fig = _new_figure((7.0, 2.4))
    ax = fig.subplots()
    for part, colour, style, marker, label in ((province, OKABE_ITO["orange"], "--", "s", province_label),
                                               (city, PALETTE["index"], "-", "o", city_label)):
        part = part.sort_values("year")
        ax.fill_between(part["year"], part["ci_low"], part["ci_high"], color=colour, alpha=0.18, linewidth=0)
        ax.plot(part["year"], part["estimate"], linestyle=style, marker=marker, color=colour, linewidth=2,
                markersize=5, label=label)
    years = sorted({int(y) for y in pd.concat([city["year"], province["year"]])})
    ax.set_xticks(years, [str(y) for y in years])
    ax.set_xlim(years[0] - 0.3, years[-1] + 0.3)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, loc="best", fontsize=8)
    _tidy(ax)
    fig.tight_layout()
    return fig


def difference_chart(rows: pd.DataFrame, *, title: str, xlabel: str, position_labels: dict[str, str]):
    """Differences from the provincial value with their 95 % intervals, one row per indicator
    (``label, difference, ci_low, ci_high, position``; the first row at the top), a line at zero.
    Rows whose Holm-adjusted difference is significant are drawn filled in the colour of their side
    (``position`` "above": bluish green, "below": vermillion), the others hollow grey; the legend
    names the three (``position_labels``)."""
    colours = {"above": OKABE_ITO["bluish_green"], "below": OKABE_ITO["vermillion"], "none": TEXT_GREY}
    markers = {"above": "^", "below": "v", "none": "o"}
    data = rows.iloc[::-1].reset_index(drop=True)
    fig = _new_figure((7.0, 0.17 * len(data) + 1.1))
    ax = fig.subplots()
    y = np.arange(len(data))
    ax.axvline(0, color=TEXT_GREY, linewidth=1.3, zorder=1)      # the provincial value: darker than the grid
    for position in ("none", "below", "above"):
        sel = (data["position"] == position).to_numpy()
        if not sel.any():
            continue
        part = data[sel]
        ax.hlines(y[sel], part["ci_low"], part["ci_high"], color=colours[position], linewidth=1.4, alpha=0.7, zorder=2)
        ax.plot(part["difference"], y[sel], markers[position], color=colours[position], markersize=6, zorder=3,
                markerfacecolor=colours[position] if position != "none" else "white", label=position_labels[position])
    ax.set_yticks(y, data["label"])
    ax.set_ylim(-0.6, len(data) - 0.4)
    reach = float(np.nanmax(np.abs(np.r_[data["ci_low"], data["ci_high"]]))) or 1.0
    ax.set_xlim(-1.08 * reach, 1.08 * reach)
    ax.grid(axis="x", color="#E5E5E5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.09 - 0.9 / (len(data) + 4)), ncol=3,
              fontsize=8)
    _tidy(ax)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m satisfaction.report.plotting",
                                     description="Check that a font with Chinese glyphs is available for figures.")
    parser.add_argument("--check-font", action="store_true", help="exit 1 when no CJK font is found")
    parser.parse_args(argv)
    family = find_cjk_font()
    if family is None:
        print("no CJK font found", file=sys.stderr)
        return 1
    print(f"CJK font: {family}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
