"""The ``bleak`` backend: portable scanning through bleak's BleakScanner (laptops, macOS...).

bleak is an optional extra (``pip install bt-mqtt[bleak]``) imported only when this backend
runs.  Each detection callback is one ``Advert``.  bleak owns recovery and device bookkeeping,
so the watchdog actions restart the scanner; there is no pruning here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bt_mqtt.agent.backends.base import AdapterState, AdvertSink, BackendStats
from bt_mqtt.agent.backends.bluez_monitor import FLAG_PATTERNS
from bt_mqtt.core.advert import Advert

log = logging.getLogger(__name__)


def advert_from_bleak(device: Any, data: Any) -> Advert:
    """Convert bleak's (BLEDevice, AdvertisementData) into an ``Advert``."""
    address_type = None
    details = getattr(device, "details", None)
    if isinstance(details, dict):
        props = details.get("props")
        if isinstance(props, dict):
            address_type = props.get("AddressType")
    return Advert(
        mac=device.address.upper(),
        rssi=data.rssi,
        address_type=address_type,
        tx_power=data.tx_power,
        name=data.local_name,
        manufacturer_data=dict(data.manufacturer_data),
        service_data={k.lower(): bytes(v) for k, v in data.service_data.items()},
        service_uuids=[u.lower() for u in data.service_uuids],
    )


class BleakBackend:
    """BleakScanner in ``passive`` or ``active`` mode on ``adapter`` (used on Linux only)."""

    def __init__(self, *, adapter: str, mode: str) -> None:
        if mode not in ("passive", "active"):
            raise ValueError(f"bluetooth.mode must be passive or active, not {mode!r}")
        self.stats = BackendStats()
        self._adapter = adapter
        self._mode = mode
        self._scanner: Any = None
        self._scan_mode = "starting"
        self._restart = asyncio.Event()

    def adapter_state(self) -> AdapterState:
        return AdapterState(name=self._adapter, scan_mode=self._scan_mode)

    def _make_scanner(self, sink: AdvertSink) -> Any:
        from bleak import BleakScanner  # noqa: PLC0415 - optional dependency, lazy

        def on_advert(device: Any, data: Any) -> None:
            sink(advert_from_bleak(device, data))

        bluez: dict[str, Any] = {"adapter": self._adapter}
        if self._mode == "passive":
            bluez["or_patterns"] = FLAG_PATTERNS
        scanner_cls: Any = BleakScanner  # mode and options are validated above
        return scanner_cls(on_advert, scanning_mode=self._mode, bluez=bluez)

    async def run(self, sink: AdvertSink) -> None:
        while True:
            self._scanner = self._make_scanner(sink)
            try:
                await self._scanner.start()
            except Exception as exc:  # bleak raises several types; all mean "retry later"
                self.stats.bluez_errors += 1
                self._scan_mode = "error"
                log.error("bleak scanner failed to start: %s; retrying in 5 s", exc)
                await asyncio.sleep(5)
                continue
            self._scan_mode = self._mode
            log.info("scanning %s with bleak (%s)", self._adapter, self._mode)
            try:
                await self._restart.wait()
            finally:
                self._restart.clear()
                try:
                    await self._scanner.stop()
                except Exception as exc:  # stopping a dead scanner must not mask the cause
                    log.info("bleak scanner stop: %s", exc)

    async def restart_discovery(self) -> None:
        self.stats.discovery_restarts += 1
        self._restart.set()

    async def power_cycle(self) -> None:
        # bleak has no portable power control; a fresh scanner is the closest step.
        self.stats.adapter_resets += 1
        self._restart.set()
