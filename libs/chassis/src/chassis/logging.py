"""Log formatters: JSON lines (the default) or text, both carrying ``extra`` fields.

Django's ``LOGGING`` (``chassis.settings``) and gunicorn's ``logconfig_dict``
(``chassis.gunicorn``) both use them, so the web server, Django and the event consumers write
one uniform line per record to stderr.

``log.info("applied", extra={"event_id": e, "topic": t, "partition": p, "offset": o})``
puts those keys at the top level of the JSON line (``key=value`` pairs in text mode).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The attributes a record got from ``extra=`` (everything a plain LogRecord lacks)."""
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message`` and the extras.

    Machine-readable logs let a log pipeline filter on event id, topic or offset without
    parsing free text. An extra never overwrites one of the four standard keys.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line; values JSON cannot encode are written with ``str()``."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A human-readable line for development, with the extras as ``[key=value ...]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The standard text line with the extras appended to its first line."""
        line = super().format(record)
        extras = _extras(record)
        if extras:
            # Put the extras on the first line, before any traceback.
            first, sep, rest = line.partition("\n")
            pairs = " ".join(f"{key}={value}" for key, value in extras.items())
            line = f"{first} [{pairs}]{sep}{rest}"
        return line


def logging_config(*, formatter: str, level: str, loggers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: every record to stderr through the root logger.

    ``formatter`` is ``"json"`` or ``"text"``; ``loggers`` lists the loggers whose own
    handlers are dropped so their records reach the root handler once. Django's ``LOGGING``
    and gunicorn's ``logconfig_dict`` are both built here, so they cannot drift apart.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "chassis.logging.JsonFormatter"},
            "text": {"()": "chassis.logging.TextFormatter"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
            },
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": loggers,
    }
