"""Adapter setup and scan control for the ``bluez`` backend (``BluezScanControl``).

The state of one adapter (path, address, power, discovery, scan mode) and everything that
turns scanning on and off: finding the adapter in GetManagedObjects, the passive
AdvertisementMonitor (``bluez_monitor``) with its fallback to active discovery
(SetDiscoveryFilter Transport=le, DuplicateData=true; StartDiscovery), forgetting everything
when bluetoothd or the adapter goes away, and reacting to Adapter1 Powered/Discovering changes.
``BluezBackend`` (``bluez``) adds the bus connection, pruning and the advert hot path; it sets
``_wake`` to ask for ``_setup`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from bt_mqtt.agent.backends.base import AdapterState, BackendStats
from bt_mqtt.agent.backends.bluez_cache import DEVICE_IFACE, DeviceCache
from bt_mqtt.agent.backends.bluez_dbus import (
    ADAPTER_IFACE,
    MANAGER_IFACE,
    OM_IFACE,
    PROPS_IFACE,
    BluezError,
    call,
    find_adapter,
)
from bt_mqtt.agent.backends.bluez_monitor import AgentMonitor

log = logging.getLogger(__name__)


class BluezScanControl:
    """One adapter's state and its scanning; ``mode`` is ``passive`` or ``active``."""

    _has_manager: bool  # set by ``_setup``: the adapter offers AdvertisementMonitorManager1

    def __init__(self, *, adapter: str, mode: str, monitor_timeout_s: float) -> None:
        if mode not in ("passive", "active"):
            raise ValueError(f"bluetooth.mode must be passive or active, not {mode!r}")
        self.stats = BackendStats()
        self._adapter_name = adapter
        self._mode = mode
        self._monitor_timeout_s = monitor_timeout_s
        self._bus: MessageBus | None = None
        self._cache = DeviceCache(self.stats)
        self._devices = self._cache.devices  # the hot path's dict
        self._adapter_path: str | None = None
        self._address: str | None = None
        self._powered: bool | None = None
        self._discovering: bool | None = None
        self._scan_mode = "starting"
        self._scanning = False
        self._tick = 0
        self._wake = asyncio.Event()
        self._scan_ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._monitor: AgentMonitor | None = None
        self._monitor_root = f"/org/btmqtt/agent{os.getpid()}_{id(self):x}"
        self._stopping_discovery = False

    # -- Backend interface -------------------------------------------------------------------------
    def adapter_state(self) -> AdapterState:
        return AdapterState(
            name=self._adapter_name,
            address=self._address,
            powered=self._powered,
            discovering=self._discovering,
            scan_mode=self._scan_mode,
        )

    async def restart_discovery(self) -> None:
        async with self._lock:
            if self._adapter_path is None:
                return
            log.warning("restarting %s scanning on %s", self._scan_mode, self._adapter_name)
            self.stats.discovery_restarts += 1
            await self._stop_scanning()
            await self._start_scanning()

    async def power_cycle(self) -> None:
        path = self._adapter_path
        if path is None:
            return
        log.warning("power-cycling adapter %s", self._adapter_name)
        self.stats.adapter_resets += 1
        self._scan_ready.clear()
        for on in (False, True):
            await call(
                self._bus,
                path,
                PROPS_IFACE,
                "Set",
                "ssv",
                [ADAPTER_IFACE, "Powered", Variant("b", on)],
            )
        # Scanning comes back through the Powered=true signal, like any power loss.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._scan_ready.wait(), 10)

    # -- adapter (re)setup -------------------------------------------------------------------------
    async def _setup(self) -> None:
        try:
            reply = await call(self._bus, "/", OM_IFACE, "GetManagedObjects", "", [])
        except BluezError as exc:
            if exc.name in (
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner",
            ):
                self._forget("bluetoothd-absent")
                log.warning("org.bluez is not on the bus; waiting for bluetoothd")
                return
            raise
        objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
        path = find_adapter(objects, self._adapter_name)
        if path is None:
            self._forget("no-adapter")
            log.warning("adapter %s not found; waiting for it", self._adapter_name)
            return
        props = objects[path][ADAPTER_IFACE]
        self._adapter_path = path
        self._address = props["Address"].value
        self._powered = bool(props["Powered"].value)
        self._discovering = bool(props["Discovering"].value)
        if not self._devices:
            prefix = path + "/"
            for obj_path, ifaces in objects.items():
                if obj_path.startswith(prefix) and DEVICE_IFACE in ifaces:
                    self._cache.add(obj_path, ifaces[DEVICE_IFACE], self._tick)
        self._has_manager = MANAGER_IFACE in objects[path]
        if not self._powered:
            self._scan_mode = "powered-off"
            self._scanning = False
            log.warning("adapter %s is powered off; waiting for power", self._adapter_name)
            return
        if not self._scanning:
            if self._monitor is not None:  # registered before a power loss: start afresh
                await self._unregister_monitor()
            await self._start_scanning()

    def _forget(self, mode: str) -> None:
        """bluetoothd or the adapter went away: its objects and our registrations are gone."""
        self._adapter_path = None
        self._powered = self._discovering = None
        self._scanning = False
        self._scan_mode = mode
        self._cache.clear()
        self._drop_monitor()

    # -- scanning ----------------------------------------------------------------------------------
    async def _start_scanning(self) -> None:
        reason = "configured"
        if self._mode == "passive":
            reason = await self._try_monitor()
            if reason == "":
                self._scanning = True
                self._scan_mode = "passive"
                self._scan_ready.set()
                log.info("scanning %s passively (advertisement monitor)", self._adapter_name)
                return
        path = self._adapter_path
        assert path is not None
        filt = {"Transport": Variant("s", "le"), "DuplicateData": Variant("b", True)}
        await call(self._bus, path, ADAPTER_IFACE, "SetDiscoveryFilter", "a{sv}", [filt])
        try:
            await call(self._bus, path, ADAPTER_IFACE, "StartDiscovery", "", [])
        except BluezError as exc:
            if exc.name != "org.bluez.Error.InProgress":
                raise
        self._scanning = True
        self._scan_mode = "active"
        self._scan_ready.set()
        log.info("scanning %s actively (discovery; %s)", self._adapter_name, reason)

    async def _try_monitor(self) -> str:
        """Register the passive monitor; "" on success, else why we fall back to active."""
        if not self._has_manager:
            return "advertisement monitors unsupported (no AdvertisementMonitorManager1)"
        assert self._bus is not None and self._adapter_path is not None
        self._monitor = AgentMonitor()
        self._bus.export(self._monitor_root + "/m0", self._monitor)
        try:
            await call(
                self._bus,
                self._adapter_path,
                MANAGER_IFACE,
                "RegisterMonitor",
                "o",
                [self._monitor_root],
            )
        except BluezError as exc:
            self._drop_monitor()
            self.stats.bluez_errors += 1
            return f"advertisement monitor refused: {exc}"
        if await self._monitor.wait_activated(self._monitor_timeout_s):
            return ""
        await self._unregister_monitor()
        return "advertisement monitor not activated (released or timed out)"

    async def _unregister_monitor(self) -> None:
        if self._monitor is not None and self._adapter_path is not None:
            with contextlib.suppress(BluezError):
                await call(
                    self._bus,
                    self._adapter_path,
                    MANAGER_IFACE,
                    "UnregisterMonitor",
                    "o",
                    [self._monitor_root],
                )
        self._drop_monitor()

    def _drop_monitor(self) -> None:
        if self._monitor is not None and self._bus is not None:
            self._bus.unexport(self._monitor_root + "/m0", self._monitor)
        self._monitor = None

    async def _stop_scanning(self) -> None:
        self._scanning = False
        self._scan_ready.clear()
        if self._scan_mode == "passive":
            await self._unregister_monitor()
        elif self._adapter_path is not None:
            self._stopping_discovery = True
            try:
                await call(self._bus, self._adapter_path, ADAPTER_IFACE, "StopDiscovery", "", [])
            except BluezError as exc:
                log.info("StopDiscovery: %s", exc)
            finally:
                self._stopping_discovery = False

    def _on_adapter_changed(self, changed: dict[str, Variant]) -> None:
        v = changed.get("Powered")
        if v is not None:
            powered = bool(v.value)
            was, self._powered = self._powered, powered
            if not powered:
                self._scanning = False
                self._scan_ready.clear()
                self._scan_mode = "powered-off"
                log.warning("adapter %s powered off", self._adapter_name)
            elif was is False:
                log.info("adapter %s powered on; scanning again", self._adapter_name)
                self.stats.adapter_resets += 1
                self._scanning = False
                self._wake.set()
        v = changed.get("Discovering")
        if v is not None:
            self._discovering = bool(v.value)
            if (
                not self._discovering
                and self._scan_mode == "active"
                and self._scanning
                and self._powered
                and not self._stopping_discovery
            ):
                log.warning("discovery on %s stopped unexpectedly; restarting", self._adapter_name)
                self.stats.discovery_restarts += 1
                self._scanning = False
                self._wake.set()
