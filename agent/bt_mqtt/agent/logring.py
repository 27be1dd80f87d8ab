"""The last log lines in memory, for the ``get-logs`` command.

``RingHandler`` keeps the last ``capacity`` records, formatted as the agent's log is (JSON or
text), in a bounded deque; installed on the root logger only when commands are enabled.
"""

from __future__ import annotations

import logging
from collections import deque


class RingHandler(logging.Handler):
    """A logging handler keeping the last ``capacity`` formatted lines."""

    def __init__(self, capacity: int, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=capacity)
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log line must never break the agent
            self.handleError(record)

    def last(self, n: int) -> list[str]:
        """The last ``n`` lines, oldest first."""
        if n <= 0:
            return []
        lines = list(self.lines)
        return lines[-n:]


def install(capacity: int) -> RingHandler:
    """A ring handler on the root logger, formatting like the root's first handler."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    handler = RingHandler(capacity, formatter)
    root.addHandler(handler)
    return handler
