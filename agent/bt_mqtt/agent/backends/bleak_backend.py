"""The ``bleak`` backend: portable scanning through bleak's BleakScanner (laptops, macOS...).

bleak is an optional extra (``pip install bt-mqtt[bleak]``) imported only when this backend
runs.  Each detection callback is one ``Advert``.  bleak owns recovery and device bookkeeping,
so the watchdog actions restart the scanner; there is no pruning here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bt_mqtt.agent.backends import values
from bt_mqtt.agent.backends.base import AdapterState, AdvertSink, BackendStats
from bt_mqtt.agent.backends.bluez_monitor import FLAG_PATTERNS
from bt_mqtt.core.advert import Advert

log = logging.getLogger(__name__)


def advert_from_bleak(device: Any, data: Any, stats: BackendStats) -> Advert | None:
    """Convert bleak's (BLEDevice, AdvertisementData) into an ``Advert``.

    bleak passes on what bluetoothd sent without checking it: values ``values`` does not accept
    are left out (a map or list keeps its valid entries) and counted in ``stats.bluez_errors``;
    an advert with no valid address or RSSI is dropped (None) and counted.
    """
    address_type = None
    details = getattr(device, "details", None)
    if isinstance(details, dict):
        props = details.get("props")
        if isinstance(props, dict):
            address_type = props.get("AddressType")
    mac = values.mac(getattr(device, "address", None))
    rssi = values.dbm(getattr(data, "rssi", None))
    if mac is None or rssi is None:
        stats.bluez_errors += 1
        return None
    bad = 0
    at = values.address_type(address_type)
    bad += address_type is not None and at is None
    tx_power = getattr(data, "tx_power", None)
    tx = values.dbm(tx_power)
    bad += tx_power is not None and tx is None
    local_name = getattr(data, "local_name", None)
    name = values.name(local_name)
    bad += local_name is not None and name is None
    mfr: dict[int, bytes] = {}
    for k, v in _items(getattr(data, "manufacturer_data", None)):
        cid, raw = values.company_id(k), values.data(v)
        if cid is None or raw is None:
            bad += 1
        else:
            mfr[cid] = raw
    svc: dict[str, bytes] = {}
    for k, v in _items(getattr(data, "service_data", None)):
        uuid, raw = values.uuid(k), values.data(v)
        if uuid is None or raw is None:
            bad += 1
        else:
            svc[uuid] = raw
    raw_uuids = getattr(data, "service_uuids", None)
    uuids = [u for u in map(values.uuid, raw_uuids if type(raw_uuids) is list else ()) if u]
    bad += (len(raw_uuids) if type(raw_uuids) is list else raw_uuids is not None) - len(uuids)
    stats.bluez_errors += bad
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type=at,
        tx_power=tx,
        name=name,
        manufacturer_data=mfr,
        service_data=svc,
        service_uuids=list(dict.fromkeys(uuids)),
    )


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


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
            advert = advert_from_bleak(device, data, self.stats)
            if advert is not None:
                sink(advert)

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
