"""The annual report does each piece of work once: every section is built once, every figure drawn
and rendered once, every table computed once, whoever shows or writes them (the notebook, the page,
the workbook, the figures folder); and importing the package costs only what its caller uses."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "nbformat", "nbconvert", "jsonschema", "papermill", "IPython",
         "openpyxl", "statsmodels", "pyarrow", "rfc3987_syntax", "lark")


def _modules_after(code: str) -> set[str]:
    """The top-level modules imported by a fresh interpreter running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_package_imports_no_heavy_module():
    loaded = _modules_after("import satisfaction as sat; sat.Codebook, sat.load_codebook, sat.SatisfactionError")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_the_report_package_imports_no_heavy_module():
    # the notebook's first import, and the command line's: the report's modules load with their first use
    loaded = _modules_after("import satisfaction.report")
    # rfc3987_syntax is there only as the stand-in that defers it (its grammar, lark, is not loaded)
    assert not loaded & (set(HEAVY) - {"rfc3987_syntax"}), sorted(loaded & set(HEAVY))


def test_lazy_names_are_the_same_objects():
    import satisfaction as sat
    from satisfaction.ingest import Survey, load_survey

    assert sat.Survey is Survey and sat.load_survey is load_survey
    assert sat.synth.__name__ == "satisfaction.synth" and isinstance(sat.__version__, str)
    assert {"Survey", "load_survey", "synth", "__version__"} <= set(dir(sat))
    with pytest.raises(AttributeError):
        sat.no_such_name  # noqa: B018


def test_jsonschema_checks_iris_as_before_with_the_grammar_loaded_on_first_use():
    """nbformat (hence jsonschema) imported after the report package does not compile the IRI grammar;
    an IRI check, if one runs, still loads it and answers as jsonschema always did."""
    code = """
import satisfaction.report, nbformat, sys
assert "lark" not in sys.modules, "the IRI grammar was compiled at import"
from jsonschema import Draft202012Validator
v = Draft202012Validator({"type": "string", "format": "iri"}, format_checker=Draft202012Validator.FORMAT_CHECKER)
assert v.is_valid("https://例え.jp/ü?q=1") and not v.is_valid("not an iri")
assert "lark" in sys.modules and type(sys.modules["rfc3987_syntax"]).__name__ == "module"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


@pytest.fixture()
def counted(report, monkeypatch):
    """The shared report with its sections to build again, counting each section's build, each chart
    drawn, each figure rendered (by format and figure) and each group's index scores."""
    from satisfaction import breakdowns
    from satisfaction.report import plotting
    from satisfaction.report.sections import SECTIONS
    from satisfaction.report.sections import breakdown as breakdown_section

    calls = collections.Counter()

    def counting(name, func):
        def wrapper(*args, **kwargs):
            calls[name(*args, **kwargs) if callable(name) else name] += 1
            return func(*args, **kwargs)
        return wrapper

    for cls in SECTIONS:
        monkeypatch.setattr(cls, "blocks", counting(lambda self: ("section", self.key), cls.blocks))
    for chart in ("index_bar_chart", "dimension_chart", "rank_range_chart", "quadrant_grid", "quadrant_panels",
                  "caterpillar_chart", "difference_heatmap", "trend_chart"):
        monkeypatch.setattr(plotting, chart, counting(("chart", chart), getattr(plotting, chart)))
    for fmt in ("png", "svg"):
        func = getattr(plotting, f"figure_{fmt}")
        monkeypatch.setattr(plotting, f"figure_{fmt}", counting(lambda fig, *a, _f=fmt, **k: (_f, id(fig)), func))
    scores = counting(lambda design, cb, group, **k: ("group_scores", group), breakdowns.group_scores)
    monkeypatch.setattr(breakdowns, "group_scores", scores)          # what group_tests calls
    monkeypatch.setattr(breakdown_section, "group_scores", scores)   # what the section could call itself
    monkeypatch.setattr("IPython.display.publish_display_data", lambda *a, **k: None)
    report.forget_blocks()
    yield report, calls
    report.forget_blocks()          # the next test gets sections built without the counters


def test_a_published_report_builds_each_section_and_figure_once(counted, tmp_path):
    """As the notebook runs it: every section shown, then every output written. Each section is
    built once, each chart drawn once, each figure (panels included) rendered once per format; the
    workbook, the CSVs and the page reuse the tables and images the notebook showed."""
    from satisfaction.report import show_section, write_outputs

    report, calls = counted
    for section in report.sections:
        show_section(report, section.key)
    write_outputs(report, tmp_path, pdf=False)
    write_outputs(report, tmp_path, pdf=False)      # writing again computes nothing again

    sections = {key for kind, key in calls if kind == "section"}
    assert sections == {s.key for s in report.sections}
    assert all(calls[("section", key)] == 1 for key in sections), calls
    charts = {key: n for (kind, key), n in calls.items() if kind == "chart"}
    assert charts and set(charts.values()) == {1}, charts
    figures = report.figures()
    panels = [p for blocks in report.all_blocks.values() for b in blocks for p in getattr(b, "panels", [])]
    assert {id(f) for f in figures.values()} <= {key for kind, key in calls if kind == "png"}
    assert {key for kind, key in calls if kind == "png"} == {id(f) for f in [*figures.values(), *panels]}
    assert all(n == 1 for (kind, _), n in calls.items() if kind in ("png", "svg")), calls
    assert {key for kind, key in calls if kind == "svg"} == {id(f) for f in figures.values()}
    # the index scores of each population group: once, for its tests and its table together
    groups = {key: n for (kind, key), n in calls.items() if kind == "group_scores"}
    assert groups == {group: 1 for group in report.codebook.demographics}
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {f"figures/{k}.{ext}" for k in figures for ext in ("png", "svg")} <= written
    assert {f"tables/{k}.csv" for k in report.tables()} <= written


def test_building_the_sections_again_gives_the_same_outputs(report, tmp_path):
    from satisfaction.report import write_outputs

    first = write_outputs(report, tmp_path / "a", pdf=False)
    report.forget_blocks()
    again = write_outputs(report, tmp_path / "b", pdf=False)
    assert first == again
    assert Path(tmp_path / "a" / "report.html").read_bytes() == Path(tmp_path / "b" / "report.html").read_bytes()


# ---- sections built by a worker process while the notebook shows the others ---------------------------


def _settings(processed, report) -> dict:
    return {"year": report.year, "processed_dir": str(processed), "codebook": str(report.codebook.path),
            "region": report.ctx.region, "lang": report.lang, "replicates": report.ctx.replicates,
            "draws": report.ctx.draws, "seed": report.ctx.seed, "issued": report.issued.isoformat()}


def test_sections_from_the_worker_are_the_ones_the_notebook_would_build(report, processed, monkeypatch):
    """The worker's sections (same inputs, same settings) give the notebook the same outputs, tables
    and figure bytes as building them in the notebook's process; nothing of the worker is left."""
    import pandas as pd

    from satisfaction.report import AnnualReport
    from satisfaction.report.display import rendered, section_outputs
    from satisfaction.report.prefetch import SECTIONS, Prefetch, RenderedFigure

    monkeypatch.delenv("SATISFACTION_PREFETCH", raising=False)
    monkeypatch.setattr("satisfaction.report.prefetch._idle_cores", lambda: 1.0)
    helped = AnnualReport(report.year, processed_dir=processed, codebook=report.codebook.path,
                          replicates=report.ctx.replicates, draws=report.ctx.draws, issued=report.issued.isoformat())
    helped.prefetch = Prefetch.start(_settings(processed, report))
    folder = helped.prefetch._folder
    for key in SECTIONS:
        assert section_outputs(helped, key) == section_outputs(report, key), key
        mine, theirs = helped.render(key), report.render(key)
        assert [type(b).__name__ for b in mine] == [type(b).__name__ for b in theirs]
        for a, b in zip(mine, theirs):
            if hasattr(a, "data"):
                pd.testing.assert_frame_equal(a.data, b.data)
                pd.testing.assert_frame_equal(a.display, b.display)
            if hasattr(a, "figure"):
                assert isinstance(a.figure, RenderedFigure)
                for fmt in ("png", "svg"):
                    assert rendered(a.figure, fmt) == rendered(b.figure, fmt), (key, fmt)
    assert helped.prefetch._taken == set(SECTIONS) and not folder.exists()


def test_a_failed_worker_leaves_the_notebook_to_build_the_sections(report, processed, tmp_path, monkeypatch):
    from satisfaction.report import AnnualReport
    from satisfaction.report.display import section_outputs
    from satisfaction.report.prefetch import Prefetch

    monkeypatch.setattr("satisfaction.report.prefetch._idle_cores", lambda: 1.0)
    monkeypatch.setenv("SATISFACTION_PREFETCH", "0")
    assert Prefetch.start(_settings(processed, report)) is None            # turned off
    monkeypatch.delenv("SATISFACTION_PREFETCH")
    broken = Prefetch.start({**_settings(processed, report), "processed_dir": str(tmp_path / "nothing")})
    helped = AnnualReport(report.year, processed_dir=processed, codebook=report.codebook.path,
                          replicates=report.ctx.replicates, draws=report.ctx.draws, issued=report.issued.isoformat())
    helped.prefetch = broken
    assert not broken.take(helped, "groups") and broken._proc.returncode != 0 and not broken._folder.exists()
    assert section_outputs(helped, "groups") == section_outputs(report, "groups")
