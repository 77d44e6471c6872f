"""Errors raised by the toolkit.

Every problem with an input names *where* it is (file, row, column), *what* was found (value) and
*which rule* it breaks, so that a field team can fix the export without reading code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


class SatisfactionError(ValueError):
    """Base class of every error the toolkit raises on purpose: bad input, a design or model that
    cannot be analysed as asked. The command line turns these (and only these) into exit code 2;
    anything else is a bug and shows as one. Subclasses ``ValueError`` so that existing
    ``except ValueError`` code keeps working."""


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
