"""The ``satisfaction`` logger: what the commands report, for a person or for a scheduler.

Human format (default): one line per message on standard error, ``error: …`` for errors. JSON
format (``--log-format json``): one JSON object per line with ``time``, ``level``, ``event``,
``message`` and the event's fields (``year``, ``path``, ``exit_code``, row counts, …), so that cron
wrappers and Airflow can parse what happened without reading prose.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys

LOGGER = "satisfaction"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"error: {text}" if record.levelno >= logging.ERROR else (
            f"warning: {text}" if record.levelno >= logging.WARNING else text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "event": getattr(record, "event", record.levelname.lower()),
                 "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k != "event"})
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(fmt: str = "human", level: int = logging.INFO) -> logging.Logger:
    """Send the ``satisfaction`` logger to standard error in ``fmt`` ("human" or "json")."""
    logger = logging.getLogger(LOGGER)
    for h in list(logger.handlers):
        if getattr(h, "_satisfaction", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._satisfaction = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
