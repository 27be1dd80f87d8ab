"""The ``bluez`` backend: dbus-fast straight to bluetoothd, no bleak.

Finds the adapter through the ObjectManager at ``/``; scans passively through an
AdvertisementMonitor (``bluez_monitor``) or, when monitors are unsupported, refused or never
activated, actively (SetDiscoveryFilter Transport=le, DuplicateData=true; StartDiscovery).
Adverts come from one low-level message handler (no proxy objects): InterfacesAdded with an
RSSI and every Device1 PropertiesChanged carrying advert fields is one ``sink`` call, made
complete by the per-device cache (``bluez_cache``).  Stale devices that are not paired,
bonded, trusted or connected are removed with Adapter1.RemoveDevice so bluetoothd's object
count stays bounded.  bluetoothd restarting (NameOwnerChanged), the adapter vanishing and
power loss are recovered in ``run`` without restarting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from sys import intern
from typing import Any

from dbus_fast import BusType, Message, Variant
from dbus_fast.aio import MessageBus

from bt_mqtt.agent.backends.base import AdapterState, AdvertSink, BackendStats
from bt_mqtt.agent.backends.bluez_cache import ADVERT_KEYS, DEVICE_IFACE, DeviceCache
from bt_mqtt.agent.backends.bluez_dbus import (
    ADAPTER_IFACE,
    BLUEZ,
    DBUS,
    MANAGER_IFACE,
    OM_IFACE,
    PROPS_IFACE,
    SIGNAL,
    TICK_S,
    BluezError,
    call,
    coalesce_reads,
    find_adapter,
    remove_devices,
)
from bt_mqtt.agent.backends.bluez_monitor import AgentMonitor

log = logging.getLogger(__name__)


class BluezBackend:
    """Scans one adapter (``hci0`` or its address); ``mode`` is ``passive`` or ``active``.

    ``bus_address`` overrides the system bus; ``tick_s`` is the pruning clock's resolution;
    ``read_interval_s`` batches socket reads (see ``coalesce_reads``; 0 reads immediately):
    every wakeup of the process costs about as much CPU as handling a few adverts, so adverts
    are read (and, see ``batch_interval_s``, published) in one batch per interval, at the price
    of up to that much latency.
    """

    def __init__(
        self,
        *,
        adapter: str,
        mode: str,
        prune_after_s: float = 60.0,
        bus_address: str | None = None,
        monitor_timeout_s: float = 5.0,
        tick_s: float = TICK_S,
        read_interval_s: float = 0.1,
    ) -> None:
        if mode not in ("passive", "active"):
            raise ValueError(f"bluetooth.mode must be passive or active, not {mode!r}")
        self.stats = BackendStats()
        self._adapter_name = adapter
        self._mode = mode
        self._tick_s = tick_s
        self._read_interval_s = read_interval_s
        # adverts reach the sink in batches this far apart (the runner flushes MQTT per batch)
        self.batch_interval_s = read_interval_s
        self._prune_ticks = max(1, round(prune_after_s / tick_s))
        self._bus_address = bus_address
        self._monitor_timeout_s = monitor_timeout_s
        self._bus: MessageBus | None = None
        self._sink: AdvertSink | None = None
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
        self._messages = 0  # D-Bus messages handled (paces the batched reads)
        self._stopping_discovery = False

    # -- Backend interface -------------------------------------------------------------------
    def adapter_state(self) -> AdapterState:
        return AdapterState(
            name=self._adapter_name,
            address=self._address,
            powered=self._powered,
            discovering=self._discovering,
            scan_mode=self._scan_mode,
        )

    async def run(self, sink: AdvertSink) -> None:
        self._sink = sink
        ticker = asyncio.get_running_loop().create_task(self._ticker())
        try:
            while True:
                await self._connect()
                await self._serve()
        finally:
            ticker.cancel()
            await self._shutdown()

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

    # -- connection and (re)setup ------------------------------------------------------------
    async def _connect(self) -> None:
        delay = 0.5
        while self._bus is None or not self._bus.connected:
            try:
                bus = MessageBus(bus_address=self._bus_address, bus_type=BusType.SYSTEM)
                await bus.connect()
            except (OSError, ValueError) as exc:
                self.stats.bluez_errors += 1
                log.error("cannot connect to the system bus: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            bus.add_message_handler(self._on_message)
            self._bus = bus
            if self._read_interval_s and not coalesce_reads(
                bus, self._read_interval_s, lambda: self._messages
            ):
                log.info("could not batch D-Bus reads; reading on every event")
            for rule in (
                f"type='signal',sender='{BLUEZ}',interface='{OM_IFACE}',path='/'",
                f"type='signal',sender='{BLUEZ}',interface='{PROPS_IFACE}',"
                "member='PropertiesChanged',path_namespace='/org/bluez'",
                f"type='signal',sender='{DBUS}',member='NameOwnerChanged',arg0='{BLUEZ}'",
            ):
                await call(self._bus, "/org/freedesktop/DBus", DBUS, "AddMatch", "s", [rule], DBUS)
            self._wake.set()

    async def _serve(self) -> None:
        """Set up scanning whenever something asks for it, until the bus connection drops."""
        bus = self._bus
        assert bus is not None
        while bus.connected:
            if self._wake.is_set():
                self._wake.clear()
                try:
                    async with self._lock:
                        await self._setup()
                except BluezError as exc:
                    self.stats.bluez_errors += 1
                    log.error("BlueZ setup failed: %s; retrying", exc)
                    self._scan_mode = "error"
                    await self._sleep_or_wake(5.0)
                    self._wake.set()
                    continue
            await self._sleep_or_wake(5.0)

    async def _sleep_or_wake(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

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

    # -- scanning ----------------------------------------------------------------------------
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

    async def _shutdown(self) -> None:
        bus = self._bus
        if bus is None or not bus.connected:
            return
        with contextlib.suppress(BluezError, OSError, asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._stop_scanning(), 2.0)
        bus.disconnect()
        self._bus = None

    # -- pruning -----------------------------------------------------------------------------
    async def _ticker(self) -> None:
        every = max(1, min(self._prune_ticks // 4, 10))
        while True:
            await asyncio.sleep(self._tick_s)
            self._tick += 1
            if self._tick % every == 0 and self._adapter_path is not None:
                await self._prune()

    async def _prune(self) -> None:
        adapter = self._adapter_path
        stale = self._cache.stale(self._tick, self._prune_ticks)
        if adapter is None or not stale:
            return
        removed, errors = await remove_devices(self._bus, adapter, stale)
        self.stats.devices_removed += removed
        self.stats.bluez_errors += errors
        for p in stale:
            self._cache.remove(p)

    # -- D-Bus -------------------------------------------------------------------------------
    def _on_message(self, msg: Message) -> None:
        """Every message the bus delivers; the hot path is Device1 PropertiesChanged."""
        self._messages += 1
        if msg.message_type is not SIGNAL:
            return
        member = msg.member
        if member == "PropertiesChanged":
            iface, changed, invalidated = msg.body
            if iface == DEVICE_IFACE:
                path: str = msg.path  # type: ignore[assignment]  # signals always have a path
                dev = self._devices.get(path)
                if dev is None:
                    dev = self._cache.add(path, {}, self._tick)
                hits = 0
                v = changed.get("RSSI")
                if v is not None:
                    dev.rssi = v.value
                    hits = 1
                v = changed.get("ManufacturerData")
                if v is not None:
                    dev.mfr = {k: x.value for k, x in v.value.items()}
                    hits += 1
                v = changed.get("ServiceData")
                if v is not None:
                    dev.svc = {intern(k): x.value for k, x in v.value.items()}
                    hits += 1
                if len(changed) > hits:
                    self._cache.update_slow(path, dev, changed)
                    if hits == 0 and not ADVERT_KEYS.intersection(changed):
                        if invalidated:
                            dev.invalidate(invalidated)
                        return
                elif hits == 0:
                    if invalidated:
                        dev.invalidate(invalidated)
                    return
                if invalidated:
                    dev.invalidate(invalidated)
                if dev.rssi is not None:
                    dev.seen = self._tick
                    self._sink(dev.advert())  # type: ignore[misc]
            elif iface == ADAPTER_IFACE and msg.path == self._adapter_path:
                self._on_adapter_changed(changed)
        elif member == "InterfacesAdded":
            path, ifaces = msg.body
            props = ifaces.get(DEVICE_IFACE)
            adapter = self._adapter_path
            if props is not None and adapter is not None and path.startswith(adapter + "/"):
                dev = self._cache.add(path, props, self._tick)
                if dev.rssi is not None:
                    self._sink(dev.advert())  # type: ignore[misc]
            elif ADAPTER_IFACE in ifaces and adapter is None:
                self._wake.set()
        elif member == "InterfacesRemoved":
            path, names = msg.body
            if DEVICE_IFACE in names:
                self._cache.remove(path)
            elif ADAPTER_IFACE in names and path == self._adapter_path:
                log.warning("adapter %s disappeared", self._adapter_name)
                self._forget("no-adapter")
            elif MANAGER_IFACE in names and path == self._adapter_path:
                self._has_manager = False
        elif member == "NameOwnerChanged":
            _name, old, new = msg.body
            if old:
                log.warning("bluetoothd left the bus (owner %s)", old)
                self.stats.bluez_errors += 1
                self._forget("bluetoothd-absent")
            if new:
                log.info("bluetoothd is on the bus (owner %s); setting up again", new)
                self._wake.set()

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
