"""Showing the report's blocks (markdown, tables with their note, figures) in a notebook.

One function, :func:`block_outputs`, turns a section's blocks into notebook display outputs (mime
bundles). The notebook shows them with :func:`show_section`; :func:`report_notebook` puts the same
outputs of every section into a notebook that the HTML page and the PDF are rendered from, so what a
reader sees in JupyterLab, in the page and on paper is one rendering.
"""
from __future__ import annotations

import base64
import hashlib
import html
import weakref

import pandas as pd

from . import plotting
from .sections.base import Figure, Markdown, Table


def show_table(df: pd.DataFrame):
    """A table for the notebook: no index column; text left-aligned, numbers right-aligned.
    Values arrive formatted (rounded once, by :mod:`satisfaction.report.fmt`); floats that did not
    keep three decimals when |x| ≤ 1 and one otherwise."""
    from IPython.display import HTML

    return HTML(table_html(df))


def table_html(df: pd.DataFrame) -> str:
    fmt = {c: ("{:.3f}" if df[c].abs().max() <= 1 else "{:.1f}") for c in df.columns if pd.api.types.is_float_dtype(df[c])}
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    # the table's id from its content, not pandas' random one: the same report gives the same bytes
    uid = hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()[:12]
    styler = df.style.set_uuid(uid).hide(axis="index").format(fmt).set_table_attributes('class="dataframe"')
    styler = styler.set_properties(subset=text[:1], **{"text-align": "left"})
    return styler.to_html()


def figure_title(fig) -> str:
    """The figure's title (its suptitle, else the first axes title): the image's alternative text."""
    if hasattr(fig, "images") and hasattr(fig, "title"):      # drawn by another process (.prefetch)
        return fig.title
    titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    titles += [ax.get_title() for ax in fig.axes if ax.get_title()]
    return titles[0] if titles else ""


_RENDERED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def rendered(fig, fmt: str = "png") -> bytes:
    """The figure as PNG (200 dpi) or SVG bytes, rendered once per figure: the page, the notebook and
    the ``figures/`` folder share the same bytes."""
    cache = _RENDERED.setdefault(fig, {})
    if fmt not in cache:
        cache[fmt] = plotting.figure_png(fig) if fmt == "png" else plotting.figure_svg(fig)
    return cache[fmt]


def _img(fig) -> str:
    alt = html.escape(figure_title(fig), quote=True)
    data = base64.b64encode(rendered(fig, "png")).decode("ascii")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}"/>'


def figure_html(block: Figure) -> str:
    """One image with its title as alternative text (screen readers, and a description where the
    image cannot be shown); small multiples as one image per panel in a grid that wraps on a phone."""
    panels = getattr(block, "panels", None) or []
    if panels:
        inner = "".join(f"<figure>{_img(p)}</figure>" for p in panels)
        label = html.escape(figure_title(block.figure), quote=True)
        return f'<div class="panels" role="group" aria-label="{label}">{inner}</div>'
    return _img(block.figure)


def show_figure(fig):
    from IPython.display import HTML

    return HTML(_img(fig))


def block_outputs(blocks: list) -> list[dict]:
    """Notebook display outputs (``display_data`` mime bundles) of a list of blocks."""
    out: list[dict] = []

    def add(mime: str, text: str) -> None:
        out.append({"output_type": "display_data", "data": {mime: text}, "metadata": {}})

    for block in blocks:
        if isinstance(block, Markdown):
            add("text/markdown", block.text)
        elif isinstance(block, Table):
            add("text/html", table_html(block.display))
            if block.note:
                add("text/markdown", f"<small>{block.note}</small>")
        elif isinstance(block, Figure):
            add("text/html", figure_html(block))
    return out


def show_section(report, key: str) -> None:
    """Display one section of the report (nothing when the report has no such section this year)."""
    from IPython.display import publish_display_data

    if key not in {s.key for s in report.sections}:
        return
    for output in section_outputs(report, key):
        publish_display_data(output["data"], output["metadata"])


def section_outputs(report, key: str) -> list[dict]:
    """The outputs of one section, computed once per report (the notebook and the page share them)."""
    cache = report.__dict__.setdefault("_outputs", {})
    if key not in cache:
        blocks = report.render(key)
        if key not in cache:             # a section built by another process comes with its outputs
            cache[key] = block_outputs(blocks)
    return cache[key]


def outputs_notebook(heading: str, sections: dict[str, list[dict]], metadata: dict):
    """An nbformat notebook of display outputs: a ``heading`` cell (markdown), then one cell per
    section (key → its outputs, as :func:`block_outputs` gives them), with ``metadata`` under
    ``satisfaction``. The report and the city bulletins are written as such notebooks."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["satisfaction"] = dict(metadata)
    nb.metadata["language_info"] = {"name": "python"}
    head = nbformat.v4.new_code_cell(source="", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": heading})])
    head["id"] = "heading"
    nb.cells.append(head)
    for key, outputs in sections.items():
        cell = nbformat.v4.new_code_cell(source="", outputs=[
            nbformat.v4.new_output(o["output_type"], data=o["data"], metadata=o["metadata"]) for o in outputs])
        cell["id"] = f"section-{key}"
        nb.cells.append(cell)
    return nb


def report_notebook(report):
    """The whole report as an nbformat notebook of display outputs: the heading, then one cell per
    section, each holding exactly what :func:`show_section` shows for it."""
    return outputs_notebook(report.heading_markdown(), {s.key: section_outputs(report, s.key) for s in report.sections},
                            {"year": report.year, "region": report.ctx.region, "lang": report.lang,
                             "title": report.title})
