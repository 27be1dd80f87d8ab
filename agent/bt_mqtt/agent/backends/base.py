"""The interface every advertisement source implements.

A backend calls ``sink(advert)`` once for every advertisement it receives, synchronously, on
the event loop.  ``run`` returns only when cancelled (or, for a finite replay, when the input
ends); it recovers from its own transient failures (bluetoothd restarts, adapter power loss)
and counts them in ``stats``.  The watchdog drives ``restart_discovery`` and ``power_cycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from attrs import define

from bt_mqtt.core.advert import Advert

AdvertSink = Callable[[Advert], None]


@define
class AdapterState:
    """What the heartbeat reports about the radio.  ``scan_mode``: passive, active, replay..."""

    name: str
    address: str | None = None
    powered: bool | None = None
    discovering: bool | None = None
    scan_mode: str = "unknown"


@define
class BackendStats:
    """Counters a backend keeps since start."""

    bluez_errors: int = 0
    adapter_resets: int = 0
    discovery_restarts: int = 0
    devices_removed: int = 0


class Backend(Protocol):
    """An advertisement source."""

    stats: BackendStats

    async def run(self, sink: AdvertSink) -> None:
        """Deliver advertisements to ``sink`` until cancelled or the source ends."""
        ...

    def adapter_state(self) -> AdapterState:
        """The radio's current state, for the heartbeat."""
        ...

    async def restart_discovery(self) -> None:
        """Stop and start scanning again (watchdog step 1)."""
        ...

    async def power_cycle(self) -> None:
        """Power the adapter off and on, then scan again (watchdog step 2)."""
        ...
