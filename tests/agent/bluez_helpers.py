"""Helpers for tests that run the bluez backend against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bt_mqtt.agent.backends.bluez import BluezBackend
from bt_mqtt.core.advert import Advert


async def wait_until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``pred`` until true or fail after ``timeout`` (bounded polling, no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_backend(**kwargs: Any) -> AsyncIterator[tuple[BluezBackend, list[Advert]]]:
    """A running BluezBackend (keyword arguments as its constructor) and what it delivered."""
    kwargs.setdefault("adapter", "hci0")
    kwargs.setdefault("mode", "passive")
    kwargs.setdefault("monitor_timeout_s", 2.0)
    backend = BluezBackend(**kwargs)
    got: list[Advert] = []
    task = asyncio.get_running_loop().create_task(backend.run(got.append))
    try:
        await wait_until(
            lambda: backend.adapter_state().scan_mode in ("passive", "active") or task.done(),
            what="scanning to start",
        )
        if task.done():
            task.result()
        yield backend, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
