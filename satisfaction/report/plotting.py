"""Figures, with Chinese labels that render (no missing-glyph boxes).

:func:`use_cjk_font` finds a font with Chinese glyphs — ``SATISFACTION_CJK_FONT`` (a font file)
if set, else an installed family from :data:`CJK_FAMILIES`, else a CJK font file found on the
system — and makes it matplotlib's default sans-serif font. ``python -m satisfaction.report.plotting
--check-font`` exits non-zero when there is none (``make`` then installs Noto CJK where it can).
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import lru_cache

import io
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB",
    "Noto Sans CJK JP", "Noto Sans CJK TC",
)
_FILE_HINTS = ("notosanscjk", "notoserifcjk", "notosanssc", "sourcehansans", "wqy", "msyh", "simhei", "pingfang", "droidsansfallback")
#: Colours of the three first-level indicators and of the index.
PALETTE = {"index": "#1f4e79", "S": "#2e86ab", "E": "#59a96a", "R": "#e07a5f"}


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


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes (no timestamp, so the same figure gives the same bytes).

    Raises ``RuntimeError`` if any character had no glyph in the font: a published figure never
    shows a missing-glyph box.
    """
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(buf, format="png", metadata={"Software": None})
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


def index_bar_chart(scores: pd.DataFrame, *, labels: dict[str, str], index_code: str, title: str,
                    xlabel: str, name_column: str = "name", value_format=lambda v: f"{v:.1f}"):
    """Horizontal bars of the index per city, best at the top, with the value printed at each bar
    and, where ``ci_low``/``ci_high`` columns exist, the 95 % confidence interval as error bars."""
    use_cjk_font()
    data = scores.sort_values(index_code)
    fig = Figure(figsize=(7.5, 0.38 * len(data) + 1.4), dpi=110)
    ax = fig.subplots()
    has_ci = {"ci_low", "ci_high"} <= set(data.columns)
    xerr = [data[index_code] - data["ci_low"], data["ci_high"] - data[index_code]] if has_ci else None
    ax.barh(data[name_column], data[index_code], color=PALETTE["index"], height=0.65, xerr=xerr,
            error_kw={"ecolor": "#555555", "capsize": 2.5, "elinewidth": 1})
    right = data["ci_high"] if has_ci else data[index_code]
    for y, (v, r) in enumerate(zip(data[index_code], right)):
        ax.text(r + 0.3, y, value_format(v), va="center", fontsize=9)
    lo = max(0.0, float((data["ci_low"] if has_ci else data[index_code]).min()) - 6)
    ax.set_xlim(lo, min(100.0, float(right.max()) + 3))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def dimension_chart(scores: pd.DataFrame, *, dimensions: list[str], labels: dict[str, str], title: str,
                    ylabel: str, name_column: str = "name"):
    """Grouped bars of the first-level indicator scores per city, cities in rank order."""
    use_cjk_font()
    fig = Figure(figsize=(10, 4.2), dpi=110)
    ax = fig.subplots()
    width = 0.8 / len(dimensions)
    x = range(len(scores))
    for k, dim in enumerate(dimensions):
        ax.bar([i + (k - (len(dimensions) - 1) / 2) * width for i in x], scores[dim], width=width,
               color=PALETTE.get(dim, None), label=labels[dim])
    ax.set_xticks(list(x), scores[name_column], rotation=0)
    lo = max(0.0, float(scores[dimensions].min().min()) - 8)
    ax.set_ylim(lo, min(100.0, float(scores[dimensions].max().max()) + 4))
    ax.set_ylabel(ylabel)
    ax.set_title(title, pad=28)
    ax.legend(ncol=len(dimensions), frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def rank_range_chart(ranks: pd.DataFrame, *, title: str, xlabel: str, nominal_label: str, range_label: str,
                     name_column: str = "name"):
    """Each city's rank under the Monte Carlo draws: a bar from the 5th to the 95th percentile, a
    dot at the median and a diamond at the published (nominal) rank; best at the top."""
    use_cjk_font()
    data = ranks.sort_values("nominal_rank", ascending=False)
    fig = Figure(figsize=(7.5, 0.38 * len(data) + 1.6), dpi=110)
    ax = fig.subplots()
    y = range(len(data))
    ax.hlines(list(y), data["p05"], data["p95"], color="#9ecae1", linewidth=7, label=range_label)
    ax.plot(data["median_rank"], list(y), "o", color=PALETTE["index"], markersize=5)
    ax.plot(data["nominal_rank"], list(y), "D", color="#d62728", markersize=5, label=nominal_label)
    ax.set_yticks(list(y), data[name_column])
    n = int(data["nominal_rank"].max())
    ax.set_xlim(0.5, n + 0.5)
    ax.set_xticks(range(1, n + 1))
    ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, pad=26)
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


QUADRANT_COLOURS = ("#d62728", "#2ca02c", "#7f7f7f", "#ff7f0e")  # concentrate, keep, low, overkill


def quadrant_grid(ipa: pd.DataFrame, *, units: list[str], names: dict[str, str], quadrant_names: list[str],
                  title: str, xlabel: str, ylabel: str, by: str = "city", columns: int = 4):
    """Importance–performance charts, one panel per unit: each second-level indicator as a point
    (importance across, performance up), the unit's mean importance and performance as the cross
    lines, coloured by quadrant (``quadrant_names`` in the order concentrate, keep, low, overkill)."""
    use_cjk_font()
    rows = -(-len(units) // columns)
    fig = Figure(figsize=(3.1 * columns, 2.7 * rows + 0.9), dpi=100)
    axes = fig.subplots(rows, columns, squeeze=False)
    colour = dict(zip(quadrant_names, QUADRANT_COLOURS))
    x_max = 100 * float(ipa["importance"].max()) * 1.1
    y_lo, y_hi = float(ipa["performance"].min()) - 2, float(ipa["performance"].max()) + 2
    for ax, unit in zip(axes.flat, units):
        part = ipa[ipa[by] == unit]
        ax.scatter(100 * part["importance"], part["performance"], s=18, c=[colour[q] for q in part["quadrant"]])
        ax.axvline(100 * part["importance"].mean(), color="#999999", linewidth=0.8)
        ax.axhline(part["performance"].mean(), color="#999999", linewidth=0.8)
        for _, row in part[part["quadrant"] == quadrant_names[0]].iterrows():
            ax.annotate(row["label"], (100 * row["importance"], row["performance"]), fontsize=6.5,
                        xytext=(3, -3), textcoords="offset points")
        ax.set_title(names.get(unit, unit), fontsize=10)
        ax.set_xlim(0, x_max)
        ax.set_ylim(y_lo, y_hi)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(units):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel(xlabel, fontsize=8)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=q) for q, c in colour.items()]
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 0.985))
    fig.suptitle(title, y=0.999, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def caterpillar_chart(table: pd.DataFrame, *, title: str, xlabel: str, set_label: str, name_column: str = "name"):
    """League table: each city's score with its 95 % CI, best at the top, and its rank confidence
    set ``[lower, upper]`` written at the right (``estimate, ci_low, ci_high, lower, upper``)."""
    use_cjk_font()
    data = table.sort_values("estimate")
    fig = Figure(figsize=(8, 0.4 * len(data) + 1.5), dpi=110)
    ax = fig.subplots()
    y = list(range(len(data)))
    ax.hlines(y, data["ci_low"], data["ci_high"], color="#9ecae1", linewidth=4)
    ax.plot(data["estimate"], y, "o", color=PALETTE["index"], markersize=5)
    ax.set_yticks(y, data[name_column])
    right = float(data["ci_high"].max())
    span = right - float(data["ci_low"].min())
    for yi, (lo, hi) in zip(y, zip(data["lower"], data["upper"])):
        ax.text(right + 0.04 * span, yi, f"[{lo}, {hi}]" if lo != hi else f"[{lo}]", va="center", fontsize=8.5)
    ax.text(right + 0.04 * span, len(data) - 0.3, set_label, fontsize=8.5, va="bottom", color="#555555")
    ax.set_xlim(float(data["ci_low"].min()) - 0.05 * span, right + 0.22 * span)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def slopegraph(previous: pd.Series, current: pd.Series, *, names: dict, years: tuple, title: str,
               changes: pd.Series | None = None, labels: tuple = ("up", "down", "no significant change")):
    """Rank movement between two years: one line per city from last year's rank to this year's
    (rank 1 at the top), coloured by the significance of its score change (``changes``: +1, −1, 0)."""
    use_cjk_font()
    common = previous.index.intersection(current.index)
    n = len(common)
    fig = Figure(figsize=(6.2, 0.36 * n + 1.6), dpi=110)
    ax = fig.subplots()
    colour = {1: "#2ca02c", -1: "#d62728", 0: "#9e9e9e"}
    for unit in common:
        c = 0 if changes is None else int(changes.get(unit, 0))
        ax.plot([0, 1], [previous[unit], current[unit]], "-o", color=colour[c], linewidth=1.6 if c else 1, markersize=4)
        ax.text(-0.04, previous[unit], f"{names.get(unit, unit)} {int(previous[unit])}", ha="right", va="center", fontsize=8.5)
        ax.text(1.04, current[unit], f"{int(current[unit])} {names.get(unit, unit)}", ha="left", va="center", fontsize=8.5)
    ax.set_ylim(n + 0.7, 0.3)
    ax.set_xlim(-0.55, 1.55)
    ax.set_xticks([0, 1], [str(years[0]), str(years[1])])
    ax.set_yticks([])
    ax.spines[["top", "right", "left"]].set_visible(False)
    handles = [Line2D([], [], color=colour[k], label=l) for k, l in zip((1, -1, 0), labels)]
    ax.legend(handles=handles, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8)
    ax.set_title(title, pad=24)
    fig.tight_layout()
    return fig


def difference_heatmap(pairs: pd.DataFrame, order: list, *, names: dict, title: str, colorbar_label: str):
    """Pairwise differences (row city minus column city) as a heat map; differences that are
    significant with simultaneous 95 % confidence are marked with a dot."""
    use_cjk_font()
    idx = {u: i for i, u in enumerate(order)}
    n = len(order)
    diff = np.zeros((n, n))
    sig = np.zeros((n, n), dtype=bool)
    for a, b, d, s in zip(pairs["unit_a"], pairs["unit_b"], pairs["difference"], pairs["significant"]):
        i, j = idx[a], idx[b]
        diff[i, j], diff[j, i] = d, -d
        sig[i, j] = sig[j, i] = s
    fig = Figure(figsize=(0.42 * n + 2.6, 0.42 * n + 1.6), dpi=110)
    ax = fig.subplots()
    lim = float(np.abs(diff).max()) or 1.0
    image = ax.imshow(diff, cmap="RdBu", vmin=-lim, vmax=lim)
    ii, jj = np.nonzero(sig)
    ax.plot(jj, ii, ".", color="black", markersize=3.5)
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
    year (thin grey lines, the city named at its last point)."""
    use_cjk_font()
    fig = Figure(figsize=(8.5, 4.6), dpi=110)
    ax = fig.subplots()
    for city, part in cities.groupby(by, sort=False):
        part = part.sort_values("year")
        ax.plot(part["year"], part["estimate"], color="#bbbbbb", linewidth=0.9)
        last = part.iloc[-1]
        ax.text(last["year"] + 0.08, last["estimate"], names.get(city, city), fontsize=7, color="#777777", va="center")
    prov = province.sort_values("year")
    ax.fill_between(prov["year"], prov["ci_low"], prov["ci_high"], color=PALETTE["index"], alpha=0.25, linewidth=0)
    ax.plot(prov["year"], prov["estimate"], color=PALETTE["index"], linewidth=2.4, marker="o", label=province_label)
    ax.set_xticks(list(prov["year"]), [str(int(y)) for y in prov["year"]])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, loc="lower left")
    ax.spines[["top", "right"]].set_visible(False)
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
