"""``BluezSim``: a fake ``org.bluez`` on a D-Bus bus, speaking the real BlueZ D-Bus API.

One bus connection owns ``org.bluez``; the ObjectManager at ``/`` answers GetManagedObjects
and sends InterfacesAdded/InterfacesRemoved; each ``SimAdapter`` (``/org/bluez/hci0``...) has
org.bluez.Adapter1 and, unless ``monitors="unsupported"``, AdvertisementMonitorManager1.
Device objects are served straight from the message handler (their optional properties come
and go like bluetoothd's).  Switches: ``monitors`` (supported, unsupported, refused),
``power_off``/``power_on``, ``restart`` (drop the name and all state, then re-acquire it),
``advertise``, ``play`` (timed or rate-driven), ``set_device`` (paired/connected flags).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, Final

from dbus_fast import BusType, Message, MessageType, RequestNameReply, Variant
from dbus_fast.aio import MessageBus

from bt_mqtt.bluezsim import monitors as mon
from bt_mqtt.bluezsim.adapter import (
    OM_IFACE,
    PROPS_IFACE,
    STD_IFACES,
    QuietBus,
    SimAdapter,
    SimStats,
    patient_writes,
)
from bt_mqtt.bluezsim.devices import DEVICE_IFACE, WRITABLE
from bt_mqtt.bluezsim.ifaces import MONITOR_MANAGER_IFACE
from bt_mqtt.bluezsim.model import SimAdvert, advert_from_json, device_path

log = logging.getLogger(__name__)

MONITOR_MODES: Final = ("supported", "unsupported", "refused")
_DBUS = "org.freedesktop.DBus"
_DEVICE_XML = (
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" '
    '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">'
    '<node><interface name="org.freedesktop.DBus.Introspectable"/>'
    f'<interface name="{DEVICE_IFACE}"/><interface name="{PROPS_IFACE}"/></node>'
)


class BluezSim:
    """A running (after ``start``) simulated bluetoothd; usable as an async context manager."""

    def __init__(
        self,
        bus_address: str | None = None,
        *,
        adapters: Sequence[str] = ("hci0",),
        monitors: str = "supported",
        bus_name: str = "org.bluez",
    ) -> None:
        if monitors not in MONITOR_MODES:
            raise ValueError(f"monitors must be one of {MONITOR_MODES}, not {monitors!r}")
        self.bus_address = bus_address
        self.adapter_names = list(adapters)
        self.monitors = monitors
        self.bus_name = bus_name
        self.stats = SimStats()
        self.bus: MessageBus | None = None
        self.adapters: dict[str, SimAdapter] = {}
        self._sender = ""
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- plumbing used by the adapters -------------------------------------------------------
    def current_sender(self) -> str:
        """The unique name of the client whose call is being dispatched."""
        return self._sender

    def bus_or_fail(self) -> MessageBus:
        if self.bus is None:
            raise RuntimeError("the simulator is not running")
        return self.bus

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send_signal(self, path: str, iface: str, member: str, sig: str, body: list[Any]) -> None:
        if self.bus is None:
            return
        self.stats.signals_sent += 1
        self.bus.send(Message.new_signal(path, iface, member, sig, body))

    def emit_changed(
        self, path: str, iface: str, changed: dict[str, Variant], invalidated: Sequence[str] = ()
    ) -> None:
        self.send_signal(
            path, PROPS_IFACE, "PropertiesChanged", "sa{sv}as", [iface, changed, list(invalidated)]
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, export the adapters and take the bus name."""
        bus = QuietBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
        for attempt in range(50):  # a just-started dbus-daemon may not listen yet
            try:
                await bus.connect()
                break
            except ConnectionRefusedError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.05)
                bus = QuietBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
        patient_writes(bus)
        bus.add_message_handler(self._on_message)
        await bus.call(
            Message(
                destination=_DBUS,
                path="/org/freedesktop/DBus",
                interface=_DBUS,
                member="AddMatch",
                signature="s",
                body=[f"type='signal',sender='{_DBUS}',member='NameOwnerChanged'"],
            )
        )
        self.bus = bus
        self.adapters = {}
        for index, name in enumerate(self.adapter_names):
            adapter = SimAdapter(self, name, index)
            self.adapters[name] = adapter
            bus.export(adapter.path, adapter.adapter_iface)
            if self.monitors != "unsupported":
                bus.export(adapter.path, adapter.monitor_iface)
        reply = await bus.request_name(self.bus_name)
        if reply != RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            self.bus = None
            raise RuntimeError(f"could not own {self.bus_name!r} on the bus ({reply})")
        log.info("bluez simulator up as %s (%s)", self.bus_name, bus.unique_name)

    async def stop(self) -> None:
        """Disconnect (the name goes away with the connection)."""
        for task in list(self._tasks):
            task.cancel()
        bus, self.bus = self.bus, None
        if bus is not None:
            bus.disconnect()
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def restart(self) -> None:
        """Like bluetoothd restarting: name lost, devices/monitors/discovery forgotten."""
        await self.stop()
        self.stats.restarts += 1
        await self.start()

    async def __aenter__(self) -> BluezSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test switches -----------------------------------------------------------------------
    def adapter(self, name: str = "hci0") -> SimAdapter:
        return self.adapters[name]

    def power_off(self, adapter: str = "hci0") -> None:
        self.adapters[adapter].set_powered(False)

    def power_on(self, adapter: str = "hci0") -> None:
        self.adapters[adapter].set_powered(True)

    def device_count(self, adapter: str = "hci0") -> int:
        return len(self.adapters[adapter].devices)

    def set_device(self, mac: str, adapter: str = "hci0", **flags: bool) -> None:
        """Set Paired/Connected/... of a known device (keyword names as SimDevice fields)."""
        a = self.adapters[adapter]
        dev = a.devices[device_path(a.path, mac.upper())]
        names = {"paired": "Paired", "bonded": "Bonded", "connected": "Connected"}
        changed = {}
        for key, value in flags.items():
            setattr(dev, key, value)
            if key in names:
                changed[names[key]] = Variant("b", value)
        self.emit_changed(dev.path, DEVICE_IFACE, changed)

    def advertise(self, advert: SimAdvert | dict[str, Any], adapter: str = "hci0") -> bool:
        """The radio hears one advert (a SimAdvert or a wire-format dict); False if unheard."""
        if isinstance(advert, dict):
            advert = advert_from_json(advert)[1]
        self.stats.adverts_in += 1
        a = self.adapters.get(adapter)
        if a is not None and self.bus is not None and a.deliver(advert):
            self.stats.adverts_delivered += 1
            return True
        self.stats.adverts_unheard += 1
        return False

    async def play(
        self,
        items: Iterable[tuple[float | None, SimAdvert]],
        *,
        rate: float | None = None,
        adapter: str = "hci0",
    ) -> int:
        """Advertise ``items``: at ``rate`` per second if given, else at their ``t`` offsets.

        Paced in small batches against the monotonic clock, so high rates keep up.
        """
        start = time.monotonic()
        sent = 0
        for t, advert in items:
            due = (sent / rate) if rate else (t or 0.0)
            delay = start + due - time.monotonic()
            if delay > 0.002:
                await asyncio.sleep(delay)
            elif sent % 64 == 63:
                await asyncio.sleep(0)
            self.advertise(advert, adapter)
            sent += 1
        return sent

    # -- the message handler -----------------------------------------------------------------
    def _on_message(self, msg: Message) -> Message | bool | None:
        if msg.message_type == MessageType.METHOD_CALL:
            self._sender = msg.sender or ""
            path = msg.path or ""
            if path == "/" and msg.member == "GetManagedObjects":
                return Message.new_method_return(msg, "a{oa{sa{sv}}}", [self._managed_objects()])
            if "/dev_" in path:
                return self._device_call(msg, path)
            return None
        if msg.message_type == MessageType.SIGNAL:
            if msg.member == "NameOwnerChanged" and msg.sender == _DBUS:
                name, _old, new = msg.body
                if not new and name.startswith(":"):
                    for a in self.adapters.values():
                        a.client_gone(name)
            elif msg.interface == OM_IFACE:
                for a in self.adapters.values():
                    for app in a.apps.values():
                        if app.sender == msg.sender and app.in_tree(msg.path or ""):
                            mon.on_client_signal(self.bus_or_fail(), app, msg)
        return None

    def _managed_objects(self) -> dict[str, dict[str, dict[str, Variant]]]:
        out: dict[str, dict[str, dict[str, Variant]]] = {}
        for a in self.adapters.values():
            out[a.path] = a.interfaces()
            for path, dev in a.devices.items():
                out[path] = {**STD_IFACES, DEVICE_IFACE: dev.properties()}
        return out

    def _device_call(self, msg: Message, path: str) -> Message:
        dev = None
        for a in self.adapters.values():
            dev = a.devices.get(path)
            if dev is not None:
                break
        if dev is None:
            return Message.new_error(
                msg, "org.freedesktop.DBus.Error.UnknownObject", f"no object at {path}"
            )
        iface, member = msg.interface, msg.member
        if iface == "org.freedesktop.DBus.Introspectable" and member == "Introspect":
            return Message.new_method_return(msg, "s", [_DEVICE_XML])
        if iface == PROPS_IFACE and member in ("Get", "GetAll", "Set"):
            if msg.body[0] != DEVICE_IFACE:
                return Message.new_error(
                    msg, "org.freedesktop.DBus.Error.InvalidArgs", "No such interface"
                )
            props = dev.properties()
            if member == "GetAll":
                return Message.new_method_return(msg, "a{sv}", [props])
            name = msg.body[1]
            if member == "Get":
                if name not in props:
                    return Message.new_error(
                        msg, "org.freedesktop.DBus.Error.InvalidArgs", "No such property"
                    )
                return Message.new_method_return(msg, "v", [props[name]])
            if name not in WRITABLE:
                return Message.new_error(
                    msg, "org.freedesktop.DBus.Error.PropertyReadOnly", f"{name} is read-only"
                )
            dev.set_property(name, msg.body[2].value)
            self.emit_changed(path, DEVICE_IFACE, {name: dev.properties()[name]})
            return Message.new_method_return(msg)
        if iface == DEVICE_IFACE:
            return Message.new_error(
                msg, "org.bluez.Error.NotSupported", f"{member} is not simulated"
            )
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"{member}?")

    def set_monitors(self, mode: str) -> None:
        """Switch monitor support at runtime (takes effect for new registrations)."""
        if mode not in MONITOR_MODES:
            raise ValueError(f"monitors must be one of {MONITOR_MODES}, not {mode!r}")
        old, self.monitors = self.monitors, mode
        if self.bus is None or (old == "unsupported") == (mode == "unsupported"):
            return
        for a in self.adapters.values():
            if mode == "unsupported":
                self.bus.unexport(a.path, a.monitor_iface)
                a.apps.clear()
                self.send_signal(
                    "/", OM_IFACE, "InterfacesRemoved", "oas", [a.path, [MONITOR_MANAGER_IFACE]]
                )
            else:
                self.bus.export(a.path, a.monitor_iface)
                body = {MONITOR_MANAGER_IFACE: a.interfaces()[MONITOR_MANAGER_IFACE]}
                self.send_signal("/", OM_IFACE, "InterfacesAdded", "oa{sa{sv}}", [a.path, body])
