"""Publishing a folder so that its path always holds a complete version.

A published folder (``reports/2024/guangxi/zh/``) or a processed year (``data/processed/2024/``) is
replaced in three steps, under a lock that keeps a second run for the same folder out:

1. the new contents are built in a staging folder under ``<root>/.staging/`` — outside the published
   tree (the folder people copy), on the same file system so that the swap is a rename;
2. the staging folder and the published one are exchanged in one system call (Linux
   ``renameat2(RENAME_EXCHANGE)``, macOS ``renamex_np(RENAME_SWAP)``): at every instant the path
   holds the complete old or the complete new version; a first publication is a plain rename;
3. the old version, now under ``.staging/``, is removed.

A run killed at any step leaves the published path whole; whatever it left under ``.staging/`` is
removed by the next run that takes the lock. Where the system has no exchange call, the swap falls
back to two renames with the old version parked under ``.staging/`` and restored by the next run
if a crash came between them.

``SATISFACTION_FAULT_AT=<step>`` (or ``<step>:raise``) kills the process (or raises) at a named
step: :data:`FAULT_STEPS`. Tests use it to show the guarantees hold at every step.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import PublishError

STAGING = ".staging"
FAULT_ENV = "SATISFACTION_FAULT_AT"
SWAP_ENV = "SATISFACTION_SWAP"
#: Steps where a fault can be injected, in the order a publication passes them ("parked": only in
#: the fallback of two renames).
FAULT_STEPS = ("locked", "staged", "exchanged", "cleaned")
FALLBACK_STEPS = ("locked", "staged", "parked", "cleaned")

_RENAME_EXCHANGE = 2      # linux/fs.h
_RENAME_SWAP = 0x2        # macOS sys/stdio.h
_AT_FDCWD = -100


def fault_point(step: str) -> None:
    """Kill the process (``SIGKILL``, as a crash or ``kill -9`` would) or raise at ``step`` when
    ``SATISFACTION_FAULT_AT`` names it; nothing otherwise."""
    wanted = os.environ.get(FAULT_ENV, "")
    if not wanted:
        return
    name, _, mode = wanted.partition(":")
    if name != step:
        return
    if mode == "raise":
        raise OSError(f"fault injected at step {step!r}")
    os.kill(os.getpid(), signal.SIGKILL)


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically. False where the system offers no such call (or where
    ``SATISFACTION_SWAP=renames`` asks for the fallback, to test it)."""
    if os.environ.get(SWAP_ENV) == "renames":
        return False
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        rc = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rc = libc.renamex_np(os.fsencode(a), os.fsencode(b), _RENAME_SWAP)
    else:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")


def _key(target: Path, root: Path) -> str:
    """A flat, readable name for a target under ``root``: ``2024__guangxi__zh``."""
    try:
        rel = target.resolve().relative_to(root.resolve())
        parts = rel.parts
    except ValueError:
        parts = target.resolve().parts[1:]
    return "__".join(re.sub(r"[^\w.-]", "_", p) for p in parts) or "root"


class FolderLock:
    """An advisory lock on one published folder (``fcntl.flock`` on a file under ``.staging/``).

    The lock is the kernel's, so it is released when its process dies however it dies: a crashed
    run never leaves a stale lock. ``wait`` seconds to wait for another run (0: refuse at once).
    """

    def __init__(self, path: Path, target: Path, wait: float = 0.0):
        self.path, self.target, self.wait = path, target, wait
        self._fh = None

    def acquire(self) -> "FolderLock":
        try:
            import fcntl
        except ImportError:  # no advisory locks on this system (Windows): one run at a time is on the user
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + max(self.wait, 0.0)
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    fh.close()
                    raise PublishError(f"{self.target} is being published by another run ({holder}); nothing was "
                                       f"changed. Wait for it to finish, or give --wait SECONDS to queue behind it")
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {dt.datetime.now().isoformat(timespec='seconds')}")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class Publication:
    """One publication of ``target``: lock, staging folder, atomic swap.

    >>> with Publication(target, root=reports_root) as pub:   # doctest: +SKIP
    ...     (pub.staging / "report.html").write_text(html)
    ...     pub.commit()

    Leaving the block without :meth:`commit` (an error, or simply not committing) removes the
    staging folder and leaves ``target`` as it was. The lock is held from ``__enter__`` (before any
    work, so a run never computes on data another run is replacing) until the block ends.
    """

    def __init__(self, target: str | Path, *, root: str | Path | None = None, wait: float = 0.0):
        self.target = Path(target)
        self.root = Path(root) if root is not None else self.target.parent
        self.area = self.root / STAGING
        self.key = _key(self.target, self.root)
        self.lock = FolderLock(self.area / f"{self.key}.lock", self.target, wait)
        self.staging: Path | None = None
        self.committed = False

    # ---- set-up -------------------------------------------------------------------------------------
    def __enter__(self) -> "Publication":
        self.open()
        return self

    def open(self) -> "Publication":
        self.area.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            self._recover()
            fault_point("locked")
            self.staging = Path(tempfile.mkdtemp(prefix=f"{self.key}.new-{os.getpid()}-", dir=self.area))
            os.chmod(self.staging, 0o777 & ~_umask())
        except BaseException:
            self.lock.release()
            raise
        return self

    def _recover(self) -> None:
        """Under the lock, anything left under ``.staging/`` for this target is from a run that died:
        restore a parked old version if the target is missing (fallback swap), remove the rest. Also
        remove what older versions of this package left beside the target (hidden temporaries)."""
        parked = self.area / f"{self.key}.old"
        if parked.exists() and not self.target.exists():
            os.replace(parked, self.target)
        for p in self.area.glob(f"{self.key}.*"):
            if p.name != f"{self.key}.lock":
                _remove(p)
        if self.target.parent.is_dir():
            for p in self.target.parent.glob(f".{self.target.name}.*"):
                if p.name.endswith(".tmp") or ".old-" in p.name:
                    _remove(p)

    # ---- the swap -----------------------------------------------------------------------------------
    def commit(self) -> Path:
        """Swap the staging folder in for the target (see the module's docstring)."""
        if self.staging is None or self.committed:
            raise PublishError(f"nothing staged for {self.target}")
        fault_point("staged")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        leftover = None
        try:
            if not self.target.exists():
                os.rename(self.staging, self.target)
            elif exchange(self.staging, self.target):
                leftover = self.staging            # now holds the old version
            else:
                leftover = self.area / f"{self.key}.old"
                os.replace(self.target, leftover)
                fault_point("parked")
                os.replace(self.staging, self.target)
        except OSError as exc:
            raise PublishError(f"could not publish {self.target}: {exc}; the previous version is unchanged") from exc
        # published: from here on a failure only leaves the old version under .staging/ for the next run
        self.committed = True
        fault_point("exchanged")
        if leftover is not None:
            _remove(leftover)
        fault_point("cleaned")
        return self.target

    def close(self) -> None:
        if self.staging is not None and not self.committed:
            _remove(self.staging)
        self.lock.release()

    def __exit__(self, *exc) -> None:
        self.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def replace_dir_atomically(build: Callable[[Path], None], target: str | Path, *, root: str | Path | None = None,
                           wait: float = 0.0) -> Path:
    """Build a folder's contents with ``build(staging_dir)`` and publish them as ``target``.

    If ``build`` raises, the staging folder is removed and ``target`` is untouched. ``root`` is the
    top of the published tree (staging goes to ``<root>/.staging/``); default the target's parent.
    """
    with Publication(target, root=root, wait=wait) as pub:
        build(pub.staging)
        return pub.commit()


@contextlib.contextmanager
def publishing(target: str | Path, *, root: str | Path | None = None, wait: float = 0.0) -> Iterator[Publication]:
    """Context manager form of :class:`Publication` that commits when the block ends without error."""
    with Publication(target, root=root, wait=wait) as pub:
        yield pub
        pub.commit()
