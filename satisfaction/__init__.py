"""satisfaction — a weighted consumer-satisfaction index for cities, from raw survey exports to the
published report.

    import satisfaction as sat
    cb = sat.load_codebook("data/raw/codebook.yaml")
    survey = sat.load_survey(["data/raw/2024/agency_a_2024.csv"], cb)
"""
import os as _os

# openpyxl serialises a workbook differently when lxml is installed (python-docx brings it): keep
# its own writer, so that the same tables give the same workbook bytes whatever else is installed
_os.environ.setdefault("OPENPYXL_LXML", "False")

from .codebook import Codebook, load_codebook
from .errors import CodebookError, Problem, SatisfactionError, ValidationError

#: Stage modules reachable as attributes (``sat.ranking.rank_sets``), imported on first use.
SUBMODULES = ("codebook", "design", "drivers", "estimate", "index", "io", "labels", "plotting", "pls", "ranking",
              "reliability", "report", "schemes", "sensitivity", "survey", "synth", "weighting")
#: Names of a module that load with it on first use (reading survey exports needs pandas; a command
#: that only checks its arguments, or reads the codebook, does not).
_LAZY = {"Survey": "ingest", "load_survey": "ingest"}

__all__ = [
    "Codebook", "CodebookError", "Problem", "SatisfactionError", "Survey", "ValidationError",
    "load_codebook", "load_survey", "__version__", *SUBMODULES,
]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("satisfaction")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0+unknown"


def __getattr__(name: str):
    import importlib

    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name == "__version__":
        value = _package_version()
    else:
        raise AttributeError(f"module 'satisfaction' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
