"""Printing the report page to an A4 PDF with a headless Chromium-family browser.

The page's stylesheet sets the paper (A4), the margins and the page numbers (``@page`` with a
``@bottom-center`` margin box, printed by Chromium 131 and later); the browser only prints it. Which
browser: ``SATISFACTION_BROWSER`` if set, else the first of :data:`BROWSERS` on ``PATH``.

``python -m satisfaction.report.browser --check`` exits non-zero when there is none (``make`` then
installs Debian's chromium where it can).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import SatisfactionError

__all__ = ["BROWSERS", "BROWSER_ENV", "BrowserNotFound", "PdfError", "PrintJob", "browser_command", "find_browser", "print_pdf"]

BROWSER_ENV = "SATISFACTION_BROWSER"
#: executables tried on PATH, in order
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge")
#: how to get one, said whenever none is found
INSTALL_HINT = ("make installs Debian's chromium when run as root; otherwise apt-get install chromium, "
                "or set SATISFACTION_BROWSER=/path/to/chrome")
#: headless, no GPU, nothing fetched in the background, no browser-drawn header or footer (the page
#: draws its own page numbers); the PDF gets bookmarks from the headings
HEADLESS_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-pdf-header-footer", "--generate-pdf-document-outline")


class BrowserNotFound(SatisfactionError):
    """No Chromium-family browser to print the PDF with; the message says what to install."""


class PdfError(SatisfactionError):
    """The browser ran but wrote no PDF; the message ends with what the browser said."""


def find_browser() -> str:
    """The browser executable: ``$SATISFACTION_BROWSER`` if set (a path or a name on ``PATH``), else
    the first of :data:`BROWSERS` found on ``PATH``. Raises :class:`BrowserNotFound` otherwise, and
    when the variable names nothing that can be run."""
    chosen = os.environ.get(BROWSER_ENV, "").strip()
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise BrowserNotFound(f"{BROWSER_ENV}={chosen} is not an executable browser; {INSTALL_HINT}")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found is not None:
            return found
    raise BrowserNotFound(f"no Chromium-family browser found (tried {', '.join(BROWSERS)} on PATH); {INSTALL_HINT}")


def browser_command(browser: str, profile: str | Path, *extra: str) -> list[str]:
    """The command line of a headless run of ``browser`` with a throw-away profile folder."""
    return [browser, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *extra]


def print_pdf(html_path: str | Path, pdf_path: str | Path, *, browser: str | None = None, timeout: float = 180) -> Path:
    """Print the page ``html_path`` to ``pdf_path`` (paper, margins and page numbers as its CSS
    says) with a headless browser (:func:`find_browser` unless ``browser`` is given) and return the
    PDF's path.

    The browser gets a fresh profile folder, removed afterwards, and is stopped (with everything it
    started) after ``timeout`` seconds. The PDF is written next to ``pdf_path`` and moved into place
    only once it is a PDF, so a failed run leaves any earlier file untouched. Raises
    :class:`BrowserNotFound` or :class:`PdfError`.
    """
    return PrintJob(html_path, pdf_path, browser=browser, timeout=timeout).wait()


class PrintJob:
    """:func:`print_pdf` started in the background: the browser prints while the caller goes on;
    :meth:`wait` gives the PDF's path (or raises as :func:`print_pdf` does), :meth:`cancel` stops the
    browser and removes what it wrote. Either one leaves nothing behind (profile folder, partial file)."""

    def __init__(self, html_path: str | Path, pdf_path: str | Path, *, browser: str | None = None,
                 timeout: float = 180, cleanup=None):
        self.html_path = Path(html_path).resolve()
        self.pdf_path = Path(pdf_path)
        self.timeout = timeout
        self._cleanup = [cleanup] if cleanup else []
        if not self.html_path.is_file():
            self._close()
            raise FileNotFoundError(f"no page to print: {self.html_path}")
        try:
            self.browser = browser or find_browser()
            self.pdf_path.parent.mkdir(parents=True, exist_ok=True)
            profile = tempfile.mkdtemp(prefix="satisfaction-browser-")
            self._cleanup.append(lambda: shutil.rmtree(profile, ignore_errors=True))
            fd, partial = tempfile.mkstemp(prefix=f".{self.pdf_path.name}.", suffix=".partial", dir=self.pdf_path.parent)
            os.close(fd)
            self._partial = Path(partial)
            self._cleanup.append(lambda: self._partial.unlink(missing_ok=True))
            command = browser_command(self.browser, profile, f"--print-to-pdf={self._partial}", self.html_path.as_uri())
            self._started = time.monotonic()
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, start_new_session=True)
            # the browser's messages are read as they come (a full pipe would stop it while the caller
            # works); the end of them is when the browser and every process it started have exited
            self._err: list[bytes] = []
            self._reader = threading.Thread(target=self._read_messages, daemon=True)
            self._reader.start()
        except BaseException:
            self._kill()
            self._close()
            raise

    def _read_messages(self) -> None:
        for chunk in iter(lambda: self._proc.stderr.read1(65536), b""):
            self._err.append(chunk)

    def wait(self) -> Path:
        """Wait for the browser (at most what is left of ``timeout``); the PDF's path."""
        try:
            self._reader.join(timeout=max(0.0, self.timeout - (time.monotonic() - self._started)))
            if self._reader.is_alive():
                self._kill()
                raise PdfError(f"{self.browser} did not finish printing within {self.timeout:g} s; its last messages:\n"
                               f"{_tail(self._messages())}") from None
            code = self._proc.wait()
            head = self._partial.read_bytes()[:5] if self._partial.is_file() else b""
            if head != b"%PDF-":
                what = "wrote nothing" if not head else "wrote a file that is not a PDF"
                raise PdfError(f"{self.browser} {what} for {self.html_path} (exit code {code}); its last messages:\n"
                               f"{_tail(self._messages())}")
            os.replace(self._partial, self.pdf_path)
        finally:
            self._close()
        return self.pdf_path

    def cancel(self) -> None:
        """Stop the browser (and everything it started) if it is still printing; remove its files.
        Nothing to do once :meth:`wait` returned or raised."""
        if not self._cleanup:
            return
        try:
            self._kill()
        finally:
            self._close()

    def _kill(self) -> None:
        """Stop the browser and the processes it started (its session), and wait for them to let go of the pipe."""
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join()

    def _messages(self) -> str:
        return b"".join(self._err).decode("utf-8", "replace")

    def _close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        while self._cleanup:
            self._cleanup.pop()()


def _tail(text: str, lines: int = 20) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept) or "(nothing on stderr)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m satisfaction.report.browser",
                                     description="Check that a browser is available to print the report's PDF.")
    parser.add_argument("--check", action="store_true", help="exit 1 when no browser is found")
    parser.parse_args(argv)
    try:
        path = find_browser()
    except BrowserNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"browser: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
