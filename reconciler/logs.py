"""Structured logs for the watch loop: one event per line, JSON or text, on stderr.

Each record carries ``event`` and, when they apply, ``target`` (``watch --targets``),
``model`` (the resource's name), ``kind``, ``action`` and ``reason``. Only those fields and
the message are written, so credentials can never reach a log line through it. Called by
``commands`` and ``fleet`` (setup) and ``watch`` (events).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "reconciler"
_FIELDS = ("event", "target", "model", "kind", "action", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry["message"] = record.getMessage()
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{name}={getattr(record, name)}"
            for name in _FIELDS[1:]
            if getattr(record, name, None) is not None
        )
        event = getattr(record, "event", "-")
        line = f"{stamp} {record.levelname.lower():<7} {event}: {record.getMessage()}"
        return f"{line} [{extras}]" if extras else line


def setup(log_format: str | None) -> logging.Logger:
    """Send the reconciler's events to stderr; JSON unless stderr is a terminal."""
    chosen = log_format or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def event(logger: logging.Logger, level: int, name: str, message: str, **fields: Any) -> None:
    """Log one event with its structured fields."""
    logger.log(level, message, extra={"event": name, **fields})


def for_target(name: str) -> logging.Logger:
    """The logger of one target's loop: every record carries ``target`` (after ``setup``)."""
    logger = logging.getLogger(f"{LOGGER_NAME}.target.{name}")

    def label(record: logging.LogRecord) -> bool:
        record.target = name
        return True

    logger.filters[:] = [label]
    return logger
