"""Helpers for tests that run the bluez backend against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bt_mqtt.agent.backends.bluez import BluezBackend
from bt_mqtt.core.advert import Advert
from tests.fixtures.waiting import until


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
        await until(
            lambda: backend.adapter_state().scan_mode in ("passive", "active") or task.done(),
            "scanning to start",
            5.0,
        )
        if task.done():
            task.result()
        yield backend, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
