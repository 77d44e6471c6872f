"""Showing report tables and figures in a notebook."""
from __future__ import annotations

import hashlib

import pandas as pd

from . import plotting


def show_table(df: pd.DataFrame):
    """A table for the notebook: no index column, one decimal for scores."""
    from IPython.display import HTML

    # coefficients (|x| ≤ 1: alpha, KMO …) keep three decimals, scores and percentages one
    fmt = {c: ("{:.3f}" if df[c].abs().max() <= 1 else "{:.1f}") for c in df.columns if pd.api.types.is_float_dtype(df[c])}
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    # the table's id from its content, not pandas' random one: the same report gives the same bytes
    uid = hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()[:12]
    styler = df.style.set_uuid(uid).hide(axis="index").format(fmt).set_table_attributes('class="dataframe"')
    styler = styler.set_properties(subset=text, **{"text-align": "left"})
    return HTML(styler.to_html())


def show_figure(fig):
    from IPython.display import Image

    return Image(data=plotting.figure_png(fig), format="png")
