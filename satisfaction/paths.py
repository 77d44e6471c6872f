"""Where the project's folders are.

The project root is, in order: the ``SATISFACTION_HOME`` environment variable; the nearest folder
at or above the current directory that holds ``data/raw/codebook.yaml``; the folder above the
package (an editable install from a checkout).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    env = os.environ.get("SATISFACTION_HOME")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / "raw" / "codebook.yaml").is_file():
            return folder
    return PACKAGE_DIR.parent


def raw_dir() -> Path:
    return project_root() / "data" / "raw"


def processed_dir() -> Path:
    return project_root() / "data" / "processed"


def reports_dir() -> Path:
    return project_root() / "reports"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def resolve(path: str | Path) -> Path:
    """A path as given if absolute, else relative to the project root (so notebooks opened from
    ``notebooks/`` and runs from the project root read the same files)."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path
