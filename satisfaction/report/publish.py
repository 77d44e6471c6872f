"""Running the report notebook with papermill and publishing its folder atomically."""
from __future__ import annotations

import base64
import datetime as dt
import os
import re
from pathlib import Path

import nbformat

from ..codebook import load_codebook
from ..ingest import atomic_write_bytes, replace_dir_atomically
from ..paths import notebooks_dir, processed_dir, project_root, reports_dir
from .annual import NOTEBOOK, REPLICATES, SENSITIVITY_DRAWS, STAGING_ENV
from .labels import check_lang, t



_CSS = """
<style>
  body, .jp-Notebook { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
                       "WenQuanYi Zen Hei", "Helvetica Neue", Arial, sans-serif; }
  .jp-Notebook { max-width: 1100px; margin: 0 auto; }
  table.dataframe { border-collapse: collapse; font-size: 14px; }
  table.dataframe th, table.dataframe td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
  table.dataframe th { background: #f3f6fa; }
  /* a wide table scrolls sideways on a phone instead of wrapping a city name letter by letter */
  table.dataframe { display: block; max-width: 100%; overflow-x: auto; }
  table.dataframe th, table.dataframe td { white-space: nowrap; }
  img { max-width: 100%; height: auto; }
  @page { size: A4 landscape; margin: 12mm; }
  @media print {
    table.dataframe { display: table; font-size: 9px; width: 100%; }
    table.dataframe th, table.dataframe td { white-space: normal; padding: 2px 4px; }
    table.dataframe, img { page-break-inside: avoid; break-inside: avoid; }
    h2, h3 { page-break-after: avoid; break-after: avoid; }
    .jp-Notebook { max-width: none; }
  }
</style>
"""


def notebook_to_html(notebook: str | Path | nbformat.NotebookNode, *, lang: str = "zh", title: str | None = None) -> str:
    """Render an executed notebook as a self-contained HTML page without code.

    Inputs, prompts, stderr streams and cells tagged ``remove`` are left out; images are embedded as data URIs; no script is
    loaded from the network.
    """
    from nbconvert import HTMLExporter

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(str(notebook), as_version=4)
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if "remove" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    exporter.mathjax_url = ""
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or "report"}})
    # The report needs no script: drop them all (the template's MathJax and Mermaid loaders would
    # otherwise fetch code from the network when the page is opened).
    body = re.sub(r"<script\b[^>]*>.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<html>|<html lang=\"[^\"]*\">", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', body, count=1)
    body = body.replace("</head>", _CSS + "</head>", 1)
    return body


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def run_report(year: int, *, region: str | None = None, lang: str = "zh", processed_root: str | Path | None = None,
               output_root: str | Path | None = None, codebook: str | Path | None = None,
               notebook: str | Path | None = None, progress: bool = True, replicates: int | None = None,
               draws: int | None = None, seed: int | None = None, issued: str | None = None) -> Path:
    """Execute the annual-report notebook with papermill and publish ``<output_root>/<year>/<region>/``.

    ``replicates``, ``draws`` and ``seed`` are the analysis settings (defaults: the report's
    constants and the year); ``issued`` the date of issue (default today).

    Returns the folder written. Raises (and leaves any earlier report in place) if the notebook fails.
    """
    import papermill as pm

    from ..kernel import ensure_kernel

    check_lang(lang)
    root = project_root()
    codebook = Path(codebook) if codebook else root / "data" / "raw" / "codebook.yaml"
    cb = load_codebook(codebook)
    region = region or cb.region["code"]
    processed_root = Path(processed_root) if processed_root else processed_dir()
    output_root = Path(output_root) if output_root else reports_dir()
    notebook = Path(notebook) if notebook else notebooks_dir() / NOTEBOOK
    if not (processed_root / str(year) / "manifest.json").is_file():
        raise FileNotFoundError(f"no processed data for {year} in {processed_root}; run `satisfaction ingest --year {year}` first")
    target = output_root / str(year) / region
    parameters = {
        "year": int(year), "region": region, "lang": lang,
        "processed_dir": _relative(processed_root, root), "codebook_path": _relative(codebook, root),
        "output_dir": _relative(target, root),
        "replicates": int(replicates or REPLICATES), "draws": int(draws or SENSITIVITY_DRAWS),
        "seed": None if seed is None else int(seed),
        "issued": str(issued) if issued else dt.date.today().isoformat(),
    }
    kernel = ensure_kernel()

    def build(staging: Path) -> None:
        executed = staging / NOTEBOOK
        previous = os.environ.get(STAGING_ENV)
        os.environ[STAGING_ENV] = str(staging.resolve())
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                                cwd=str(root), progress_bar=progress, report_mode=False)
        finally:
            if previous is None:
                os.environ.pop(STAGING_ENV, None)
            else:
                os.environ[STAGING_ENV] = previous
        nb = nbformat.read(str(executed), as_version=4)
        nb.metadata.setdefault("papermill", {})
        nb.metadata["papermill"]["input_path"] = _relative(notebook, root)
        nb.metadata["papermill"]["output_path"] = _relative(target / NOTEBOOK, root)
        for cell in nb.cells:  # papermill gives the cell it injects a random id: a fixed one keeps runs identical
            if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                cell["id"] = "injected-parameters"
        nbformat.write(nb, str(executed))
        title = t("report_title", lang, year=year, region=cb.region["en" if lang == "en" else "zh"])
        atomic_write_bytes(staging / "report.html", notebook_to_html(nb, lang=lang, title=title).encode("utf-8"))

    return replace_dir_atomically(build, target)


def embedded_images(html: str) -> list[bytes]:
    """The PNG images embedded in a report page (for checks)."""
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
