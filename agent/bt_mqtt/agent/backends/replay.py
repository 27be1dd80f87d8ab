"""The replay backend: plays a file of wire-format JSON lines as if they were heard now.

Each line is a JSON object: a full v1 message or just its advertisement fields (``mac`` at
least).  Spacing comes from an optional ``t`` (seconds from any origin) or else from ``ts``;
lines with neither follow the previous line at once.  Spacing is divided by ``speed``
(0 = as fast as possible).  With ``loop`` the file plays again, after a pause of one average
spacing.  At speed 0 an optional ``throttle`` coroutine (the agent passes the publisher's
``wait_room``) is awaited every few lines, so "as fast as possible" means as fast as the broker
acknowledges rather than faster than that.  Bad lines are counted in ``replay_stats.bad_lines``
and logged with ``file:line``; they never stop playback.  Blank lines and ``#`` lines are skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from attrs import define

from bt_mqtt.agent.backends.base import AdapterState, AdvertSink, BackendStats
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.wire import WireError, advert_from_obj, parse_ts

log = logging.getLogger(__name__)

_YIELD_EVERY = 8
_LOGGED_BAD_LINES = 20


@define
class ReplayStats(BackendStats):
    """Backend counters plus the replay's own."""

    lines: int = 0
    bad_lines: int = 0
    passes: int = 0


def _line_time(obj: dict[str, object]) -> float | None:
    t = obj.get("t")
    if isinstance(t, int | float) and not isinstance(t, bool):
        return float(t)
    ts = obj.get("ts")
    if isinstance(ts, str):
        return parse_ts(ts).timestamp()
    return None


class ReplayBackend:
    """A ``Backend`` reading wire-format JSON lines from ``file``."""

    def __init__(self, *, file: str, speed: float = 1.0, loop: bool = False) -> None:
        self.file = Path(file)
        self.speed = speed
        self.loop = loop
        self.replay_stats = ReplayStats()
        self.stats: BackendStats = self.replay_stats
        self._running = False
        self.throttle: Callable[[], Awaitable[None]] | None = None

    def _parse(self, text: str, lineno: int) -> tuple[Advert, float | None] | None:
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise WireError("not_object", f"a JSON {type(obj).__name__}, not an object")
            return advert_from_obj(obj), _line_time(obj)
        except (ValueError, TypeError) as exc:
            self.replay_stats.bad_lines += 1
            if self.replay_stats.bad_lines <= _LOGGED_BAD_LINES:
                log.warning(
                    "%s:%d: skipping bad replay line: %s",
                    self.file,
                    lineno,
                    exc,
                    extra={"event": "replay_bad_line", "file": str(self.file), "line": lineno},
                )
            return None

    async def _play_once(self, sink: AdvertSink) -> float:
        """One pass over the file; returns the average spacing (seconds, file time)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        first: float | None = None
        last: float | None = None
        count = 0
        since_yield = 0
        with self.file.open("r", encoding="utf-8", errors="replace") as fh:
            for lineno, raw in enumerate(fh, 1):
                text = raw.strip()
                if not text or text.startswith("#"):
                    continue
                parsed = self._parse(text, lineno)
                if parsed is None:
                    continue
                advert, when = parsed
                if when is not None:
                    if first is None:
                        first = when
                    last = when
                    if self.speed > 0:
                        delay = start + (when - first) / self.speed - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                            since_yield = 0
                since_yield += 1
                if since_yield >= _YIELD_EVERY:
                    await (self.throttle() if self.throttle is not None else asyncio.sleep(0))
                    since_yield = 0
                self.replay_stats.lines += 1
                count += 1
                sink(advert)
        self.replay_stats.passes += 1
        if first is None or last is None or count < 2:
            return 1.0
        return max(last - first, 0.0) / (count - 1)

    async def run(self, sink: AdvertSink) -> None:
        """Play the file (forever with ``loop``); returns when a non-looping replay ends."""
        self._running = True
        log.info(
            "replaying %s at speed %s%s",
            self.file,
            self.speed,
            " in a loop" if self.loop else "",
            extra={"event": "replay_start", "file": str(self.file)},
        )
        try:
            while True:
                spacing = await self._play_once(sink)
                if not self.loop:
                    break
                await asyncio.sleep(spacing / self.speed if self.speed > 0 else 0)
        finally:
            self._running = False
        log.info(
            "replay of %s ended: %d lines, %d bad",
            self.file,
            self.replay_stats.lines,
            self.replay_stats.bad_lines,
            extra={"event": "replay_end", "file": str(self.file)},
        )

    def adapter_state(self) -> AdapterState:
        return AdapterState(
            name="replay",
            address=None,
            powered=True,
            discovering=self._running,
            scan_mode="replay",
        )

    async def restart_discovery(self) -> None:
        """Nothing to restart in a file; counted so the watchdog's steps stay visible."""
        self.stats.discovery_restarts += 1

    async def power_cycle(self) -> None:
        self.stats.adapter_resets += 1
