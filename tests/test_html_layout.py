"""The report page on a desktop, on a phone and on A4 paper, measured in a real browser.

The page is rendered from the report's own outputs (:func:`report_notebook` of a small
:class:`AnnualReport` of the demo data) and laid out by the system's Chromium through Playwright for
Python; the PDF is printed by :func:`print_pdf` and read back with pypdf. Where Playwright or the
browser is missing these tests fail and say what to install: ``make`` installs them.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from satisfaction import io as sio
from satisfaction.errors import SatisfactionError
from satisfaction.report import AnnualReport
from satisfaction.report.browser import (HEADLESS_FLAGS, BrowserNotFound, PdfError, find_browser, print_pdf)
from satisfaction.report.display import report_notebook
from satisfaction.report.html import PORTRAIT_MAX_COLUMNS, TEMPLATES, render_html
from conftest import CODEBOOK, ROOT

SETTINGS = {"replicates": 20, "draws": 50, "issued": "2025-03-15"}
YEARS = (2019, 2020, 2021, 2022, 2023, 2024)
WIDTHS = (1280, 400)
MM = 96 / 25.4  # CSS pixels in a millimetre
A4 = (210, 297)


def _page_margins() -> tuple[float, float, float, float]:
    """The page margins (mm: top, right, bottom, left) from the stylesheet's ``@page`` rule."""
    css = (TEMPLATES / "report" / "report.css").read_text(encoding="utf-8")
    rule = re.search(r"@page\s*\{[^@}]*?margin:\s*([^;]+);", css).group(1).split()
    mm = [float(v.removesuffix("mm")) for v in rule]
    return tuple((mm * 4)[:4] if len(mm) == 1 else (mm + mm)[:4] if len(mm) == 2 else
                 (mm[0], mm[1], mm[2], mm[1]) if len(mm) == 3 else mm)


def _content_width(orientation: str) -> int:
    """The width of the printed page's content box in CSS px (rounded down)."""
    _, right, _, left = _page_margins()
    paper = A4[0] if orientation == "portrait" else A4[1]
    return int((paper - left - right) * MM)


def _strip_data_uris(html: str) -> str:
    return re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)


# ---- the page ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook(report):
    return report_notebook(report)


@pytest.fixture(scope="module")
def page_html(report, notebook) -> str:
    return render_html(notebook, lang="zh", title=report.title)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory, page_html) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(page_html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install playwright (the tests drive the system's "
                    "Chromium, so no `playwright install` is needed; make installs both)", pytrace=False)
    try:
        executable = find_browser()
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=list(HEADLESS_FLAGS))
        yield launched
        launched.close()


def _open(browser, page_file: Path, width: int, *, media: str = "screen"):
    page = browser.new_page(viewport={"width": width, "height": 2400})
    page.emulate_media(media=media)
    page.goto(page_file.as_uri())
    return page


# everything on the page that sticks out of the viewport, apart from what a table box scrolls
OVERFLOW_JS = """() => {
  const W = document.documentElement.clientWidth, bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.parentElement && el.parentElement.closest('.table-wrap');
    if (box) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width > W + 0.5 || r.right > W + 0.5 || r.left < -0.5)
      bad.push(`${el.tagName}.${el.className} ${r.left.toFixed(1)}..${r.right.toFixed(1)}`);
  }
  return bad;
}"""

# table cells of a few characters (city names, numbers; headers of up to four, as a city's name)
# whose text runs onto a second line
WRAPPED_SHORT_CELLS_JS = """([maxChars, tables]) => {
  const bad = [];
  for (const cell of [...document.querySelectorAll(tables)].flatMap(t => [...t.querySelectorAll('td, th')])) {
    const text = cell.textContent.trim();
    if (!text || [...text].length > (cell.closest('thead') ? 4 : maxChars)) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (tops.size > 1) bad.push(text);
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def bulletin_file(tmp_path_factory, report) -> Path:
    """A city's bulletin page (贺州), laid out by the same template in its bulletin form."""
    from satisfaction.report.bulletin import CityBulletin, bulletin_notebook

    bulletin = CityBulletin(report.shared, report.codebook, "贺州", issued=SETTINGS["issued"])
    path = tmp_path_factory.mktemp("bulletin") / "451100.html"
    path.write_text(render_html(bulletin_notebook(bulletin), lang="zh", title=bulletin.title, kind="bulletin"),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("which", ["page_file", "bulletin_file"])
@pytest.mark.parametrize("width", WIDTHS)
def test_page_fits_the_screen(browser, request, which, width):
    page = _open(browser, request.getfixturevalue(which), width)
    try:
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert scroll_width <= inner_width, "the page scrolls sideways"
        assert page.evaluate(OVERFLOW_JS) == []
        # city names and numbers stay on one line, however narrow the screen
        assert page.evaluate(WRAPPED_SHORT_CELLS_JS, [8, "table"]) == []
        # a table wider than the screen scrolls inside its own box
        boxes = page.evaluate("""() => [...document.querySelectorAll('table')].map(t => {
            const box = t.parentElement;
            return [box.className, getComputedStyle(box).overflowX, getComputedStyle(t).display];
        })""")
        assert boxes and all(b == ["table-wrap", "auto", "table"] for b in boxes)
        assert page.evaluate("document.scripts.length") == 0
    finally:
        page.close()


def test_phone_layout_of_wide_tables_and_panels(browser, page_file, page_html):
    """At 400 px the widest table scrolls inside its box; small multiples wrap into one column,
    and into several on a desktop."""
    page = _open(browser, page_file, 400)
    try:
        widest = page.evaluate("""() => Math.max(...[...document.querySelectorAll('.table-wrap')]
                                   .map(b => b.scrollWidth - b.clientWidth))""")
        assert widest > 0  # the test sees a table wider than a phone
        columns = page.evaluate("""() => [...document.querySelectorAll('.panels')].map(p =>
            getComputedStyle(p).gridTemplateColumns.split(' ').length)""")
    finally:
        page.close()
    assert page_html.count('class="panels"') >= 1
    assert columns and all(n == 1 for n in columns)
    page = _open(browser, page_file, 1280)
    try:
        columns = page.evaluate("""() => [...document.querySelectorAll('.panels')].map(p =>
            getComputedStyle(p).gridTemplateColumns.split(' ').length)""")
    finally:
        page.close()
    assert all(n >= 3 for n in columns)


def test_printed_tables_fit_the_page(browser, page_file):
    """Printed, every table's last column ends inside the page's content box: portrait for most,
    landscape for those too wide (``.print-wide``)."""
    checked = 0
    for orientation, selector in (("portrait", "table:not(.print-wide table)"), ("landscape", ".print-wide table")):
        width = _content_width(orientation)
        page = _open(browser, page_file, width, media="print")
        try:
            rights = page.evaluate("""(sel) => [...document.querySelectorAll(sel)].map(t => {
                const rows = [...t.rows];
                return Math.max(...rows.map(r => r.cells.length ? r.cells[r.cells.length - 1].getBoundingClientRect().right : 0));
            })""", selector)
            assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
            assert page.evaluate(WRAPPED_SHORT_CELLS_JS, [8, selector]) == []
            if orientation == "landscape":  # on portrait paper the wide tables are on other pages
                assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            page.close()
        assert rights, f"no {orientation} table to check"
        assert max(rights) <= width + 0.5, (orientation, width, rights)
        checked += len(rights)
    assert checked == page_file.read_text(encoding="utf-8").count("<table")


def test_pdf_is_a4_with_page_numbers(page_file, tmp_path):
    pypdf = _need("pypdf")
    try:
        find_browser()
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    pdf = print_pdf(page_file, tmp_path / "report.pdf")
    reader = pypdf.PdfReader(str(pdf))
    pages = reader.pages
    assert len(pages) > 1
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in pages]
    portrait = [abs(w - 595) <= 1 and abs(h - 842) <= 1 for w, h in sizes]
    landscape = [abs(w - 842) <= 1 and abs(h - 595) <= 1 for w, h in sizes]
    assert all(p or q for p, q in zip(portrait, landscape)), sizes
    assert portrait[0] and any(landscape)  # the wide table has landscape pages of its own
    n = len(pages)
    for i in (0, n // 2, n - 1):
        assert f"{i + 1} / {n}" in pages[i].extract_text(), i
    assert reader.outline  # bookmarks from the headings


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        pytest.fail(f"{module} is missing: pip install {module} (make installs it)", pytrace=False)


# ---- the HTML itself -----------------------------------------------------------------------------


def test_page_is_small_self_contained_and_ours(page_html):
    soup = BeautifulSoup(page_html, "html.parser")
    assert soup.html["lang"] == "zh-CN" and soup.title.get_text() == soup.h1.get_text()
    assert len(soup.find_all("h1")) == 1
    assert not soup.find_all(["script", "link", "iframe", "object", "embed"])
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page_html)
    assert "jp-" not in page_html and "jupyter" not in page_html.lower()
    images = soup.find_all("img")
    assert len(images) >= 6 and all(img.get("alt", "").strip() for img in images)
    assert all(img["src"].startswith("data:image/png;base64,") for img in images)
    # without its images the page is small: under 44 K characters (the plan targets and the links to
    # the city bulletins included), a stylesheet of a few KB, and the rest the report's own words and
    # numbers (in UTF-8, where a Chinese character takes three bytes, about 55 KB)
    text = _strip_data_uris(page_html)
    assert len(soup.head.style.get_text().encode("utf-8")) < 6_000
    assert len(text) < 44_000, len(text)
    assert len(text.encode("utf-8")) < 64_000, len(text.encode("utf-8"))


def test_contents_links_every_section(page_html, notebook):
    soup = BeautifulSoup(page_html, "html.parser")
    headings = soup.find_all("h2")
    ids = {el["id"] for el in soup.find_all(id=True)}
    assert [h["id"] for h in headings] == [f"sec-{i}" for i in range(1, len(headings) + 1)]
    links = soup.nav.find_all("a")
    assert [a["href"] for a in links] == [f"#{h['id']}" for h in headings]
    assert [a.get_text() for a in links] == [h.get_text() for h in headings]
    assert all(a["href"][1:] in ids for a in soup.find_all("a", href=re.compile("^#")))
    assert len(ids) == len(soup.find_all(id=True))  # no id twice
    expected = [line[3:].strip() for c in notebook.cells for o in c.get("outputs", [])
                for line in o.get("data", {}).get("text/markdown", "").splitlines() if line.startswith("## ")]
    assert [h.get_text() for h in headings] == expected and len(expected) >= 5


def test_same_notebook_same_page(notebook, report, page_html):
    assert render_html(notebook, lang="zh", title=report.title) == page_html


# ---- rendering rules, on a notebook made for them --------------------------------------------------

STYLER_TABLE = """<style type="text/css">
#T_abc_row0_col0, #T_abc_row1_col0 {
  text-align: left;
  color: red;
}
</style>
<table id="T_abc" class="dataframe">
  <thead><tr><th id="T_abc_level0_col0" class="col_heading level0 col0">城市</th>{heads}</tr></thead>
  <tbody>
    <tr><td id="T_abc_row0_col0" class="data row0 col0">防城港</td>{row}</tr>
    <tr><td id="T_abc_row1_col0" class="data row1 col0">南宁</td>{row}</tr>
  </tbody>
</table>"""


def _table(columns: int) -> str:
    heads = "".join(f"<th>指标{j}</th>" for j in range(1, columns))
    row = "".join("<td>78.6/2</td>" for _ in range(1, columns))
    return STYLER_TABLE.replace("{heads}", heads).replace("{row}", row)


def _made_notebook():
    v4 = nbformat.v4
    nb = v4.new_notebook()
    hidden_md = v4.new_markdown_cell("## 不应出现的标题")
    hidden_md.metadata["tags"] = ["remove"]
    params = v4.new_code_cell("year = 2024", outputs=[v4.new_output("stream", name="stdout", text="PARAMS")])
    params.metadata["tags"] = ["parameters"]
    injected = v4.new_code_cell("year = 2023", outputs=[v4.new_output("stream", name="stdout", text="INJECTED")])
    injected.metadata["tags"] = ["injected-parameters"]
    removed = v4.new_code_cell("x", outputs=[v4.new_output("display_data", data={"text/markdown": "REMOVED"})])
    removed.metadata["tags"] = ["remove"]
    shown = v4.new_code_cell("SECRET_CODE()", outputs=[
        v4.new_output("display_data", data={"text/markdown": "## 第一节\n\n正文。\n\n### 小节"}),
        v4.new_output("stream", name="stderr", text="WARNING-ON-STDERR"),
        v4.new_output("display_data", data={"text/html": _table(3), "text/plain": "<HTML-REPR>"}),
        v4.new_output("execute_result", data={"text/plain": "<Figure size 640x480>"}, execution_count=1),
        v4.new_output("display_data", data={"text/markdown": "## 第二节\n\n下表很宽。"}),
        v4.new_output("display_data", data={"text/html": _table(PORTRAIT_MAX_COLUMNS + 1)}),
        v4.new_output("display_data", data={"text/markdown": "<small>＊ 表注。</small>"}),
        v4.new_output("display_data", data={"text/html": '<div class="panels"><figure><img alt="甲" src="data:image/png;base64,AA=="></figure>'
                                                         '<figure><img alt="" src="data:image/png;base64,AA=="></figure></div>'}),
        v4.new_output("display_data", data={"text/html": "<p>x</p><script>alert(1)</script>"}),
    ])
    nb.cells = [hidden_md, params, injected, removed, shown]
    return nb


def test_what_the_page_leaves_out():
    page = render_html(_made_notebook(), lang="en", title="Annual report")
    for hidden in ("不应出现的标题", "PARAMS", "INJECTED", "REMOVED", "SECRET_CODE", "WARNING-ON-STDERR",
                   "HTML-REPR", "Figure size", "<script", "alert("):
        assert hidden not in page, hidden
    soup = BeautifulSoup(page, "html.parser")
    assert soup.html["lang"] == "en" and soup.title.get_text() == "Annual report"
    assert soup.h1.get_text() == "Annual report"  # added: the notebook shows no title
    assert [(h.name, h["id"]) for h in soup.find_all(["h2", "h3"])] == [("h2", "sec-1"), ("h3", "sec-1-1"),
                                                                        ("h2", "sec-2")]
    assert [a["href"] for a in soup.nav.find_all("a")] == ["#sec-1", "#sec-2"]
    assert soup.nav.find_next_sibling() is soup.find("h2")
    assert all(img["alt"].strip() for img in soup.find_all("img"))


def test_tables_are_wrapped_and_their_styles_inlined():
    soup = BeautifulSoup(render_html(_made_notebook(), lang="zh", title="报告"), "html.parser")
    narrow, wide = soup.find_all("table")
    for table in (narrow, wide):
        assert table.parent.name == "div" and table.parent["class"] == ["table-wrap"]
        assert "l1" in table["class"]  # the city column is text: left-aligned
        assert not table.find_all(id=True) and not table.find_all(class_=re.compile("^(data|row|col)"))
        assert table.find("td")["style"] == "color: red"  # kept from the Styler, alignment left to the page
    assert not soup.main.find_all("style")
    # the wide table prints landscape, with its heading, its introduction and its note
    block = wide.find_parent(class_="print-wide")
    assert block is not None and narrow.find_parent(class_="print-wide") is None
    assert [el.name for el in block.find_all(recursive=False)] == ["h2", "p", "div", "p"]
    assert block.find("small").get_text() == "＊ 表注。"


def test_stylesheet_rules_for_paper_and_phone():
    css = (TEMPLATES / "report" / "report.css").read_text(encoding="utf-8")
    assert re.search(r"@page\s*\{[^}]*size:\s*A4 portrait", css)
    assert re.search(r"@bottom-center\s*\{[^}]*counter\(page\)\s*\" / \"\s*counter\(pages\)", css)
    assert re.search(r"@page wide\s*\{\s*size:\s*A4 landscape", css)
    assert re.search(r"thead\s*\{\s*display:\s*table-header-group", css)
    assert re.search(r"h1, h2, h3\s*\{\s*break-after:\s*avoid", css)
    assert "repeat(auto-fill, minmax(min(240px, 100%), 1fr))" in css
    assert '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif' in css
    assert _content_width("portrait") == 672 and _content_width("landscape") == 1001


# ---- the browser ---------------------------------------------------------------------------------


def _fake_browser(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_no_browser_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SATISFACTION_BROWSER", raising=False)
    with pytest.raises(BrowserNotFound) as err:
        find_browser()
    assert isinstance(err.value, SatisfactionError)
    assert ("make installs Debian's chromium when run as root; otherwise apt-get install chromium, "
            "or set SATISFACTION_BROWSER=/path/to/chrome") in str(err.value)
    monkeypatch.setenv("SATISFACTION_BROWSER", str(tmp_path / "no-such-chrome"))
    with pytest.raises(BrowserNotFound, match="no-such-chrome"):
        find_browser()
    chrome = _fake_browser(tmp_path / "my-chrome", "exit 0\n")
    monkeypatch.setenv("SATISFACTION_BROWSER", chrome)
    assert find_browser() == chrome
    monkeypatch.delenv("SATISFACTION_BROWSER")
    _fake_browser(tmp_path / "google-chrome", "exit 0\n")
    assert find_browser() == str(tmp_path / "google-chrome")


def test_a_browser_that_prints_nothing_is_an_error(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    silent = _fake_browser(tmp_path / "broken-chrome", "echo 'GPU process crashed' >&2\nexit 3\n")
    with pytest.raises(PdfError, match="(?s)wrote nothing.*exit code 3.*GPU process crashed"):
        print_pdf(page, tmp_path / "out.pdf", browser=silent)
    # a file that is not a PDF is refused, and an earlier PDF stays as it was
    (tmp_path / "out.pdf").write_bytes(b"%PDF-1.7 earlier")
    liar = _fake_browser(tmp_path / "liar-chrome",
                         'for a; do case "$a" in --print-to-pdf=*) echo "<html>" > "${a#--print-to-pdf=}";; esac; done\n')
    with pytest.raises(PdfError, match="not a PDF"):
        print_pdf(page, tmp_path / "out.pdf", browser=liar)
    assert (tmp_path / "out.pdf").read_bytes() == b"%PDF-1.7 earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-chrome", "liar-chrome", "out.pdf", "page.html"]


def test_the_browser_gets_a_fresh_profile_removed_after(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    log = tmp_path / "args.txt"
    chrome = _fake_browser(tmp_path / "chrome", f"""for a; do echo "$a" >> {log}; done
for a; do case "$a" in --print-to-pdf=*) printf '%%PDF-1.7\\n' > "${{a#--print-to-pdf=}}";; esac; done
""")
    out = print_pdf(page, tmp_path / "sub" / "out.pdf", browser=chrome)
    assert out.read_bytes().startswith(b"%PDF-")
    args = log.read_text(encoding="utf-8").splitlines()
    for flag in HEADLESS_FLAGS:
        assert flag in args
    profile = next(a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir="))
    assert not Path(profile).exists()
    assert args[-1] == page.resolve().as_uri()


def test_printing_goes_on_while_the_caller_works_and_can_be_stopped(tmp_path):
    """:class:`PrintJob`: the browser prints in the background (the report writes its tables and
    figures meanwhile); ``wait`` gives the PDF, ``cancel`` stops a browser still printing — and the
    processes it started — and either leaves no profile folder or partial file behind."""
    import time

    from satisfaction.report.browser import PrintJob

    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    log = tmp_path / "args.txt"
    slow = _fake_browser(tmp_path / "slow-chrome", f"""for a; do echo "$a" >> {log}; done
sleep 1 &
sleep 1
for a; do case "$a" in --print-to-pdf=*) printf '%%PDF-1.7\\n' > "${{a#--print-to-pdf=}}";; esac; done
""")
    started = time.monotonic()
    job = PrintJob(page, tmp_path / "out" / "a.pdf", browser=slow)
    assert time.monotonic() - started < 0.9                      # started, not waited for
    assert job.wait().read_bytes().startswith(b"%PDF-")
    job.cancel()                                                  # nothing left to stop
    profile = next(a.split("=", 1)[1] for a in log.read_text(encoding="utf-8").splitlines()
                   if a.startswith("--user-data-dir="))
    assert not Path(profile).exists()

    hung = _fake_browser(tmp_path / "hung-chrome", f"""for a; do echo "$a" >> {log}.2; done
sleep 60 &
sleep 60
""")
    job = PrintJob(page, tmp_path / "out" / "b.pdf", browser=hung)
    time.sleep(0.2)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 10                        # the browser and its child were stopped
    profile = next(a.split("=", 1)[1] for a in Path(f"{log}.2").read_text(encoding="utf-8").splitlines()
                   if a.startswith("--user-data-dir="))
    assert not Path(profile).exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.pdf"]

    with pytest.raises(PdfError, match="did not finish printing within 0.5 s"):
        PrintJob(page, tmp_path / "out" / "c.pdf", browser=hung, timeout=0.5).wait()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.pdf"]
