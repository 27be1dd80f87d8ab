"""Adapter setup and scan control for the ``bluez`` backend (``BluezScanControl``).

The asyncio shell of ``bluez_state.ScanMachine``: it feeds the machine events (what setup
found, Adapter1 Powered/Discovering changes, bluetoothd and the adapter coming and going, the
watchdog's requests) and carries out the actions it returns: finding the adapter in
GetManagedObjects, the passive AdvertisementMonitor (``bluez_monitor``) with its fallback to
active discovery (SetDiscoveryFilter Transport=le, DuplicateData=true; StartDiscovery),
forgetting everything when bluetoothd or the adapter goes away, power cycles.  Actions that
need D-Bus calls run in ``serve_actions`` (one at a time, under ``_lock``); ``BluezBackend``
(``bluez``) adds the bus connection, pruning and the advert hot path, and runs that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
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
from bt_mqtt.agent.backends.bluez_state import RETRY_S, Action, Event, ScanMachine

log = logging.getLogger(__name__)


class BluezScanControl:
    """One adapter's state and its scanning; ``mode`` is ``passive`` or ``active``.

    ``retry_s``: how long after a failed setup it is tried again.
    """

    _has_manager: bool  # set by ``_setup``: the adapter offers AdvertisementMonitorManager1

    def __init__(
        self, *, adapter: str, mode: str, monitor_timeout_s: float, retry_s: float = RETRY_S
    ) -> None:
        if mode not in ("passive", "active"):
            raise ValueError(f"bluetooth.mode must be passive or active, not {mode!r}")
        self.stats = BackendStats()
        self.machine = ScanMachine(self.stats, retry_s)
        self._adapter_name = adapter
        self._mode = mode
        self._monitor_timeout_s = monitor_timeout_s
        self._bus: MessageBus | None = None
        self._cache = DeviceCache(self.stats)
        self._devices = self._cache.devices  # the hot path's dict
        self._adapter_path: str | None = None
        self._address: str | None = None
        self._tick = 0
        self._pending: deque[Action] = deque()  # actions for ``serve_actions``
        self._wake = asyncio.Event()  # set when ``_pending`` has something
        self._scan_ready = asyncio.Event()  # set while scanning
        self._lock = asyncio.Lock()
        self._monitor: AgentMonitor | None = None
        self._monitor_root = f"/org/btmqtt/agent{os.getpid()}_{id(self):x}"

    # -- Backend interface -------------------------------------------------------------------------
    def adapter_state(self) -> AdapterState:
        m = self.machine
        return AdapterState(
            name=self._adapter_name,
            address=self._address,
            powered=m.powered,
            discovering=m.discovering,
            scan_mode=m.state.value,
        )

    async def restart_discovery(self) -> None:
        """Watchdog step 1: ``Event.RESTART_SCAN``, carried out before returning."""
        await self.command(Event.RESTART_SCAN)

    async def power_cycle(self) -> None:
        """Watchdog step 2: ``Event.POWER_CYCLE``; returns once scanning again (10 s at most)."""
        await self.command(Event.POWER_CYCLE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._scan_ready.wait(), 10)

    async def command(self, event: Event) -> None:
        """Feed an event someone asked for (the watchdog, a remote command) and carry out its
        actions now; a failing D-Bus call raises ``BluezError``."""
        async with self._lock:
            for action in self._feed(event):
                await self._do(action)

    # -- the machine's shell -----------------------------------------------------------------------
    def _feed(self, event: Event) -> list[Action]:
        """Feed the machine; FORGET is done at once, the other actions are returned."""
        actions = self.machine.feed(event, asyncio.get_running_loop().time())
        if self.machine.scanning:
            self._scan_ready.set()
        else:
            self._scan_ready.clear()
        if Action.FORGET in actions:
            self._forget()
            actions = [a for a in actions if a is not Action.FORGET]
        return actions

    def _feed_later(self, event: Event) -> None:
        """Feed an event from a signal handler; its actions run in ``serve_actions``."""
        for action in self._feed(event):
            if action not in self._pending:
                self._pending.append(action)
        if self._pending:
            self._wake.set()

    async def serve_actions(self, connected: Callable[[], bool]) -> None:
        """Carry out pending and due actions while ``connected()``; sleeps otherwise."""
        loop = asyncio.get_running_loop()
        while connected():
            for action in self.machine.poll(loop.time()):
                if action not in self._pending:
                    self._pending.append(action)
            while self._pending:
                action = self._pending.popleft()
                try:
                    async with self._lock:
                        await self._do(action)
                except BluezError as exc:
                    log.error("BlueZ setup failed: %s; retrying", exc)
                    self._feed_later(Event.SETUP_FAILED)
                    break
            self._wake.clear()
            if self._pending:
                continue
            wait = self.machine.wait_s(loop.time(), 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _do(self, action: Action) -> None:
        if action is Action.SET_UP:
            await self._setup()
        elif action is Action.START_SCAN:
            await self._start_fresh()
        elif action is Action.RESTART_SCAN:
            log.warning("restarting scanning on %s", self._adapter_name)
            await self._stop_scanning()
            await self._start_scanning()
        elif action is Action.POWER_CYCLE:
            await self._power_cycle()
        elif action is Action.STOP_SCAN:
            await self._stop_scanning()
        elif action is Action.FORGET:
            self._forget()

    # -- adapter (re)setup -------------------------------------------------------------------------
    async def _setup(self) -> None:
        try:
            reply = await call(self._bus, "/", OM_IFACE, "GetManagedObjects", "", [])
        except BluezError as exc:
            if exc.name in (
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner",
            ):
                self._feed(Event.BLUETOOTHD_ABSENT)
                log.warning("org.bluez is not on the bus; waiting for bluetoothd")
                return
            raise
        objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
        path = find_adapter(objects, self._adapter_name)
        if path is None:
            self._feed(Event.ADAPTER_MISSING)
            log.warning("adapter %s not found; waiting for it", self._adapter_name)
            return
        props = objects[path][ADAPTER_IFACE]
        self._adapter_path = path
        self._address = props["Address"].value
        if not self._devices:
            prefix = path + "/"
            for obj_path, ifaces in objects.items():
                if obj_path.startswith(prefix) and DEVICE_IFACE in ifaces:
                    self._cache.add(obj_path, ifaces[DEVICE_IFACE], self._tick)
        self._has_manager = MANAGER_IFACE in objects[path]
        discovering = Event.DISCOVERY_ON if props["Discovering"].value else Event.DISCOVERY_OFF
        if not props["Powered"].value:
            self._feed(Event.FOUND_POWERED_OFF)
            self._feed(discovering)
            log.warning("adapter %s is powered off; waiting for power", self._adapter_name)
            return
        actions = self._feed(Event.FOUND_POWERED_ON)
        self._feed(discovering)  # not scanning yet: an old session's end restarts nothing
        for action in actions:
            await self._do(action)

    def _forget(self) -> None:
        """bluetoothd or the adapter went away: its objects and our registrations are gone."""
        self._adapter_path = None
        self._cache.clear()
        self._drop_monitor()

    async def _power_cycle(self) -> None:
        path = self._adapter_path
        if path is None:
            return
        log.warning("power-cycling adapter %s", self._adapter_name)
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

    # -- scanning ----------------------------------------------------------------------------------
    async def _start_fresh(self) -> None:
        if self._monitor is not None:  # registered before a power loss: start afresh
            await self._unregister_monitor()
        await self._start_scanning()

    async def _start_scanning(self) -> None:
        reason = "configured"
        if self._mode == "passive":
            reason = await self._try_monitor()
            if reason == "":
                self._feed(Event.SCANNING_PASSIVE)
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
        self._feed(Event.SCANNING_ACTIVE)
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
        self._scan_ready.clear()
        if self._monitor is not None:
            await self._unregister_monitor()
        elif self._adapter_path is not None:
            try:
                await call(self._bus, self._adapter_path, ADAPTER_IFACE, "StopDiscovery", "", [])
            except BluezError as exc:
                log.info("StopDiscovery: %s", exc)

    def _on_adapter_changed(self, changed: dict[str, Variant]) -> None:
        v = changed.get("Powered")
        if v is not None:
            powered = bool(v.value)
            was = self.machine.powered
            self._feed_later(Event.POWERED_ON if powered else Event.POWERED_OFF)
            if not powered:
                log.warning("adapter %s powered off", self._adapter_name)
            elif was is False:
                log.info("adapter %s powered on; scanning again", self._adapter_name)
        v = changed.get("Discovering")
        if v is not None:
            restarts = self.stats.discovery_restarts
            self._feed_later(Event.DISCOVERY_ON if v.value else Event.DISCOVERY_OFF)
            if self.stats.discovery_restarts != restarts:
                log.warning("discovery on %s stopped unexpectedly; restarting", self._adapter_name)
