"""Logging set-up shared by every program: JSON lines (default) or plain text on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final

from attrs import define, field

from bt_mqtt.core.configfields import one_of

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
FORMATS: Final = ("json", "text")

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "json") -> None:
    """Route the root logger to stderr in the chosen format, replacing earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


@define(frozen=True)
class LogConfig:
    """The ``log`` section every program's configuration has."""

    level: str = field(default="info", validator=one_of(LEVELS))
    format: str = field(default="json", validator=one_of(FORMATS))
