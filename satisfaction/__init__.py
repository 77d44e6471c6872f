"""satisfaction — a weighted consumer-satisfaction index for cities, from raw survey exports to the
published report.

    import satisfaction as sat
    cb = sat.load_codebook("data/raw/codebook.yaml")
    survey = sat.load_survey(["data/raw/2024/agency_a_2024.csv"], cb)
"""
from importlib.metadata import PackageNotFoundError, version as _version

from . import synth
from .codebook import Codebook, load_codebook
from .errors import CodebookError, Problem, ValidationError
from .io import Survey, load_survey

try:
    __version__ = _version("satisfaction")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = [
    "Codebook", "CodebookError", "Problem", "Survey", "ValidationError",
    "load_codebook", "load_survey", "synth", "__version__",
]
