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

This module holds the bus connection, pruning and the message hot path; adapter setup and
scan control (monitor vs discovery, power and discovery changes) are ``bluez_scan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dbus_fast import Message

from bt_mqtt.agent.backends.base import AdvertSink
from bt_mqtt.agent.backends.bluez_cache import ADVERT_KEYS, DEVICE_IFACE
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
    remove_devices,
)
from bt_mqtt.agent.backends.bluez_scan import BluezScanControl
from bt_mqtt.agent.backends.bluez_state import RETRY_S, Event
from bt_mqtt.agent.backends.dbus_fast_adapter import CoalescingBus

log = logging.getLogger(__name__)

_no_advert_keys = ADVERT_KEYS.isdisjoint  # a PropertiesChanged with none: no advert received


class BluezBackend(BluezScanControl):
    """Scans one adapter (``hci0`` or its address); ``mode`` is ``passive`` or ``active``.

    ``bus_address`` overrides the system bus; ``tick_s`` is the pruning clock's resolution;
    ``retry_s``: how long after a failed setup it is tried again (``bluez_state``);
    ``read_interval_s`` paces socket reads (see ``CoalescingBus``; 0 reads on every event):
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
        retry_s: float = RETRY_S,
    ) -> None:
        super().__init__(
            adapter=adapter, mode=mode, monitor_timeout_s=monitor_timeout_s, retry_s=retry_s
        )
        self._tick_s = tick_s
        self._read_interval_s = read_interval_s
        # adverts reach the sink in batches this far apart (the runner flushes MQTT per batch)
        self.batch_interval_s = read_interval_s
        self._prune_ticks = max(1, round(prune_after_s / tick_s))
        self._bus_address = bus_address
        self._sink: AdvertSink | None = None
        self._messages = 0  # D-Bus messages handled (paces the batched reads)
        self._malformed_logged = False

    # -- Backend interface (the rest is in BluezScanControl) ---------------------------------------
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

    # -- connection and serving --------------------------------------------------------------------
    async def _connect(self) -> None:
        delay = 0.5
        while self._bus is None or not self._bus.connected:
            try:
                bus = CoalescingBus(
                    interval_s=self._read_interval_s,
                    progress=lambda: self._messages,
                    bus_address=self._bus_address,
                )
                await bus.connect()
            except (OSError, ValueError) as exc:
                self.stats.bluez_errors += 1
                log.error("cannot connect to the system bus: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            bus.add_message_handler(self._on_message)
            self._bus = bus
            self._monitor = None  # an export on an earlier connection went with it
            for rule in (
                f"type='signal',sender='{BLUEZ}',interface='{OM_IFACE}',path='/'",
                f"type='signal',sender='{BLUEZ}',interface='{PROPS_IFACE}',"
                "member='PropertiesChanged',path_namespace='/org/bluez'",
                f"type='signal',sender='{DBUS}',member='NameOwnerChanged',arg0='{BLUEZ}'",
            ):
                await call(self._bus, "/org/freedesktop/DBus", DBUS, "AddMatch", "s", [rule], DBUS)
            self._feed_later(Event.CONNECTED)

    async def _serve(self) -> None:
        """Carry out the scan machine's actions until the bus connection drops."""
        bus = self._bus
        assert bus is not None
        await self.serve_actions(lambda: bus.connected)

    async def _shutdown(self) -> None:
        bus = self._bus
        if bus is None or not bus.connected:
            return
        with contextlib.suppress(BluezError, OSError, asyncio.CancelledError, TimeoutError):
            for action in self._feed(Event.SHUTDOWN):
                await asyncio.wait_for(self._do(action), 2.0)
        bus.disconnect()
        self._bus = None

    # -- pruning -----------------------------------------------------------------------------------
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

    # -- D-Bus -------------------------------------------------------------------------------------
    def _on_message(self, msg: Message) -> None:
        """Every message the bus delivers; the hot path is Device1 PropertiesChanged."""
        self._messages += 1
        if msg.message_type is not SIGNAL:
            return
        member = msg.member
        if member == "PropertiesChanged":
            if msg.signature != "sa{sv}as":
                self._malformed(msg)
                return
            iface, changed, invalidated = msg.body
            if iface == DEVICE_IFACE:
                path: str = msg.path  # type: ignore[assignment]  # signals always have a path
                dev = self._devices.get(path)
                if dev is None:
                    dev = self._cache.add(path, {}, self._tick)
                    if dev is None:  # no valid address: counted by the cache
                        return
                # ``DeviceCache.update`` inline: ``CachedDevice.apply``, as for InterfacesAdded
                bad = dev.apply(changed)
                if bad is not None:
                    self._cache.rejected(path, bad, changed)
                if invalidated:
                    dev.invalidate(invalidated)
                if dev.rssi is not None and not _no_advert_keys(changed):
                    dev.seen = self._tick
                    self._sink(dev.advert())  # type: ignore[misc]
            elif iface == ADAPTER_IFACE and msg.path == self._adapter_path:
                self._on_adapter_changed(changed)
        elif member == "InterfacesAdded":
            if msg.signature != "oa{sa{sv}}":
                self._malformed(msg)
                return
            path, ifaces = msg.body
            props = ifaces.get(DEVICE_IFACE)
            adapter = self._adapter_path
            if props is not None and adapter is not None and path.startswith(adapter + "/"):
                new_dev = self._cache.add(path, props, self._tick)
                if new_dev is not None and new_dev.rssi is not None:
                    self._sink(new_dev.advert())  # type: ignore[misc]
            elif ADAPTER_IFACE in ifaces and adapter is None:
                self._feed_later(Event.ADAPTER_ADDED)
        elif member == "InterfacesRemoved":
            if msg.signature != "oas":
                self._malformed(msg)
                return
            path, names = msg.body
            if DEVICE_IFACE in names:
                self._cache.remove(path)
            elif ADAPTER_IFACE in names and path == self._adapter_path:
                log.warning("adapter %s disappeared", self._adapter_name)
                self._feed_later(Event.ADAPTER_REMOVED)
            elif MANAGER_IFACE in names and path == self._adapter_path:
                self._has_manager = False
        elif member == "NameOwnerChanged":
            if msg.signature != "sss":
                self._malformed(msg)
                return
            _name, old, new = msg.body
            if old:
                log.warning("bluetoothd left the bus (owner %s)", old)
                self._feed_later(Event.BLUETOOTHD_LEFT)  # counted in bluez_errors
            if new:
                log.info("bluetoothd is on the bus (owner %s); setting up again", new)
                self._feed_later(Event.BLUETOOTHD_APPEARED)

    def _malformed(self, msg: Message) -> None:
        """A signal whose arguments are not of the documented types: ignored and counted."""
        self.stats.bluez_errors += 1
        if not self._malformed_logged:
            self._malformed_logged = True
            log.warning(
                "ignoring %s signal with signature %r from %s; further ones are only counted "
                "(bluez_errors)",
                msg.member,
                msg.signature,
                msg.path,
            )
