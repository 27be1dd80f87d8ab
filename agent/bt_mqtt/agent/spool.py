"""The agent's spool: adverts that have a seq and are not yet written to the broker.

Pure code, no I/O.  Everything the pipeline gives a seq goes through here, oldest first: while
connected the spool holds one batch for a few milliseconds; while the broker is unreachable it
holds everything until the connection is back, so a broker restart loses nothing.  It is
bounded by a number of messages and of payload bytes: ``room`` turns False when either is
reached, and the caller must then drop (and count) new adverts *before* giving them a seq.
What is already in the spool is never dropped: ``requeue`` puts payloads that were written but
not acknowledged when a connection was lost back at the front, even past the bounds (they are
at most the in-flight limit).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import islice
from typing import Final

DEFAULT_MAX_MESSAGES: Final = 20_000
DEFAULT_MAX_MB: Final = 8.0


class Spool:
    """A FIFO of payloads with a count and a byte bound (see the module docstring)."""

    __slots__ = ("_q", "bytes", "max_bytes", "max_messages", "peak", "room")

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("a spool needs room for at least one message and one byte")
        self._q: deque[bytes] = deque()
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.bytes = 0  # payload bytes held
        self.peak = 0  # the most messages held at once since start
        self.room = True  # another push is allowed

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def push(self, payload: bytes) -> None:
        """Append ``payload`` (the caller checked ``room``)."""
        q = self._q
        q.append(payload)
        self.bytes += len(payload)
        n = len(q)
        if n > self.peak:  # noqa: PLR1730 - the hot path: cheaper than a call to max()
            self.peak = n
        if n >= self.max_messages or self.bytes >= self.max_bytes:
            self.room = False

    def take(self, n: int) -> list[bytes]:
        """Remove and return the oldest ``n`` payloads (all of them if fewer)."""
        q = self._q
        if n >= len(q):
            out = list(q)
            q.clear()
            self.bytes = 0
        else:
            out = [q.popleft() for _ in range(n)]
            self.bytes -= sum(map(len, out))
        self._update_room()
        return out

    def peek(self, n: int) -> list[bytes]:
        """The oldest ``n`` payloads, left in place."""
        return list(islice(self._q, n))

    def requeue(self, payloads: Sequence[bytes]) -> None:
        """Put ``payloads`` back at the front, in their order; never refused."""
        if not payloads:
            return
        self._q.extendleft(reversed(payloads))
        self.bytes += sum(map(len, payloads))
        self.peak = max(self.peak, len(self._q))
        self._update_room()

    def clear(self) -> int:
        """Empty the spool; returns how many payloads it held."""
        n = len(self._q)
        self._q.clear()
        self.bytes = 0
        self._update_room()
        return n

    def _update_room(self) -> None:
        self.room = len(self._q) < self.max_messages and self.bytes < self.max_bytes
