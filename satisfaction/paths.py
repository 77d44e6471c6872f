"""Where the project's folders are.

A project is a folder holding ``data/raw/codebook.yaml`` (``satisfaction init DIR`` lays one out).
The project root is, in order: the folder given explicitly (``--project DIR`` on the command line,
the ``project`` parameter of a notebook), the ``SATISFACTION_HOME`` environment variable, the nearest
folder at or above the current directory that holds ``data/raw/codebook.yaml``. Where none is found
the error says so and how to name one; nothing falls back to the installed package's folder.

Relative paths given to the public loaders (``load_codebook``, ``read_processed``, …) and to the
notebooks are read relative to the project root, so a notebook opened from ``notebooks/`` and a run
from the project root read the same files; a path that exists relative to the current directory is
taken as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
HOME_ENV = "SATISFACTION_HOME"
MARKER = Path("data") / "raw" / "codebook.yaml"


class ProjectNotFound(UsageError):
    """No project folder: none given, none in ``SATISFACTION_HOME``, none at or above the current folder."""


def find_project(start: str | Path | None = None) -> Path | None:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def project_root(explicit: str | Path | None = None) -> Path:
    """The project folder (see the module's docstring); raises :class:`ProjectNotFound`."""
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / MARKER).is_file():
            raise ProjectNotFound(f"{root} is not a satisfaction project: it holds no {MARKER.as_posix()} "
                                  f"(create one with `satisfaction init {explicit}`)")
        return root
    root = find_project()
    if root is None:
        raise ProjectNotFound(
            f"no satisfaction project found: {Path.cwd()} and the folders above it hold no {MARKER.as_posix()}. "
            f"Run from inside a project folder, give --project DIR, set {HOME_ENV}=DIR, or create one with "
            f"`satisfaction init DIR` (add --demo for the demo survey)")
    return root


def raw_dir() -> Path:
    return project_root() / "data" / "raw"


def processed_dir() -> Path:
    return project_root() / "data" / "processed"


def reports_dir() -> Path:
    return project_root() / "reports"


def packaged_notebooks() -> Path:
    """The notebooks shipped inside the package (used where the project has none of its own)."""
    return PACKAGE_DIR / "notebooks"


def notebook_path(name: str, root: Path | None = None) -> Path:
    """``<project>/notebooks/<name>`` if the project has its own copy, else the packaged one."""
    own = (root or project_root()) / "notebooks" / name
    return own if own.is_file() else packaged_notebooks() / name


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def resolve(path: str | Path, root: str | Path | None = None) -> Path:
    """A path as given if absolute or if it exists relative to the current folder, else relative to
    the project root (``root`` if given)."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    base = Path(root) if root is not None else find_project()
    return base / path if base is not None else path
