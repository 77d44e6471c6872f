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
from pathlib import Path

from ..errors import SatisfactionError

__all__ = ["BROWSERS", "BROWSER_ENV", "BrowserNotFound", "PdfError", "browser_command", "find_browser", "print_pdf"]

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
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"no page to print: {html_path}")
    browser = browser or find_browser()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="satisfaction-browser-") as profile:
        fd, partial = tempfile.mkstemp(prefix=f".{pdf_path.name}.", suffix=".partial", dir=pdf_path.parent)
        os.close(fd)
        partial = Path(partial)
        try:
            command = browser_command(browser, profile, f"--print-to-pdf={partial}", html_path.as_uri())
            code, stderr = _run(command, timeout)
            head = partial.read_bytes()[:5] if partial.is_file() else b""
            if head != b"%PDF-":
                what = "wrote nothing" if not head else "wrote a file that is not a PDF"
                raise PdfError(f"{browser} {what} for {html_path} (exit code {code}); its last messages:\n{_tail(stderr)}")
            os.replace(partial, pdf_path)
        finally:
            partial.unlink(missing_ok=True)
    return pdf_path


def _run(command: list[str], timeout: float) -> tuple[int | None, str]:
    """Run the browser in a session of its own, so that on time-out it and its helper processes
    (renderer, zygote) are all stopped; returns the exit code and its stderr."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise PdfError(f"{command[0]} did not finish printing within {timeout:g} s; its last messages:\n"
                       f"{_tail(err.decode('utf-8', 'replace'))}") from None
    return proc.returncode, err.decode("utf-8", "replace")


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
