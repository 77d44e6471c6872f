"""Showing the report's blocks (markdown, tables with their note, figures) in a notebook."""
from __future__ import annotations

import hashlib

import pandas as pd

from . import plotting
from .sections.base import Figure, Markdown, Table


def show_table(df: pd.DataFrame):
    """A table for the notebook: no index column; text left-aligned, numbers right-aligned.
    Values arrive formatted (rounded once, by :mod:`satisfaction.report.fmt`); floats that did not
    keep three decimals when |x| ≤ 1 and one otherwise."""
    from IPython.display import HTML

    fmt = {c: ("{:.3f}" if df[c].abs().max() <= 1 else "{:.1f}") for c in df.columns if pd.api.types.is_float_dtype(df[c])}
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    # the table's id from its content, not pandas' random one: the same report gives the same bytes
    uid = hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()[:12]
    styler = df.style.set_uuid(uid).hide(axis="index").format(fmt).set_table_attributes('class="dataframe"')
    styler = styler.set_properties(subset=text[:1], **{"text-align": "left"})
    return HTML(styler.to_html())


def show_figure(fig):
    """The figure as an embedded PNG with its title as alternative text (screen readers, and a
    description where the image cannot be shown)."""
    import base64
    import html

    from IPython.display import HTML

    titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    titles += [ax.get_title() for ax in fig.axes if ax.get_title()]
    alt = html.escape(titles[0] if titles else "", quote=True)
    data = base64.b64encode(plotting.figure_png(fig)).decode("ascii")
    return HTML(f'<img alt="{alt}" style="max-width:100%;height:auto" src="data:image/png;base64,{data}"/>')


def show_section(report, key: str) -> None:
    """Display one section of the report (nothing when the report has no such section this year)."""
    from IPython.display import Markdown as MD
    from IPython.display import display

    if key not in {s.key for s in report.sections}:
        return
    for block in report.render(key):
        if isinstance(block, Markdown):
            display(MD(block.text))
        elif isinstance(block, Table):
            display(show_table(block.display))
            if block.note:
                display(MD(f"<small>{block.note}</small>"))
        elif isinstance(block, Figure):
            display(show_figure(block.figure))
