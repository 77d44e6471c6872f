"""Laying out a new project folder (``satisfaction init DIR``).

A project is a folder holding ``data/raw/codebook.yaml``; :mod:`satisfaction.paths` finds it. The new
folder gets the demo codebook to edit, empty ``data/raw/``, ``data/processed/`` and ``reports/``
folders, a README and a ``.gitignore`` for the outputs; with ``demo=True`` also the demo survey
(14 cities, 2019-2024, or the ``years`` asked for), its population margins and the demo plan targets
(``data/raw/targets.yaml``), so that ``satisfaction report`` runs at once.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import UsageError
from .paths import MARKER, PACKAGE_DIR

TEMPLATE = PACKAGE_DIR / "project_files"


def demo_codebook_path() -> Path:
    """The demo codebook shipped with the package."""
    return TEMPLATE / "codebook.yaml"


def init_project(folder: str | Path, *, demo: bool = False, seed: int | None = None, years=None) -> Path:
    """Create a project in ``folder`` (created if missing; refused if it already holds a codebook)."""
    folder = Path(folder).expanduser().resolve()
    if (folder / MARKER).exists():
        raise UsageError(f"{folder} already holds {MARKER.as_posix()}; nothing was changed")
    for sub in ("data/raw", "data/processed", "reports"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_codebook_path(), folder / MARKER)
    for name, target in (("README.md", "README.md"), ("gitignore", ".gitignore")):
        if not (folder / target).exists():
            shutil.copyfile(TEMPLATE / name, folder / target)
    if demo:
        from .synth import DEFAULT_SEED, write_raw

        shutil.copyfile(TEMPLATE / "targets.yaml", folder / "data" / "raw" / "targets.yaml")
        write_raw(folder / "data" / "raw", seed=DEFAULT_SEED if seed is None else seed, codebook=folder / MARKER,
                  years=years)
    return folder
