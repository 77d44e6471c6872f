"""Sections of the annual report built by a worker process while the notebook shows the others.

A publishing run is a chain of steps on one core, while a second core waits. When the machine has
a core to spare, :func:`open_report` starts this module as a worker process (:meth:`Prefetch.start`)
with the run's settings. The worker builds its own :class:`~satisfaction.report.AnnualReport` from the
same inputs and settings — hence the same numbers, words and figure bytes — and writes the sections
of :data:`SECTIONS` (regions and groups, the method appendix: built from the year's data, needing
little of what the sections before them compute) to files: their blocks, their display
outputs and their figures rendered as PNG and SVG, one file per section as soon as it is built. When
the notebook reaches such a section it takes it from its file (:meth:`Prefetch.take`) instead of
building it.

The worker can only save time, never change what is published: if it failed, was stopped, is more
than :data:`WAIT` seconds late, or built a report whose sections are numbered otherwise, the notebook
builds the sections itself as it would without it. ``SATISFACTION_PREFETCH=0`` turns it off.

Run as ``python -m satisfaction.report.prefetch FOLDER`` with the settings as JSON on standard input.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import replace
from pathlib import Path

__all__ = ["ENV", "SECTIONS", "WAIT", "Prefetch", "RenderedFigure"]

#: The sections the worker builds: they depend only on the year's data and the settings, and take
#: about a quarter of a report's time, which the notebook spends meanwhile on the sections before them.
SECTIONS = ("groups", "appendix")
#: Set to ``0`` to build every section in the notebook's own process.
ENV = "SATISFACTION_PREFETCH"
#: Seconds the notebook waits for a worker still at work before building the sections itself.
WAIT = 600.0


class RenderedFigure:
    """A figure the worker drew, as the notebook needs it: its title (the image's alternative text)
    and its PNG and SVG bytes (:func:`satisfaction.report.display.rendered` returns these)."""

    def __init__(self, title: str, images: dict[str, bytes]):
        self.title = title
        self.images = dict(images)

    def __repr__(self) -> str:
        return f"RenderedFigure({self.title!r}, {sorted(self.images)})"


def _idle_cores(window: float = 0.1) -> float:
    """About how many cores a second process would have to itself: the cores left idle over a short
    ``window`` (``/proc/stat``; elsewhere the cores less the one-minute load average), less the
    one this run keeps busy."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1

    def times() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])       # idle + iowait, all but guest time

    try:
        idle0, total0 = times()
        time.sleep(window)
        idle1, total1 = times()
        online = os.cpu_count() or cores
        idle = online * (idle1 - idle0) / max(total1 - total0, 1)
    except (OSError, ValueError, IndexError):
        try:
            idle = cores - os.getloadavg()[0]
        except (AttributeError, OSError):
            idle = cores
    return min(idle, cores) - 1.0        # this run itself keeps one core busy


class Prefetch:
    """The worker process of one report run (see the module's description)."""

    def __init__(self, proc: subprocess.Popen, folder: Path, keys: tuple[str, ...]):
        self.keys = keys
        self._proc = proc
        self._folder = folder
        self._taken: set[str] = set()
        # a run that stops early (a section raised) leaves no worker or file behind, at the latest
        # when the process exits
        self._finalizer = weakref.finalize(self, _stop, proc, str(folder))

    @classmethod
    def start(cls, settings: dict, keys: tuple[str, ...] = SECTIONS) -> "Prefetch | None":
        """Start the worker for a report of ``settings`` (the keyword arguments of
        :class:`~satisfaction.report.AnnualReport`, and ``year``: JSON values), or return None where
        it would not help — no core to spare (one core, or a machine busy with other work: the worker
        would then only add its own start-up to the run) — or ``SATISFACTION_PREFETCH=0``."""
        if os.environ.get(ENV, "1").strip() == "0" or _idle_cores() < 0.5 or not keys:
            return None
        folder = Path(tempfile.mkdtemp(prefix="satisfaction-prefetch-"))
        try:
            proc = subprocess.Popen([sys.executable, "-m", __name__, str(folder)],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with proc.stdin:
                proc.stdin.write(json.dumps({**settings, "keys": list(keys)}).encode("utf-8"))
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return cls(proc, folder, tuple(keys))

    def take(self, report, key: str) -> bool:
        """Put the worker's section ``key`` into ``report`` (its built blocks and display outputs),
        once; returns whether it did. Waits for the worker to finish that section (the worker writes
        each one as soon as it is built), at most :data:`WAIT` seconds."""
        if key not in self.keys or key in self._taken:
            return False
        self._taken.add(key)
        try:
            path = self._folder / f"{key}.pickle"
            deadline = time.monotonic() + WAIT
            while not path.is_file():
                if self._proc.poll() is not None and not path.is_file():
                    return False        # the worker stopped without it
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
            with path.open("rb") as fh:
                payload = pickle.load(fh)
            if payload["headings"] != [h for h, _ in report.numbered()]:
                return False
            _install(report, key, payload["section"])
            return True
        except Exception:       # an unreadable file: the notebook builds the section itself
            return False
        finally:
            if self._taken >= set(self.keys) or self._proc.poll() not in (None, 0):
                self._finalizer()

    def close(self) -> None:
        """Stop the worker if it is still at work and remove its files."""
        self._taken.update(self.keys)
        self._finalizer()


def _stop(proc: subprocess.Popen, folder: str) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


def _install(report, key: str, part: dict) -> None:
    from .display import _RENDERED

    blocks_cache = report.__dict__.setdefault("_blocks", {})
    if key in blocks_cache:              # built meanwhile: keep the notebook's own
        return
    for block in part["blocks"]:
        for fig in [getattr(block, "figure", None), *getattr(block, "panels", [])]:
            if isinstance(fig, RenderedFigure):
                _RENDERED[fig] = dict(fig.images)
    blocks_cache[key] = part["blocks"]
    report.__dict__.setdefault("_outputs", {})[key] = part["outputs"]


def _portable(block):
    """A block that can travel between processes: tables without their attached covariances (the
    files use the numbers alone), figures as :class:`RenderedFigure`."""
    from .display import figure_title, rendered
    from .sections.base import Figure, Table

    if isinstance(block, Table):
        display, data = block.display.copy(deep=False), block.data.copy(deep=False)
        display.attrs, data.attrs = {}, {}
        return replace(block, display=display, data=data)
    if isinstance(block, Figure):
        fig = RenderedFigure(figure_title(block.figure), {fmt: rendered(block.figure, fmt) for fmt in ("png", "svg")})
        panels = [RenderedFigure(figure_title(p), {"png": rendered(p, "png")}) for p in block.panels]
        return replace(block, figure=fig, panels=panels)
    return block


def build(settings: dict, folder: Path) -> None:
    """The worker's work: the report of ``settings`` and, per section of ``settings["keys"]`` in
    turn, a file ``<key>.pickle`` in ``folder`` holding the report's section headings and the
    section's portable blocks and display outputs, written as soon as the section is built."""
    from .annual import AnnualReport
    from .display import section_outputs

    report = AnnualReport(settings["year"], processed_dir=settings["processed_dir"], codebook=settings["codebook"],
                          region=settings["region"], lang=settings["lang"], replicates=settings["replicates"],
                          draws=settings["draws"], seed=settings["seed"], issued=settings["issued"])
    report.store_shared = False          # the worker writes nothing but its own files
    headings = [h for h, _ in report.numbered()]
    present = {s.key for s in report.sections}
    parent = os.getppid()
    for key in settings["keys"]:
        if key not in present:
            continue
        outputs = section_outputs(report, key)
        section = {"blocks": [_portable(b) for b in report.render(key)], "outputs": outputs}
        if os.getppid() != parent:       # the run that asked has gone: nobody will read the files
            shutil.rmtree(folder, ignore_errors=True)
            return
        partial = folder / f".{key}.partial"
        with partial.open("wb") as fh:
            pickle.dump({"headings": headings, "section": section}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, folder / f"{key}.pickle")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    build(json.loads(sys.stdin.read()), Path(argv[0]))
    return 0


if __name__ == "__main__":
    # run as the package's module, not as __main__, so that what it writes names the package's classes
    from satisfaction.report.prefetch import main as _main

    sys.exit(_main())
