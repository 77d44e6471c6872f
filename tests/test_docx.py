"""The bulletin as a Word document: structure, page set-up, fonts, properties and repeatable bytes."""
from __future__ import annotations

import datetime as dt
import io
import zipfile

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

docx = pytest.importorskip("docx")
from docx.oxml.ns import qn  # noqa: E402
from docx.shared import Cm, Twips  # noqa: E402

from satisfaction.report import plotting  # noqa: E402
from satisfaction.report.docx import CORE_LANGUAGE, FONTS, MARGINS_CM, document_bytes  # noqa: E402
from satisfaction.report.sections.base import Figure, Markdown, Table  # noqa: E402

ISSUED = dt.date(2025, 3, 15)
ISSUER = "广西壮族自治区消费者权益保护委员会"
NOTE = "样本不足 30 人的格子不公布。"

DISPLAY = pd.DataFrame({
    "指标": ["消费供给", "消费环境", "消费维权", "商品质量"],
    "本市得分": ["78.3", "80.1", "75.0", "85.0%"],
    "全区得分": ["77.0", "79.9", "76.2", "83.1%"],
    "差值（95%置信区间）": ["+1.3（−0.2～+2.8）", "+0.2（−1.0～+1.4）", "−1.2（−2.5～+0.1）", "—"],
    "名次区间": ["3–9", "1–5", "10–14", "—"],
    "判断": ["无显著差异", "显著高于全区", "无显著差异", "样本不足"],
})

TEXT = """# 2024年南宁市消费者满意度测评结果通报

广西壮族自治区2024年度消费者满意度测评

## 一、总体结果

南宁市消费者满意度指数为 **78.3 分**，
全区为 77.0 分。完整方法见[全区报告](report.html)。

- 优势：*消费环境*
- 短板：消费维权

### （一）各维度

下表比较本市与全区。"""


@pytest.fixture()
def figure():
    plotting.use_cjk_font()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.bar(["消费供给", "消费环境", "消费维权"], [78.3, 80.1, 75.0])
    ax.set_title("南宁市各维度得分")
    yield fig
    plt.close(fig)


@pytest.fixture()
def blocks(figure):
    return [Markdown(TEXT), Table("indicators", DISPLAY, DISPLAY, note=NOTE), Figure("scores", figure),
            Markdown("## 二、说明\n\n得分为 0–100 分。")]


def build(blocks, **kw):
    args = dict(title="2024年南宁市消费者满意度测评结果通报", issued=ISSUED, author=ISSUER, footer=ISSUER)
    args.update(kw)
    return document_bytes(blocks, **args)


@pytest.fixture()
def document(blocks):
    return docx.Document(io.BytesIO(build(blocks, subtitle="广西壮族自治区 2024 年度")))


def body_items(document):
    """The body's paragraphs and tables, in order."""
    out = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            out.append(docx.text.paragraph.Paragraph(child, document))
        elif child.tag == qn("w:tbl"):
            out.append(docx.table.Table(child, document))
    return out


def test_headings_paragraphs_and_bullets(document):
    styled = [(p.style.name, p.text) for p in document.paragraphs]
    assert styled[0] == ("Title", "2024年南宁市消费者满意度测评结果通报")
    assert styled[1] == ("Subtitle", "广西壮族自治区 2024 年度")     # the subtitle right under the heading
    assert ("Heading 1", "一、总体结果") in styled
    assert ("Heading 1", "二、说明") in styled
    assert ("Heading 2", "（一）各维度") in styled
    assert [t for s, t in styled if s == "Title"] == ["2024年南宁市消费者满意度测评结果通报"]
    # soft-wrapped lines join without a space between Chinese characters; a link keeps its text only
    para = next(p for p in document.paragraphs if p.text.startswith("南宁市消费者满意度指数"))
    assert para.text == "南宁市消费者满意度指数为 78.3 分，全区为 77.0 分。完整方法见全区报告。"
    assert [r.text for r in para.runs if r.bold] == ["78.3 分"]
    assert not any("*" in p.text or "#" in p.text or "](" in p.text for p in document.paragraphs)
    bullets = [p for p in document.paragraphs if p.style.name == "List Bullet"]
    assert [p.text for p in bullets] == ["优势：消费环境", "短板：消费维权"]
    assert [r.text for r in bullets[0].runs if r.italic] == ["消费环境"]


def test_title_from_the_argument_when_the_blocks_have_none(figure):
    doc = docx.Document(io.BytesIO(build([Markdown("## 一、总体结果\n\n正文。")], title="南宁市通报", subtitle="副题")))
    assert [(p.style.name, p.text) for p in doc.paragraphs[:3]] == [
        ("Title", "南宁市通报"), ("Subtitle", "副题"), ("Heading 1", "一、总体结果")]


def test_markdown_details(figure):
    text = "## 标题\n正文第一行\n第二行 with words\n- 要点一\n  接续一行\n- 要点二\n\n#### 更深的标题\n\n3 * 4 = 12，**未闭合"
    doc = docx.Document(io.BytesIO(build([Markdown(text)])))
    assert [(p.style.name, p.text) for p in doc.paragraphs[1:]] == [
        ("Heading 1", "标题"), ("Normal", "正文第一行第二行 with words"), ("List Bullet", "要点一接续一行"),
        ("List Bullet", "要点二"), ("Heading 2", "更深的标题"), ("Normal", "3 * 4 = 12，**未闭合")]


def test_table_cells_equal_the_display_frame(document):
    (table,) = document.tables
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[0] == list(DISPLAY.columns)
    assert cells[1:] == DISPLAY.values.tolist()
    assert all(r.bold for c in table.rows[0].cells for p in c.paragraphs for r in p.runs)
    shades = [c._tc.tcPr.find(qn("w:shd")) for c in table.rows[0].cells]
    assert all(s is not None and s.get(qn("w:fill")) for s in shades)
    assert all(p.style.font.size.pt == 9 for row in table.rows for c in row.cells for p in c.paragraphs)


def test_header_row_repeats_and_rows_do_not_split(document):
    (table,) = document.tables
    rows = table._tbl.tr_lst
    assert rows[0].trPr.find(qn("w:tblHeader")) is not None
    assert all(tr.trPr.find(qn("w:tblHeader")) is None for tr in rows[1:])
    assert all(tr.trPr.find(qn("w:cantSplit")) is not None for tr in rows)


def test_numbers_right_text_left(document):
    (table,) = document.tables
    align = [c.paragraphs[0].alignment for c in table.rows[1].cells]
    left, right = docx.enum.text.WD_ALIGN_PARAGRAPH.LEFT, docx.enum.text.WD_ALIGN_PARAGRAPH.RIGHT
    # 指标 and 判断 hold words; scores, percentages, intervals, rank ranges and dashes are numbers
    assert align == [left, right, right, right, right, left]
    assert [c.paragraphs[0].alignment for c in table.rows[0].cells] == align


def test_table_spans_the_text_width(document):
    (table,) = document.tables
    section = document.sections[0]
    text_width = section.page_width - section.left_margin - section.right_margin
    tbl_w = table._tbl.tblPr.find(qn("w:tblW"))
    assert (tbl_w.get(qn("w:type")), tbl_w.get(qn("w:w"))) == ("pct", "5000")
    assert abs(sum(col.width for col in table.columns) - text_width) <= Twips(len(table.columns))


def test_note_follows_the_table_in_smaller_type(document):
    items = body_items(document)
    at = next(i for i, x in enumerate(items) if isinstance(x, docx.table.Table))
    note = items[at + 1]
    assert note.text == NOTE
    assert note.style.font.size.pt < document.styles["Normal"].font.size.pt


def test_one_inline_picture_at_the_text_width(document):
    section = document.sections[0]
    text_width = section.page_width - section.left_margin - section.right_margin
    (shape,) = document.inline_shapes
    assert abs(shape.width - text_width) <= Twips(1)
    assert abs(shape.width - Cm(16)) < Cm(1)
    assert shape._inline.docPr.get("descr") == "南宁市各维度得分"
    items = body_items(document)
    assert items.index(next(p for p in items if p._element.xpath(".//pic:pic"))) > \
        next(i for i, x in enumerate(items) if isinstance(x, docx.table.Table))


def test_a4_portrait_with_margins(document):
    (section,) = document.sections
    assert section.orientation == docx.enum.section.WD_ORIENT.PORTRAIT
    pg = section._sectPr.find(qn("w:pgSz"))
    assert (int(pg.get(qn("w:w"))), int(pg.get(qn("w:h")))) == (11906, 16838)    # 210 mm × 297 mm
    assert abs(section.page_width - Cm(21.0)) < Cm(0.01) and abs(section.page_height - Cm(29.7)) < Cm(0.01)
    for side in ("top", "bottom", "left", "right"):
        assert abs(getattr(section, f"{side}_margin") - Cm(MARGINS_CM[side])) < Cm(0.01)
    assert Cm(2) <= section.top_margin <= Cm(2.5) and Cm(2) <= section.bottom_margin <= Cm(2.5)


@pytest.mark.parametrize("lang, words", [("zh", ["第 ", " 页 共 ", " 页"]), ("en", ["Page ", " of "])])
def test_footer_has_page_fields_and_the_issuer(blocks, lang, words):
    doc = docx.Document(io.BytesIO(build(blocks, lang=lang)))
    footer = doc.sections[0].footer
    assert footer.paragraphs[0].text == ISSUER
    xml = footer._element.xml
    instructions = [el.text.strip() for el in footer._element.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]
    assert xml.count('w:fldCharType="begin"') == xml.count('w:fldCharType="end"') == 2
    texts = [t.text for t in footer.paragraphs[-1]._p.iter(qn("w:t"))]
    assert [t for t in texts if t != "1"] == words


def test_east_asian_font_on_normal_and_headings(document):
    def fonts(style):
        r_fonts = style.element.rPr.find(qn("w:rFonts"))
        assert r_fonts.get(qn("w:asciiTheme")) is None and r_fonts.get(qn("w:eastAsiaTheme")) is None
        return r_fonts.get(qn("w:ascii")), r_fonts.get(qn("w:eastAsia"))

    assert fonts(document.styles["Normal"]) == ("Times New Roman", "宋体")
    for name in ("Title", "Heading 1", "Heading 2"):
        assert fonts(document.styles[name])[1] == "黑体"
    assert document.styles["Normal"].font.size.pt == 10.5
    assert document.styles["Heading 1"].font.size.pt == 14 and document.styles["Heading 2"].font.size.pt == 12


def test_english_fonts(blocks):
    doc = docx.Document(io.BytesIO(build(blocks, lang="en")))
    r_fonts = doc.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert r_fonts.get(qn("w:ascii")) == FONTS["en"]["body"][0] == "Calibri"
    assert doc.styles["Heading 1"].element.rPr.find(qn("w:rFonts")).get(qn("w:ascii")) == "Arial"
    assert doc.core_properties.language == "en-US"


def test_core_properties(document):
    props = document.core_properties
    assert props.title == "2024年南宁市消费者满意度测评结果通报"
    assert props.author == ISSUER
    assert props.language == CORE_LANGUAGE["zh"] == "zh-CN"
    assert props.created.date() == ISSUED and props.modified.date() == ISSUED
    assert props.subject == "广西壮族自治区 2024 年度"


def test_same_blocks_give_the_same_bytes(blocks):
    first, second = build(blocks), build(blocks)
    assert first == second
    dates = {info.date_time for info in zipfile.ZipFile(io.BytesIO(first)).infolist()}
    assert dates == {(2025, 3, 15, 0, 0, 0)}
    # without a date of issue, still a fixed stamp rather than the time of writing
    assert build(blocks, issued=None) == build(blocks, issued=None)


def test_unknown_block_and_language_are_refused(blocks):
    with pytest.raises(TypeError, match="Markdown, Table or Figure"):
        build(["plain text"])
    with pytest.raises(ValueError, match="lang"):
        build(blocks, lang="fr")
