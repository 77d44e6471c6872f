"""satisfaction — a weighted consumer-satisfaction index for cities, from raw survey exports to the
published report.

    import satisfaction as sat
    cb = sat.load_codebook("data/raw/codebook.yaml")
    survey = sat.load_survey(["data/raw/2024/agency_a_2024.csv"], cb)
"""
import os as _os
from importlib.metadata import PackageNotFoundError, version as _version

# openpyxl serialises a workbook differently when lxml is installed (python-docx brings it): keep
# its own writer, so that the same tables give the same workbook bytes whatever else is installed
_os.environ.setdefault("OPENPYXL_LXML", "False")

from . import synth
from .codebook import Codebook, load_codebook
from .errors import CodebookError, Problem, SatisfactionError, ValidationError
from .ingest import Survey, load_survey

try:
    __version__ = _version("satisfaction")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

#: Stage modules reachable as attributes (``sat.ranking.rank_sets``), imported on first use.
SUBMODULES = ("codebook", "design", "drivers", "estimate", "index", "io", "labels", "plotting", "pls", "ranking",
              "reliability", "report", "schemes", "sensitivity", "survey", "weighting")

__all__ = [
    "Codebook", "CodebookError", "Problem", "SatisfactionError", "Survey", "ValidationError",
    "load_codebook", "load_survey", "synth", "__version__", *SUBMODULES,
]


def __getattr__(name: str):
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'satisfaction' has no attribute {name!r}")
