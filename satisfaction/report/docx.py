"""A city's bulletin (or any list of report blocks) as a Word document.

Consumer associations pass results around as Word files. :func:`document_bytes` lays out the blocks
the page and the notebook show (:class:`~satisfaction.report.sections.base.Markdown`,
:class:`~satisfaction.report.sections.base.Table`, :class:`~satisfaction.report.sections.base.Figure`)
on A4 portrait paper, following the page's conventions (:mod:`satisfaction.report.html`):

- one document heading (the ``# `` line of the blocks, else ``title``), section headings ``## `` and
  ``### `` as Word's "Heading 1" and "Heading 2", so that the navigation pane lists them;
- tables at the full text width in 9 pt, the header row bold on the page's header shade and
  repeated at the top of every page, no row broken across pages, text columns left-aligned and
  number columns right-aligned (the page's rule: a column is text when any of its cells holds
  words), the table's note under it in a smaller size;
- figures as the same PNG the page carries (:func:`~satisfaction.report.display.rendered`) at the
  text width, with the figure's title as alternative text;
- page numbers in the footer ("第 X 页 共 Y 页", "Page X of Y"), as Word fields;
- in Chinese, body text in 宋体 with Latin letters and digits in Times New Roman, headings in 黑体
  (the East Asian font is set on the styles, which Word needs to use it); in English, Calibri and
  Arial.

The document carries its title, issuer, language and date of issue as core properties. Every stamp
in the file (document dates, zip entry times) is fixed, so the same blocks give the same bytes.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
import zipfile

import pandas as pd

from ..xlsx import FIXED_TIME
from .display import figure_title, rendered
from .labels import check_lang
from .sections.base import Figure, Markdown, Table

__all__ = ["CORE_LANGUAGE", "FONTS", "MARGINS_CM", "SIZES", "document_bytes"]

#: the document's language (core property and proofing language) for each report language
CORE_LANGUAGE = {"zh": "zh-CN", "en": "en-US"}
#: (Latin font, East Asian font) of the body text and of the headings, per language
FONTS = {
    "zh": {"body": ("Times New Roman", "宋体"), "heading": ("Times New Roman", "黑体")},
    "en": {"body": ("Calibri", "宋体"), "heading": ("Arial", "黑体")},
}
#: font sizes in points: body 10.5 (五号), document heading 18 (小二), headings 14 (四号) and 12 (小四),
#: tables 9 (小五), notes under tables 8
SIZES = {"body": 10.5, "title": 18, "heading1": 14, "heading2": 12, "table": 9, "note": 8, "footer": 9}
#: page margins in centimetres: a 16 cm wide text block on A4 (210 mm × 297 mm)
MARGINS_CM = {"top": 2.5, "bottom": 2.2, "left": 2.5, "right": 2.5}
# A4 in twentieths of a point, as Word writes it
_A4_TWIPS = (11906, 16838)

# the page's colours (report.css): header shade, header rule, row rules
_HEAD_FILL = "EEF2F7"
_HEAD_RULE = "9AA5B4"
_ROW_RULE = "D5DAE1"
# the left and right padding of a table cell (Word's default, 0.19 cm)
_CELL_MARGIN_TWIPS = 108
# a cell wider than this (in half-width characters) wraps rather than widening its column (the page's
# 14em for a long cell)
_WRAP_WIDTH = 28
# a cell holds a number (possibly with its interval, rank or standard error) rather than words: the
# page's rule (satisfaction.report.html), so that a column aligns the same way on paper and on screen
_NUMERIC = re.compile(r"[\s\d.,%+\-−–—～~/()（）±×*＊<>≤≥:：|]*")
_PAGE_WORDS = {"zh": ("第 ", " 页 共 ", " 页"), "en": ("Page ", " of ", "")}
# markdown: headings, bullets, links (kept as their text), bold and italic spans
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_TITLE = re.compile(r"^[ \t]*#[ \t]+\S", re.M)
_BULLET = re.compile(r"[-*+]\s+(.*)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SPAN = re.compile(r"\*\*(.+?)\*\*|\*(?=[^\s*])(.+?)(?<=[^\s*])\*")
_HEADING_STYLE = {1: "Title", 2: "Heading 1", 3: "Heading 2"}


def document_bytes(blocks: list, *, title: str, lang: str = "zh", subtitle: str | None = None,
                   issued: dt.date | None = None, author: str | None = None, footer: str | None = None) -> bytes:
    """The blocks as a Word document (``.docx`` bytes), A4 portrait.

    Parameters
    ----------
    blocks : list of ``Markdown``, ``Table`` and ``Figure``, in reading order. Markdown may hold
        ``# `` (the document heading), ``## `` and ``### `` headings, paragraphs separated by blank
        lines, ``- `` bullet lines, ``**bold**`` and ``*italic*`` spans; a link ``[text](href)``
        is written as its text.
    title : the document's title (core property); also its heading when no block has a ``# `` line
    lang : ``"zh"`` (default) or ``"en"``: fonts, page-number words and the document's language
    subtitle : a line under the document heading (also the ``subject`` core property)
    issued : date of issue: the document's created and modified dates. Without it the file carries
        a fixed stamp (2000-01-01) rather than the time it was written.
    author : the issuer (core properties ``author`` and ``last modified by``)
    footer : a line of text above the page numbers on every page (e.g. the issuer)

    The same arguments give byte-identical files. Raises ``TypeError`` for a block of another kind
    and ``ValueError`` for an unknown ``lang``.
    """
    from docx import Document

    check_lang(lang)
    for block in blocks:
        if not isinstance(block, (Markdown, Table, Figure)):
            raise TypeError(f"cannot put a {type(block).__name__} into a Word document: "
                            "blocks are Markdown, Table or Figure")
    stamp = dt.datetime.combine(issued, dt.time()) if issued is not None else FIXED_TIME

    doc = Document()
    _set_styles(doc, lang)
    section = doc.sections[0]
    _set_page(section, lang, footer)
    width = section.page_width - section.left_margin - section.right_margin

    first_title = next((i for i, b in enumerate(blocks) if isinstance(b, Markdown) and _TITLE.search(b.text)), None)
    if first_title is None:
        _heading(doc, title, level=1)
        if subtitle:
            doc.add_paragraph(subtitle, style="Subtitle")
    for i, block in enumerate(blocks):
        if isinstance(block, Markdown):
            _markdown(doc, block, subtitle=subtitle if i == first_title else None)
        elif isinstance(block, Table):
            _table(doc, block, width)
        else:
            _figure(doc, block, width)

    _set_properties(doc, title=title, lang=lang, subtitle=subtitle, author=author, stamp=stamp)
    out = io.BytesIO()
    doc.save(out)
    return _pin_zip(out.getvalue(), stamp)


# ---- blocks -------------------------------------------------------------------------------------------
def _markdown(doc, block: Markdown, *, subtitle: str | None = None) -> None:
    """Headings, paragraphs and bullets of a markdown block; ``subtitle`` goes under its first
    ``# `` heading."""
    for kind, text in _markdown_items(block.text):
        if kind == "bullet":
            _inline(doc.add_paragraph(style="List Bullet"), text)
        elif kind == "text":
            _inline(doc.add_paragraph(), text)
        else:
            _heading(doc, text, level=kind)
            if kind == 1 and subtitle:
                doc.add_paragraph(subtitle, style="Subtitle")
                subtitle = None


def _markdown_items(text: str) -> list[tuple]:
    """``(kind, text)`` of each heading (kind: its level, 1 for ``#``), bullet (``"bullet"``) and
    paragraph (``"text"``). A paragraph's lines are joined as markdown joins them (with a space,
    none between two Chinese characters); a line that follows a bullet without a blank line
    continues it."""
    items: list[list] = []
    for chunk in re.split(r"\n[ \t]*\n", text.strip()):
        current = None                      # the paragraph or bullet being read: [kind, lines]
        for raw in chunk.splitlines():
            line = raw.strip()
            heading, bullet = _HEADING.fullmatch(line), _BULLET.fullmatch(line)
            if heading:
                items.append([len(heading.group(1)), [heading.group(2)]])
                current = None
            elif bullet:
                current = ["bullet", [bullet.group(1)]]
                items.append(current)
            elif line:
                if current is None:
                    current = ["text", []]
                    items.append(current)
                current[1].append(line)
    return [(kind, _join(lines)) for kind, lines in items]


def _heading(doc, text: str, *, level: int) -> None:
    """``#`` → the document heading (style "Title"), ``##`` → "Heading 1", ``###`` and deeper →
    "Heading 2"."""
    _inline(doc.add_paragraph(style=_HEADING_STYLE.get(level, "Heading 2")), text)


def _table(doc, block: Table, width: int) -> None:
    """The table's ``display`` frame (as the reader sees it; the index is not shown) at the full
    text width, then its note."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    display = block.display
    header = [_cell_text(" ".join(map(str, c)) if isinstance(c, tuple) else c) for c in display.columns]
    rows = [[_cell_text(v) for v in row] for row in display.itertuples(index=False, name=None)]
    ncol = len(header)
    if ncol:
        numeric = [all(_NUMERIC.fullmatch(r[j]) for r in rows) for j in range(ncol)]
        table = doc.add_table(rows=1 + len(rows), cols=ncol)
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        _table_borders(table)
        widths = _column_widths(header, rows, width)
        for j, w in enumerate(widths):
            table.columns[j].width = w
        for i, (row, values) in enumerate(zip(table.rows, [header, *rows])):
            _row_properties(row, header=i == 0)
            for j, (cell, text) in enumerate(zip(row.cells, values)):
                cell.width = widths[j]
                par = cell.paragraphs[0]
                par.style = "Table Text"
                par.alignment = WD_ALIGN_PARAGRAPH.RIGHT if numeric[j] else WD_ALIGN_PARAGRAPH.LEFT
                run = par.add_run(text)
                if i == 0:
                    run.bold = True
                    _shade(cell, _HEAD_FILL)
                if i == len(rows) and block.note:
                    par.paragraph_format.keep_with_next = True   # the note stays with the table
        _set_table_width(table)
    if block.note:
        doc.add_paragraph(block.note, style="Table Note")


def _figure(doc, block: Figure, width: int) -> None:
    """The figure's PNG (the bytes the page carries) at the text width, centred, its title as the
    picture's description. The figure carries its own title, so there is no caption."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    par = doc.add_paragraph()
    par.alignment = WD_ALIGN_PARAGRAPH.CENTER
    par.paragraph_format.keep_together = True
    shape = par.add_run().add_picture(io.BytesIO(rendered(block.figure, "png")), width=width)
    shape._inline.docPr.set("descr", figure_title(block.figure))


# ---- text ---------------------------------------------------------------------------------------------
def _join(lines: list[str]) -> str:
    """Lines of one paragraph as one text: a space between them, none between two Chinese characters."""
    text = ""
    for line in lines:
        if text and not (_wide(text[-1]) and _wide(line[0])):
            text += " "
        text += line
    return text


def _inline(paragraph, text: str) -> None:
    """Runs of ``text``: ``**bold**`` bold, ``*italic*`` italic, ``[text](href)`` as its text."""
    text = _LINK.sub(r"\1", text)
    at = 0
    for m in _SPAN.finditer(text):
        if m.start() > at:
            paragraph.add_run(text[at:m.start()])
        if m.group(1) is not None:
            paragraph.add_run(m.group(1)).bold = True
        else:
            paragraph.add_run(m.group(2)).italic = True
        at = m.end()
    if at < len(text):
        paragraph.add_run(text[at:])


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


def _width(text: str) -> int:
    """Display width in half-width characters (a Chinese character counts two)."""
    return sum(2 if _wide(c) else 1 for c in text)


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


# ---- tables -------------------------------------------------------------------------------------------
def _column_widths(header: list[str], rows: list[list[str]], width: int) -> list[int]:
    """Column widths (EMU) summing to ``width``. Each column needs its longest cell or half its
    header (a header may wrap onto two lines), at least two and at most fourteen Chinese characters
    (a longer text wraps, as on the page), plus the cell's margins; what is left of the text width is shared equally. When the needs exceed the width,
    columns get it in proportion to their needs."""
    from docx.shared import Pt, Twips

    half = Pt(SIZES["table"]) / 2           # a half-width character
    margins = Twips(2 * _CELL_MARGIN_TWIPS)
    need = [min(max(max((_width(r[j]) for r in rows), default=0), math.ceil(_width(head) / 2), 4), _WRAP_WIDTH)
            for j, head in enumerate(header)]
    wanted = [n * half + margins for n in need]
    if sum(wanted) <= width:
        spare = (width - sum(wanted)) / len(need)
        widths = [int(w + spare) for w in wanted]
    else:
        widths = [int(width * n / sum(need)) for n in need]
    widths[-1] += width - sum(widths)
    return widths


def _row_properties(row, *, header: bool) -> None:
    """No row broken across pages (``w:cantSplit``); the header row repeated on each page
    (``w:tblHeader``)."""
    from docx.oxml import OxmlElement

    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))


def _shade(cell, fill: str) -> None:
    """A header cell as the page draws it: shaded ``fill``, a heavier rule under it."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    borders = OxmlElement("w:tcBorders")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", "12"), ("space", "0"), ("color", _HEAD_RULE)):
        bottom.set(qn(f"w:{key}"), value)
    borders.append(bottom)
    tc_pr = cell._tc.get_or_add_tcPr()
    tc_pr.insert_element_before(borders, "w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText",
                                "w:vAlign", "w:hideMark")
    tc_pr.insert_element_before(shd, "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign",
                                "w:hideMark")


def _table_borders(table) -> None:
    """The page's rules: a rule above and below the table and between rows, no vertical lines."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side, colour in (("top", _HEAD_RULE), ("left", None), ("bottom", _HEAD_RULE), ("right", None),
                         ("insideH", _ROW_RULE), ("insideV", None)):
        edge = OxmlElement(f"w:{side}")
        if colour is None:
            edge.set(qn("w:val"), "nil")
        else:
            for key, value in (("val", "single"), ("sz", "4"), ("space", "0"), ("color", colour)):
                edge.set(qn(f"w:{key}"), value)
        borders.append(edge)
    tbl_pr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption",
                                 "w:tblDescription", "w:tblPrChange")


def _set_table_width(table) -> None:
    """The table spans the text width (``w:tblW`` 100 %)."""
    from docx.oxml.ns import qn

    tbl_w = table._tbl.tblPr.find(qn("w:tblW"))
    tbl_w.set(qn("w:type"), "pct")
    tbl_w.set(qn("w:w"), "5000")


# ---- page, styles, properties -------------------------------------------------------------------------
def _set_page(section, lang: str, footer: str | None) -> None:
    """A4 portrait with :data:`MARGINS_CM`; the footer: ``footer`` text, then the page numbers."""
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Twips

    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Twips(_A4_TWIPS[0]), Twips(_A4_TWIPS[1])
    for side, cm in MARGINS_CM.items():
        setattr(section, f"{side}_margin", Cm(cm))
    section.header_distance, section.footer_distance = Cm(1.2), Cm(1.0)

    paragraphs = section.footer.paragraphs
    first = paragraphs[0]
    if footer:
        first.text = footer
        first.alignment = WD_ALIGN_PARAGRAPH.CENTER
        numbers = section.footer.add_paragraph(style="Footer")
    else:
        numbers = first
    numbers.alignment = WD_ALIGN_PARAGRAPH.CENTER
    before, middle, after = _PAGE_WORDS[lang]
    numbers.add_run(before)
    _field(numbers, "PAGE")
    numbers.add_run(middle)
    _field(numbers, "NUMPAGES")
    if after:
        numbers.add_run(after)


def _field(paragraph, instruction: str) -> None:
    """A Word field (``PAGE``, ``NUMPAGES``) Word fills in when it lays out the page; "1" until then."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def run_with(tag: str, **attrs):
        run = paragraph.add_run()
        el = OxmlElement(tag)
        for key, value in attrs.items():
            el.set(qn(key), value)
        run._r.append(el)
        return el

    run_with("w:fldChar", **{"w:fldCharType": "begin"})
    run_with("w:instrText", **{"xml:space": "preserve"}).text = f" {instruction} "
    run_with("w:fldChar", **{"w:fldCharType": "separate"})
    paragraph.add_run("1")
    run_with("w:fldChar", **{"w:fldCharType": "end"})


def _set_fonts(r_pr, latin: str, east_asian: str) -> None:
    """Explicit fonts on a run-properties element (``w:rFonts`` ascii, hAnsi, cs and eastAsia; theme
    fonts removed, since Word prefers them to explicit ones) and the proofing languages."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    fonts = r_pr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        r_pr.insert(0, fonts)
    fonts.attrib.clear()
    for key, name in (("ascii", latin), ("hAnsi", latin), ("eastAsia", east_asian), ("cs", latin)):
        fonts.set(qn(f"w:{key}"), name)
    language = r_pr.find(qn("w:lang"))
    if language is not None:
        language.set(qn("w:val"), "en-US")
        language.set(qn("w:eastAsia"), "zh-CN")


def _set_styles(doc, lang: str) -> None:
    """Fonts, sizes and spacing of the styles the document uses, and the East Asian font on every
    style of the template that names a font. The template's blue theme colours and the title's rule
    are removed: a bulletin prints in black."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    body, heading = FONTS[lang]["body"], FONTS[lang]["heading"]
    styles = doc.styles
    root = styles.element

    defaults = root.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(defaults, *body)
    # every style that names theme fonts: the heading ("major") fonts or the body ones
    for r_fonts in root.iter(qn("w:rFonts")):
        r_pr = r_fonts.getparent()
        if r_pr is defaults:
            continue
        major = "major" in (r_fonts.get(qn("w:asciiTheme")) or "") + (r_fonts.get(qn("w:eastAsiaTheme")) or "")
        _set_fonts(r_pr, *(heading if major else body))

    normal = styles["Normal"]
    _set_fonts(normal.element.get_or_add_rPr(), *body)
    normal.font.size = Pt(SIZES["body"])
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(6), 1.2
    fmt.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY if lang == "zh" else WD_ALIGN_PARAGRAPH.LEFT

    for name, size, align, before, after in (("Title", SIZES["title"], WD_ALIGN_PARAGRAPH.CENTER, 0, 6),
                                             ("Heading 1", SIZES["heading1"], WD_ALIGN_PARAGRAPH.LEFT, 12, 6),
                                             ("Heading 2", SIZES["heading2"], WD_ALIGN_PARAGRAPH.LEFT, 8, 4)):
        style = styles[name]
        _set_fonts(style.element.get_or_add_rPr(), *heading)
        style.font.size = Pt(size)
        style.font.bold = lang == "en"      # 黑体 is heavy already; a bold 黑体 is a smudge
        style.font.color.rgb = RGBColor(0, 0, 0)
        fmt = style.paragraph_format
        fmt.alignment, fmt.space_before, fmt.space_after = align, Pt(before), Pt(after)
        fmt.keep_with_next = True
    title_pr = styles["Title"].element.pPr
    for tag in ("w:pBdr", "w:contextualSpacing"):
        for el in title_pr.findall(qn(tag)):
            title_pr.remove(el)
    title_r_pr = styles["Title"].element.rPr
    for tag in ("w:spacing", "w:kern"):
        for el in title_r_pr.findall(qn(tag)):
            title_r_pr.remove(el)

    subtitle = styles["Subtitle"]
    for el in subtitle.element.pPr.findall(qn("w:numPr")):
        subtitle.element.pPr.remove(el)
    for el in subtitle.element.rPr.findall(qn("w:spacing")):
        subtitle.element.rPr.remove(el)
    _set_fonts(subtitle.element.get_or_add_rPr(), *body)
    subtitle.font.size, subtitle.font.italic = Pt(SIZES["body"]), False
    subtitle.font.color.rgb = RGBColor(0x33, 0x33, 0x33)
    subtitle.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle.paragraph_format.space_after = Pt(12)

    cell = styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
    cell.base_style = normal
    cell.font.size = Pt(SIZES["table"])
    fmt = cell.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(1), Pt(1), 1.0
    fmt.alignment = WD_ALIGN_PARAGRAPH.LEFT

    note = styles.add_style("Table Note", WD_STYLE_TYPE.PARAGRAPH)
    note.base_style = normal
    note.font.size = Pt(SIZES["note"])
    note.paragraph_format.space_before, note.paragraph_format.space_after = Pt(3), Pt(9)

    footer = styles["Footer"]
    footer.font.size = Pt(SIZES["footer"])
    footer.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER

    # Word picks theme East Asian fonts by this language: Chinese, not the template's Japanese
    settings = doc.settings.element
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is None:
        theme_lang = OxmlElement("w:themeFontLang")
        settings.append(theme_lang)
    theme_lang.set(qn("w:val"), "en-US")
    theme_lang.set(qn("w:eastAsia"), "zh-CN")


def _set_properties(doc, *, title: str, lang: str, subtitle: str | None, author: str | None,
                    stamp: dt.datetime) -> None:
    """Core properties: title, subject (the subtitle), author, language, created and modified at
    ``stamp``; the template's own words and its thumbnail (a picture of an empty page) removed."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    props = doc.core_properties
    props.title = title
    props.subject = subtitle or ""
    props.author = author or ""
    props.last_modified_by = author or ""
    props.comments = ""
    props.keywords = ""
    props.category = ""
    props.language = CORE_LANGUAGE[lang]
    props.revision = 1
    props.created = props.modified = stamp
    package_rels = doc.part.package.rels
    for r_id in [r for r, rel in package_rels.items() if rel.reltype == RT.THUMBNAIL]:
        del package_rels[r_id]


def _pin_zip(blob: bytes, stamp: dt.datetime) -> bytes:
    """The document's zip rewritten with every entry dated ``stamp`` and the same permissions (the
    zip library stamps entries with the time of writing)."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()
