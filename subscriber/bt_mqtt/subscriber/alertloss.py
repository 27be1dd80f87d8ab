"""Transit loss over a time window, from issue 12's seq ledger (the one account of loss), pure.

The ledger (``seq_ledger``, see ``ledger``) keeps per (scanner, boot) the seqs received and the
highest seq published, but no times.  ``LossWindow`` remembers, at each evaluation, how far
each boot had published; the window's seqs of a boot are then those after the mark taken
``window_s`` ago (``marks``) up to what it has published now.  Lost = published in the window
minus received among those seqs.  Adverts the privacy policy dropped are in the ledger as
received, so they are never counted as lost.

The first evaluation only takes marks (the ledger's older history is not this window's).  A
boot that appears later is new: all of its seqs are in the window.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from attrs import define

BootKey = tuple[str, str]  # (scanner_id, boot)


@define(frozen=True)
class BootLoss:
    """One boot now: ``published`` its highest seq, ``received`` how many of its seqs above
    the mark given to the query are in the ledger."""

    scanner_id: str
    boot: str
    published: int
    received: int


class LossWindow:
    """The marks of the last ``window_s`` (see the module docstring)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._marks: deque[tuple[datetime, dict[BootKey, int]]] = deque()

    def marks(self, now: datetime) -> dict[BootKey, int] | None:
        """Each known boot's published seq at the window's start (None: no marks yet, this is
        the first evaluation)."""
        start = now - timedelta(seconds=self.window_s)
        while len(self._marks) >= 2 and self._marks[1][0] <= start:
            self._marks.popleft()
        return self._marks[0][1] if self._marks else None

    def mark_time(self) -> datetime | None:
        """When the marks ``marks`` last returned were taken."""
        return self._marks[0][0] if self._marks else None

    def account(
        self, now: datetime, marks: dict[BootKey, int] | None, boots: list[BootLoss]
    ) -> dict[str, tuple[int, int]]:
        """Per scanner (published, arrived) in the window, from the ledger rows read with
        ``marks``; remembers this evaluation's marks."""
        self._marks.append((now, {(b.scanner_id, b.boot): b.published for b in boots}))
        out: dict[str, tuple[int, int]] = {}
        if marks is None:
            return out
        for b in boots:
            lo = marks.get((b.scanner_id, b.boot), 0)
            published = max(b.published - lo, 0)
            p, a = out.get(b.scanner_id, (0, 0))
            out[b.scanner_id] = (p + published, a + min(b.received, published))
        return out
