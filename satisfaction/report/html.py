"""The report as one self-contained HTML page, for a desktop, a phone and A4 paper.

:func:`render_html` turns the executed report notebook (display outputs only: markdown, tables,
figures) into a page through the nbconvert template ``templates/report`` and its stylesheet,
``report.css``, inlined into the page. The page has no script and fetches nothing; its images are
data URIs. After the template, the page gets what a template cannot know in advance: a table of
contents of the section headings (each with a stable id, ``sec-1``, ``sec-2``, …), tables wrapped in
a box that scrolls sideways on a phone, and each table column marked as text or numbers.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from pathlib import Path

import nbformat

from .labels import check_lang

__all__ = ["HTML_LANG", "PORTRAIT_MAX_COLUMNS", "TEMPLATE_NAME", "TEMPLATES", "print_page", "printable", "render_html",
           "start_printing"]

#: the folder holding the nbconvert template ``report`` (``conf.json``, ``index.html.j2``, ``report.css``)
TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_NAME = "report"
#: the page's ``lang`` attribute for each report language
HTML_LANG = {"zh": "zh-CN", "en": "en"}
#: a table with more columns than this prints on landscape pages of its own (``.print-wide``): on A4
#: portrait 17 columns would leave about 40 px a column, less than a number with its rank needs
PORTRAIT_MAX_COLUMNS = 10

_WORDS = {"zh": {"contents": "目录", "figure": "图"}, "en": {"contents": "Contents", "figure": "Figure"}}
# code cells that set up the notebook rather than show the report
_HIDDEN_CODE_TAGS = {"remove", "parameters", "injected-parameters"}
# a cell holds a number (possibly with its interval, rank or standard error) rather than words
_NUMERIC = re.compile(r"[\s\d.,%+\-−–—～~/()（）±×*＊<>≤≥:：|]*")
# a cell wider than this (in half-width characters) may wrap; a header from this width on
_LONG_CELL = 25
_LONG_HEADER = 11
#: text columns up to this one are marked by a class on the table (see report.css)
_CLASSED_COLUMNS = 12
# what the page must never carry: code, or anything that loads from elsewhere
_INTRO = ("p", "ul", "ol", "h2", "h3", "h4")
_FORBIDDEN = ("script", "link", "iframe", "object", "embed", "base")


def render_html(nb, *, lang: str, title: str, kind: str = "report") -> str:
    """The report page for an executed notebook ``nb`` (an nbformat v4 notebook, a dict, or a path).

    Code inputs, prompts, markdown cells tagged ``remove`` and code cells tagged ``remove``,
    ``parameters`` or ``injected-parameters`` are left out; of each output only what a reader reads
    is kept (no ``text/plain`` repr, no stderr). ``lang`` (``"zh"`` or ``"en"``) sets the page's
    language, ``title`` its ``<title>`` and, when the notebook shows no first-level heading, its
    ``<h1>``. ``kind="bulletin"`` lays out a city bulletin: no table of contents, and the denser
    print layout that fits it on two A4 pages. The same notebook always gives the same string.
    """
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    check_lang(lang)
    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name=TEMPLATE_NAME,
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_anchor_links=True)
    resources = {"metadata": {"name": title},
                 "report": {"html_lang": HTML_LANG[lang], "title": title, "figure_alt": _WORDS[lang]["figure"],
                            "css": _stylesheet(), "main_class": "report bulletin" if kind == "bulletin" else "report"}}
    page, _ = exporter.from_notebook_node(_shown(nb), resources=resources)

    soup = BeautifulSoup(page, "html.parser")
    main = soup.find("main")
    for tag in main.find_all(_FORBIDDEN):
        tag.decompose()
    for table in main.find_all("table"):
        _inline_styler_css(table)
        _mark_columns(table)
    _wrap_tables(soup, main)
    _number_headings(soup, main, title)
    if kind != "bulletin":
        _add_contents(soup, main, _WORDS[lang]["contents"])
    for img in main.find_all("img"):
        if not (img.get("alt") or "").strip() or img["alt"].startswith("No description has been provided"):
            img["alt"] = _WORDS[lang]["figure"]
    return str(soup)


def _stylesheet() -> str:
    """``report.css`` without its comments and spare white space (the page carries it once)."""
    css = (TEMPLATES / TEMPLATE_NAME / "report.css").read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{};,>])\s*", r"\1", css)
    css = re.sub(r":\s+", ":", css)  # after a colon only: a space before one is a descendant selector
    return css.replace(";}", "}").strip()


def _shown(nb) -> nbformat.NotebookNode:
    """A copy of the notebook holding only what the page shows."""
    if isinstance(nb, (str, Path)):
        nb = nbformat.read(str(nb), as_version=4)
    nb = nbformat.from_dict(copy.deepcopy(dict(nb)))
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "raw" or (cell.cell_type == "markdown" and "remove" in tags):
            continue
        if cell.cell_type == "code":
            if tags & _HIDDEN_CODE_TAGS:
                continue
            outputs = []
            for out in cell.get("outputs", []):
                if out.output_type == "stream" and out.get("name") != "stdout":
                    continue
                if out.output_type in ("display_data", "execute_result"):
                    out.data = {k: v for k, v in out.get("data", {}).items() if k != "text/plain"}
                    if not out.data:
                        continue
                outputs.append(out)
            cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    return nb


def _inline_styler_css(table) -> None:
    """Move a pandas Styler's per-cell CSS (rules on ``#T_…`` ids) onto the cells and drop the ids
    and Styler classes: the rules and ids would otherwise be most of the page's weight. Text
    alignment is left out, since :func:`_mark_columns` sets it by column; rules on anything other
    than a single id stay where they are."""
    style = table.find_previous_sibling()
    inline: dict[str, list[str]] = {}
    kept_css = ""
    if style is not None and style.name == "style" and table.get("id") and f"#{table['id']}" in (style.string or ""):
        kept = []
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", style.string):
            ids = [s.strip() for s in selectors.split(",")]
            if all(re.fullmatch(r"#T_[\w-]+", s) for s in ids):
                decls = [d.strip() for d in body.split(";") if d.strip() and not d.strip().startswith("text-align")]
                for s in ids:
                    inline.setdefault(s[1:], []).extend(decls)
            else:
                kept.append(f"{selectors.strip()} {{{body.strip()}}}")
        kept_css = "\n".join(kept)
        if kept:
            style.string = kept_css
        else:
            style.decompose()
    still_used = set(re.findall(r"#([\w-]+)", kept_css))
    for el in [table, *table.find_all(True)]:
        ident = el.get("id")
        if ident and ident.startswith("T_"):
            if inline.get(ident):
                el["style"] = "; ".join(inline[ident])
            if ident not in still_used:
                del el["id"]
        if el.name in ("th", "td"):
            el.attrs.pop("class", None)


def _width(text: str) -> int:
    """Display width in half-width characters (a Chinese character counts two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _mark_columns(table) -> None:
    """Mark the columns that hold words (left-aligned; numbers stay right-aligned) and the cells
    long enough to wrap (class ``w``); every other cell stays on one line, so that a city name is
    never broken one character a line. A text column ``j`` (from 1) up to :data:`_CLASSED_COLUMNS`
    is a class ``lj`` on the table, which the stylesheet turns into left alignment for the column
    (one class a table instead of one a cell keeps the page small); later ones get class ``t`` on
    each cell."""
    for text in table.find_all(string=lambda s: not s.strip()):
        if text.parent.name in ("table", "thead", "tbody", "tfoot", "tr"):
            text.extract()
    rows = [tr.find_all(["td", "th"], recursive=False) for tr in table.find_all("tr")]
    body = [r for r, tr in zip(rows, table.find_all("tr")) if tr.find_parent("thead") is None]
    ncol = max((len(r) for r in body), default=0)
    text_cols = sorted(j for j in range(ncol)
                       if any(len(r) == ncol and r[j].get_text(strip=True)
                              and not _NUMERIC.fullmatch(r[j].get_text(strip=True)) for r in body))
    if text_cols:
        table["class"] = list(table.get("class", [])) + [f"l{j + 1}" for j in text_cols if j < _CLASSED_COLUMNS]
    late = {j for j in text_cols if j >= _CLASSED_COLUMNS}
    for row, tr in zip(rows, table.find_all("tr")):
        limit = _LONG_HEADER if tr.find_parent("thead") is not None else _LONG_CELL
        for j, cell in enumerate(row):
            classes = ["t"] if len(row) == ncol and j in late else []
            if _width(cell.get_text(strip=True)) >= limit:
                classes.append("w")
            if classes:
                cell["class"] = classes


def _columns(table) -> int:
    rows = table.find_all("tr")
    return max((sum(int(c.get("colspan", 1)) for c in r.find_all(["td", "th"], recursive=False)) for r in rows), default=0)


def _wrap_tables(soup, main) -> None:
    """Put each table in a ``.table-wrap`` box (it scrolls sideways on a phone, while the table
    itself stays a table, so that print repeats its header rows); a table too wide for portrait
    paper goes, with the note right after it, into a ``.print-wide`` block printed landscape."""
    for table in main.find_all("table"):
        if table.find_parent("table") is not None or table.find_parent(class_="table-wrap") is not None:
            continue
        box = soup.new_tag("div", attrs={"class": "table-wrap"})
        table.wrap(box)
        if _columns(table) > PORTRAIT_MAX_COLUMNS:
            note = box.find_next_sibling()
            # the words that introduce the table, back to its heading, go onto its pages too, so
            # that a portrait page does not end with a heading and one paragraph
            intro = []
            for prev in box.find_previous_siblings():
                if prev.name not in _INTRO:
                    break
                intro.insert(0, prev)
                if prev.name in ("h2", "h3", "h4"):
                    break
            wide = soup.new_tag("div", attrs={"class": "print-wide"})
            box.wrap(wide)
            for el in reversed(intro):
                wide.insert(0, el.extract())
            if note is not None and note.name == "p" and note.find("small") is not None \
                    and note.get_text(strip=True) == note.find("small").get_text(strip=True):
                wide.append(note.extract())


def _number_headings(soup, main, title: str) -> None:
    """One ``<h1>`` (the title, added when the notebook shows none); ids ``sec-N`` on the section
    headings (``<h2>``) and ``sec-N-M`` on the headings within them, in order."""
    if main.find("h1") is None:
        h1 = soup.new_tag("h1")
        h1.string = title
        main.insert(0, h1)
    section = sub = 0
    for heading in main.find_all(["h2", "h3"]):
        if heading.name == "h2":
            section, sub = section + 1, 0
            heading["id"] = f"sec-{section}"
        else:
            sub += 1
            heading["id"] = f"sec-{section}-{sub}"


def _add_contents(soup, main, label: str) -> None:
    """A ``<nav>`` listing the section headings, linked to their ids, before the first of them."""
    sections = main.find_all("h2")
    if not sections:
        return
    nav = soup.new_tag("nav", attrs={"class": "toc", "aria-labelledby": "toc-title"})
    head = soup.new_tag("p", attrs={"class": "toc-title", "id": "toc-title"})
    head.string = label
    items = soup.new_tag("ol")
    for h2 in sections:
        li = soup.new_tag("li")
        link = soup.new_tag("a", attrs={"href": f"#{h2['id']}"})
        link.string = h2.get_text(" ", strip=True)
        li.append(link)
        items.append(li)
    nav.append(head)
    nav.append(items)
    sections[0].insert_before(nav)


def printable(html: str) -> str:
    """The page as it is printed to PDF: links to other files (the bulletins, the provincial report)
    keep their text but lose their target, which a PDF would otherwise carry as an absolute path of
    the machine it was printed on; links within the page stay."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for a in soup.find_all("a", href=True):
        if not a["href"].startswith("#"):
            del a["href"]
    return str(soup)


def print_page(html: str, pdf_path: Path) -> Path:
    """Print the page ``html`` (a string) to ``pdf_path`` as :func:`printable` (headless browser:
    :func:`satisfaction.report.browser.print_pdf`), from a temporary copy."""
    return start_printing(html, pdf_path).wait()


def start_printing(html: str, pdf_path: Path):
    """:func:`print_page` started in the background: a
    :class:`~satisfaction.report.browser.PrintJob` to ``wait()`` for (the PDF's path) or ``cancel()``;
    either removes the temporary copy of the page."""
    import shutil
    import tempfile

    from .browser import PrintJob

    tmp = tempfile.mkdtemp(prefix="satisfaction-print-")
    try:
        page = Path(tmp) / "page.html"
        page.write_text(printable(html), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PrintJob(page, pdf_path, cleanup=lambda: shutil.rmtree(tmp, ignore_errors=True))
