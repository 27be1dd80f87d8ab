"""Constant-memory rate and history arithmetic for the console's state (pure; ``now`` passed in).

``WindowRate`` estimates events per second over a sliding window from two fixed buckets (the
current and the previous window, weighted by how far the current one has run), so a device costs
four numbers however fast it advertises.  ``BucketSeries`` keeps the last N fixed-width time
buckets of a counter for sparklines.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from attrs import define, field

log = logging.getLogger(__name__)

SPARK_CHARS = "▁▂▃▄▅▆▇█"


@define(slots=True)
class WindowRate:
    """Events per second over roughly the last ``window_s`` seconds."""

    window_s: float = 10.0
    start: float = -math.inf
    count: int = 0
    prev: int = 0

    def _roll(self, now: float) -> None:
        if now < self.start + self.window_s:
            return
        aligned = math.floor(now / self.window_s) * self.window_s
        self.prev = self.count if aligned - self.start < 2 * self.window_s else 0
        self.start = aligned
        self.count = 0

    def add(self, now: float, n: int = 1) -> None:
        """Count ``n`` events at ``now``."""
        self._roll(now)
        self.count += n

    def per_s(self, now: float) -> float:
        """The estimated rate at ``now`` (does not change the state)."""
        if now >= self.start + 2 * self.window_s:
            return 0.0
        if now >= self.start + self.window_s:
            frac = (now - self.start - self.window_s) / self.window_s
            return self.count * (1.0 - frac) / self.window_s
        frac = max(0.0, (now - self.start) / self.window_s)
        return (self.prev * (1.0 - frac) + self.count) / self.window_s


@define(slots=True)
class BucketSeries:
    """Counts in the last ``size`` buckets of ``bucket_s`` seconds each (oldest first)."""

    bucket_s: float = 10.0
    size: int = 60
    last_index: int | None = None
    counts: deque[int] = field(factory=deque)

    def _advance(self, index: int) -> None:
        if self.last_index is None:
            self.last_index = index
            self.counts.append(0)
            return
        gap = index - self.last_index
        if gap <= 0:
            return
        for _ in range(min(gap, self.size)):
            self.counts.append(0)
        while len(self.counts) > self.size:
            self.counts.popleft()
        self.last_index = index

    def add(self, now: float, n: int = 1) -> None:
        """Count ``n`` events in the bucket that holds ``now`` (late events go to the newest)."""
        self._advance(int(now // self.bucket_s))
        self.counts[-1] += n

    def values(self, now: float) -> list[int]:
        """The series as of ``now``, padded with empty buckets up to the current one."""
        if self.last_index is None:
            return [0] * self.size
        gap = max(0, int(now // self.bucket_s) - self.last_index)
        out = list(self.counts) + [0] * min(gap, self.size)
        out = out[-self.size :]
        return [0] * (self.size - len(out)) + out


def sparkline(
    values: list[int] | list[float], width: int | None = None, *, zero_based: bool = False
) -> str:
    """Block characters for the last ``width`` values, scaled min..max (or 0..max); a value
    that is not a finite number (a stored NaN) is a blank."""
    if width is not None:
        values = values[-width:]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low = 0 if zero_based else min(finite)
    high = max(finite)
    span = high / 2 - low / 2  # halves: no overflow between -1e308 and 1e308
    top = len(SPARK_CHARS) - 1

    def char(v: float) -> str:
        if not math.isfinite(v):
            return " "
        if span <= 0:
            return SPARK_CHARS[0] if high == 0 else SPARK_CHARS[3]
        return SPARK_CHARS[max(0, min(top, round((v / 2 - low / 2) / span * top)))]

    return "".join(char(v) for v in values)
