"""Planning batches in a worker process, so decoding and parsing overlap MQTT and the database.

A chunk crosses to the worker as three flat lists (topics, payloads, received times) and comes
back as a ``BatchPlan`` whose rows are already COPY text, so both directions pickle cheaply.

The worker owns the parser registry and the ``ParseContext`` (parser state such as BTHome packet
ids, and the per-device parser hints of ``devices:``), so chunks must be planned one at a time,
in order (one worker).  ``Planner`` falls back to
planning in the calling thread when ``workers`` is 0.  With ``heard`` (HA discovery on), the
batches' short summaries are merged and handed over with a plan at most every ``HANDOVER_S``
(``flush_heard`` takes what is held when no chunk comes).  The worker logs through the same
logging set-up as its parent (``log``: level and format), so its records join the JSON stream.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from bt_mqtt.core.logs import setup_logging
from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.subscriber.batch import BatchPlan, Parses, plan_chunk
from bt_mqtt.subscriber.clock import TimeTrust
from bt_mqtt.subscriber.devicesettings import Devices, apply_hints
from bt_mqtt.subscriber.heard import Heard, Window
from bt_mqtt.subscriber.privacy import Privacy

log = logging.getLogger(__name__)
HANDOVER_S = 1.0  # the HA bridge gets the latest values per device at most this often

_state: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Be killed when the subscriber goes, however it goes (``kill -9`` included): an orphaned
    worker would keep its memory, and the resource tracker it holds open, for ever."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _init(
    parent: int,
    prefix: str,
    bindkeys: dict[str, bytes],
    registry_kw: dict[str, bool],
    kw: dict[str, Any],
    log_setup: tuple[str, str] | None = None,
) -> None:
    _die_with_parent(parent)
    if log_setup is not None:
        setup_logging(*log_setup)
    from bt_mqtt.parsers.registry import Registry  # noqa: PLC0415

    _state["topics"] = Topics(prefix)
    _state["registry"] = Registry.default(**registry_kw)
    _state["ctx"] = apply_hints(ParseContext(bindkeys=bindkeys), kw["devices"] or Devices())
    _state["heard"] = kw.pop("heard")
    _state["kw"] = kw
    _state["window"] = Window(HANDOVER_S)


def _plan(
    topics: list[str],
    payloads: list[bytes],
    received: list[float],
    oversize: dict[int, tuple[int, bytes]] | None = None,
) -> BatchPlan:
    window: Window = _state["window"]
    plan = plan_chunk(
        topics,
        payloads,
        received,
        _state["topics"],
        _state["registry"],
        _state["ctx"],
        oversize=oversize,
        heard=window.current if _state["heard"] else None,
        **_state["kw"],
    )
    plan.heard = window.due(time.monotonic())
    return plan


def _flush() -> Heard | None:
    window: Window = _state["window"]
    return window.flush(time.monotonic())


def _noop() -> None:
    return None


class Planner:
    """Plans chunks in a worker process (``workers=1``) or inline (``workers=0``)."""

    def __init__(
        self,
        *,
        prefix: str,
        registry: Parses,
        bindkeys: dict[str, bytes],
        plugins: bool,
        theengs: bool = False,
        workers: int,
        max_bytes: int,
        skew_s: float,
        privacy: Privacy | None = None,
        log: tuple[str, str] | None = None,
        trust: TimeTrust | None = None,
        devices: Devices | None = None,
        heard: bool = False,
    ) -> None:
        registry_kw = {"plugins": plugins, "theengs": theengs}  # the worker builds the same one
        kw: dict[str, Any] = {
            "max_bytes": max_bytes,
            "skew_s": skew_s,
            "privacy": privacy,
            "trust": trust,
            "devices": devices,
        }
        self._args = (prefix, bindkeys, registry_kw, {**kw, "heard": heard}, log)
        self._kw = kw
        self._heard = heard
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        ctx = apply_hints(ParseContext(bindkeys=bindkeys), devices or Devices())
        self._inline = (Topics(prefix), registry, ctx)
        self._window = Window(HANDOVER_S)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(os.getpid(), *self._args),
            )
        return self._pool

    async def plan(
        self,
        topics: list[str],
        payloads: list[bytes],
        received: list[float],
        oversize: dict[int, tuple[int, bytes]] | None = None,
    ) -> BatchPlan:
        """The plan of one chunk.  A dead worker is replaced and the chunk planned again."""
        if self._workers == 0:
            routes, registry, ctx = self._inline
            plan = plan_chunk(
                topics,
                payloads,
                received,
                routes,
                registry,
                ctx,
                oversize=oversize,
                heard=self._window.current if self._heard else None,
                **self._kw,
            )
            plan.heard = self._window.due(time.monotonic())
            return plan
        loop = asyncio.get_running_loop()
        while True:
            pool = self._start()
            try:
                return await loop.run_in_executor(pool, _plan, topics, payloads, received, oversize)
            except BrokenProcessPool:
                log.error("planner process died; starting a new one", extra={"event": "planner"})
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)

    async def flush_heard(self) -> Heard | None:
        """What the hand-over window still holds (call when no chunk came for a while)."""
        if not self._heard:
            return None
        if self._workers == 0:
            return self._window.flush(time.monotonic())
        try:
            return await asyncio.get_running_loop().run_in_executor(self._start(), _flush)
        except BrokenProcessPool:
            return None  # plan() replaces the worker

    async def warm_up(self) -> None:
        """Start the worker now rather than on the first batch."""
        if self._workers:
            await asyncio.get_running_loop().run_in_executor(self._start(), _noop)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
