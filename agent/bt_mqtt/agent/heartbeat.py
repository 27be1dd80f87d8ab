"""The retained status heartbeat: a pure builder of the status model and the periodic task.

``HeartbeatBuilder.build`` returns a ``core.status.Status`` (``core.status.encode`` writes it).
It takes every reading as an argument (times, counters, adapter state, process CPU and memory)
and remembers the previous call to compute rates over the interval.
``read_process`` samples the process cheaply (``os.times`` and ``/proc/self/statm``).
``run_heartbeat`` publishes one heartbeat at once, then every ``interval_s`` and right after each
(re)connect, so the last will's offline status never outlives a reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import sys
from collections.abc import Callable, Mapping

import attrs
from attrs import define

from bt_mqtt.agent.backends.base import AdapterState
from bt_mqtt.agent.pipeline import Counters
from bt_mqtt.core import status
from bt_mqtt.core.wire import format_ts

log = logging.getLogger(__name__)

MIN_RATE_WINDOW_S = 1.0
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024) if hasattr(os, "sysconf") else 4096 / 2**20


@define(frozen=True)
class ProcSample:
    """CPU seconds used by the process so far, and its resident memory."""

    cpu_s: float
    rss_mb: float


def read_process() -> ProcSample:
    """Sample this process: user+system CPU time and current RSS."""
    t = os.times()
    try:
        with open("/proc/self/statm", "rb") as fh:
            rss_mb = int(fh.read().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        # ru_maxrss (peak, KiB on Linux) is the portable fallback
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if sys.platform == "darwin":
            rss_mb /= 1024
    return ProcSample(cpu_s=t.user + t.system, rss_mb=rss_mb)


class HeartbeatBuilder:
    """Builds status payloads; keeps the previous sample for per-interval rates."""

    def __init__(
        self,
        *,
        scanner_id: str,
        boot: str,
        version: str,
        hostname: str,
        start_mono: float,
        start_cpu_s: float,
        interval_s: float,
    ) -> None:
        self.scanner_id = scanner_id
        self.boot = boot
        self.version = version
        self.hostname = hostname
        self.interval_s = interval_s
        self._start = start_mono
        self._prev_mono = start_mono
        self._prev_cpu = start_cpu_s
        self._prev_received = 0
        self._prev_published = 0

    def build(
        self,
        *,
        now_mono: float,
        now_wall: float,
        counters: Counters,
        extra_counters: Mapping[str, int],
        adapter: AdapterState,
        proc: ProcSample,
        last_advert_mono: float | None,
        devices_seen: int,
        devices_tracked: int,
        last_seq: int,
        spool: status.Spool,
    ) -> status.Status:
        """The online status; rates cover the time since the previous ``build``.

        ``last_seq`` is the seq of the last advert given one in this boot (its high-water mark:
        every seq up to it was written or waits in the spool); ``spool`` the spool's figures.

        Rates and ``cpu_pct`` are None when less than ``MIN_RATE_WINDOW_S`` has passed (the
        start-up heartbeat); that window then carries over into the next build.
        """
        elapsed = now_mono - self._prev_mono
        received_rate: float | None = None
        published_rate: float | None = None
        cpu_pct: float | None = None
        if elapsed >= MIN_RATE_WINDOW_S:
            received_rate = round((counters.received - self._prev_received) / elapsed, 3)
            published_rate = round((counters.published - self._prev_published) / elapsed, 3)
            cpu_pct = round(100.0 * (proc.cpu_s - self._prev_cpu) / elapsed, 2)
            self._prev_mono = now_mono
            self._prev_cpu = proc.cpu_s
            self._prev_received = counters.received
            self._prev_published = counters.published
        all_counters: dict[str, int] = attrs.asdict(counters)
        all_counters.update(extra_counters)
        figures = status.Figures(
            version=self.version,
            uptime_s=round(now_mono - self._start, 3),
            interval_s=self.interval_s,
            adapter=status.Adapter(
                name=adapter.name,
                address=adapter.address,
                powered=adapter.powered,
                discovering=adapter.discovering,
                scan_mode=adapter.scan_mode,
            ),
            counters=all_counters,
            last_seq=last_seq,
            spool=spool,
            received_per_s=received_rate,
            published_per_s=published_rate,
            last_advert_age_s=(
                None if last_advert_mono is None else round(now_mono - last_advert_mono, 3)
            ),
            devices_seen=devices_seen,
            devices_tracked=devices_tracked,
            cpu_pct=cpu_pct,
            rss_mb=round(proc.rss_mb, 2),
        )
        return status.Status(
            status=status.ONLINE,
            scanner_id=self.scanner_id,
            boot=self.boot,
            ts=format_ts(now_wall),
            hostname=self.hostname,
            figures=figures,
        )


async def run_heartbeat(
    interval_s: float,
    make_payload: Callable[[], bytes],
    publish: Callable[[bytes], bool],
    wake: asyncio.Event,
) -> None:
    """Publish at once, every ``interval_s``, and whenever ``wake`` is set (the publisher sets
    it on each connect); runs until cancelled.  A heartbeat that cannot be sent is skipped.
    """
    loop = asyncio.get_running_loop()
    next_due = loop.time()
    while True:
        now = loop.time()
        if wake.is_set() or now >= next_due:
            wake.clear()
            if publish(make_payload()):
                log.debug("heartbeat published", extra={"event": "heartbeat"})
            next_due = now + interval_s
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), next_due - now)


def hostname() -> str:
    return socket.gethostname()
