"""Errors raised by the toolkit.

Every problem with an input names *where* it is (file, row, column), *what* was found (value) and
*which rule* it breaks, so that a field team can fix the export without reading code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the command line, one per kind of outcome, so that a scheduler can tell them apart.

    ======  ==========================================================================================
    0       done
    1       an unexpected error: a bug, with its traceback (please report it)
    2       command-line misuse: an unknown option, a missing or malformed argument, no project found
    3       bad input: data, codebook, margins or targets that break a rule; a design that cannot be
            analysed (every problem is listed: file, row, column, value, rule)
    4       the analysis failed for another reason (the report notebook stopped; its partial notebook is
            kept and named)
    5       publishing failed: another run holds the folder's lock, no browser for the PDF, a disk error;
            the previously published folder is untouched
    6       ``ingest --fail-on-rejects``: the year was written, but rows were rejected
    ======  ==========================================================================================
    """

    OK = 0
    BUG = 1
    USAGE = 2
    BAD_INPUT = 3
    ANALYSIS_FAILED = 4
    PUBLISH_FAILED = 5
    REJECTS = 6


class SatisfactionError(ValueError):
    """Base class of every error the toolkit raises on purpose: bad input, a design or model that
    cannot be analysed as asked. The command line turns these into their ``exit_code`` (bad input, 3,
    unless a subclass says otherwise); anything else is a bug and shows as one. Subclasses
    ``ValueError`` so that existing ``except ValueError`` code keeps working."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(SatisfactionError):
    """A command or a notebook run asked for something that is not offered: an unknown parameter, a
    value of the wrong type, no project folder."""

    exit_code = ExitCode.USAGE


class AnalysisError(SatisfactionError):
    """The analysis stopped for a reason that is not bad input."""

    exit_code = ExitCode.ANALYSIS_FAILED


class PublishError(SatisfactionError):
    """A folder could not be published: another run holds its lock, a tool is missing, a disk error.
    The previously published folder is left whole."""

    exit_code = ExitCode.PUBLISH_FAILED


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    ``row`` is the row as a spreadsheet shows it (the header is row 1, the first answer row 2);
    ``None`` when the problem concerns the whole file or a whole column.
    """

    file: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}: [{self.rule}] {self.message}{shown}"

    def as_dict(self) -> dict:
        return asdict(self)


class ValidationError(SatisfactionError):
    """Raised when inputs break a rule. ``problems`` lists every problem found, not only the first."""

    def __init__(self, problems: list[Problem], *, limit: int = 50):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:limit]]
        more = len(self.problems) - limit
        if more > 0:
            lines.append(f"… and {more} more problem(s)")
        super().__init__(f"{len(self.problems)} problem(s) found:\n" + "\n".join(lines))


class CodebookError(SatisfactionError):
    """Raised when a codebook is malformed; the message names the file and the offending key."""

    def __init__(self, path: str, errors: list[str]):
        self.path = str(path)
        self.errors = list(errors)
        super().__init__(f"invalid codebook {self.path}:\n" + "\n".join(f"  - {e}" for e in self.errors))
