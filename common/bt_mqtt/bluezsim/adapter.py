"""One simulated controller: org.bluez.Adapter1 state, discovery sessions, devices and
advertisement monitors, and how a heard advert turns into D-Bus signals.

Delivery follows bluetoothd: a new device is announced with InterfacesAdded (from ``/``); a
known one gets one PropertiesChanged per advert with what changed (RSSI on every advert when a
discovery filter or monitor is active; manufacturer/service data every time with
DuplicateData).  Adverts are heard only while powered and discovering or monitor-matched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from attrs import define
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface

from bt_mqtt.bluezsim import monitors as mon
from bt_mqtt.bluezsim.devices import DEVICE_IFACE, SimDevice
from bt_mqtt.bluezsim.ifaces import (
    ADAPTER_IFACE,
    MONITOR_MANAGER_IFACE,
    Adapter1,
    AdvertisementMonitorManager1,
    adapter_properties,
    bluez_error,
    monitor_manager_properties,
)
from bt_mqtt.bluezsim.model import (
    DiscoveryFilter,
    SimAdvert,
    ad_structures,
    device_path,
    parse_filter,
    pattern_matches,
)

if TYPE_CHECKING:
    from bt_mqtt.bluezsim.sim import BluezSim

log = logging.getLogger(__name__)

OM_IFACE: Final = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE: Final = "org.freedesktop.DBus.Properties"
STD_IFACES: Final[dict[str, dict[str, Variant]]] = {
    "org.freedesktop.DBus.Introspectable": {},
    PROPS_IFACE: {},
}


class QuietBus(MessageBus):
    """A bus whose ``export`` does not emit InterfacesAdded from the object's own path:
    bluetoothd emits those from its ObjectManager at ``/``, and so does the simulator."""

    def _emit_interface_added(self, path: str, interface: ServiceInterface) -> None:
        pass

    def _emit_interface_removed(self, path: str, removed_interfaces: list[str]) -> None:
        pass


class _EagainAsPartialWrite:
    """Socket wrapper: a full send buffer reads as "0 bytes written" instead of an error.

    dbus-fast's asyncio writer treats ``BlockingIOError`` from ``send`` as fatal and drops the
    connection; a simulator bursting thousands of signals fills the buffer, so it waits for
    the socket to become writable again instead.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            sent: int = self._sock.send(data)
        except BlockingIOError:
            return 0
        return sent

    def sendmsg(self, *args: Any) -> int:
        try:
            sent: int = self._sock.sendmsg(*args)
        except BlockingIOError:
            return 0
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def patient_writes(bus: MessageBus) -> None:
    """Make a connected bus wait out a full socket buffer (see ``_EagainAsPartialWrite``)."""
    writer = getattr(bus, "_writer", None)
    if writer is not None and hasattr(writer, "sock"):
        writer.sock = _EagainAsPartialWrite(writer.sock)


@define
class SimStats:
    """What the simulator did since it was created (survives restarts)."""

    adverts_in: int = 0
    adverts_delivered: int = 0
    adverts_unheard: int = 0
    devices_added: int = 0
    devices_removed: int = 0
    signals_sent: int = 0
    restarts: int = 0
    monitors_registered: int = 0  # RegisterMonitor calls accepted (a scan restart counts one)
    discoveries_started: int = 0  # StartDiscovery calls accepted
    power_changes: int = 0  # Powered switched on or off


class SimAdapter:
    """One simulated controller ``/org/bluez/<name>`` and its devices."""

    def __init__(self, sim: BluezSim, name: str, index: int) -> None:
        self.sim = sim
        self.name = name
        self.path = f"/org/bluez/{name}"
        self.address = f"00:1A:7D:DA:71:{index:02X}"
        self.system_name = f"bt-mqtt-sim #{index + 1}"
        self.alias: str | None = None
        self.powered = True
        self.discoverable = False
        self.pairable = True
        self.sessions: set[str] = set()
        self.filters: dict[str, DiscoveryFilter] = {}
        self.devices: dict[str, SimDevice] = {}
        self.apps: dict[tuple[str, str], mon.MonitorApp] = {}
        self.adapter_iface = Adapter1(self, sim.current_sender)
        self.monitor_iface = AdvertisementMonitorManager1(self, sim.current_sender)

    @property
    def discovering(self) -> bool:
        return bool(self.sessions) and self.powered

    def interfaces(self) -> dict[str, dict[str, Variant]]:
        out: dict[str, dict[str, Variant]] = {ADAPTER_IFACE: adapter_properties(self)}
        if self.sim.monitors != "unsupported":
            out[MONITOR_MANAGER_IFACE] = monitor_manager_properties()
        return {**STD_IFACES, **out}

    # -- discovery -------------------------------------------------------------------------
    def _emit_adapter(self, changed: dict[str, Variant], invalidated: Sequence[str] = ()) -> None:
        self.sim.emit_changed(self.path, ADAPTER_IFACE, changed, invalidated)

    def start_discovery(self, sender: str) -> None:
        if not self.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        if sender in self.sessions:
            raise bluez_error("InProgress", "Operation already in progress")
        was = self.discovering
        self.sessions.add(sender)
        self.sim.stats.discoveries_started += 1
        if not was:
            self._emit_adapter({"Discovering": Variant("b", True)})

    def stop_discovery(self, sender: str) -> None:
        if not self.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        if sender not in self.sessions:
            raise bluez_error("Failed", "No discovery started")
        self._drop_session(sender)

    def _drop_session(self, sender: str) -> None:
        if sender in self.sessions:
            self.sessions.discard(sender)
            if not self.sessions:
                self._discovery_stopped()

    def _discovery_stopped(self) -> None:
        self._emit_adapter({"Discovering": Variant("b", False)})
        if not self.apps:
            # bluetoothd forgets RSSI/TxPower of devices when discovery ends.
            for dev in self.devices.values():
                if dev.rssi is not None:
                    dev.rssi = dev.tx_power = None
                    self.sim.emit_changed(dev.path, DEVICE_IFACE, {}, ["RSSI", "TxPower"])

    def set_discovery_filter(self, sender: str, raw: dict[str, tuple[str, Any]]) -> None:
        if not self.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        try:
            flt = parse_filter(raw)
        except ValueError as exc:
            raise bluez_error(
                "InvalidArguments", f"Invalid arguments in method call: {exc}"
            ) from None
        if raw:
            self.filters[sender] = flt
        else:
            self.filters.pop(sender, None)

    def set_powered(self, on: bool) -> None:
        if on == self.powered:
            return
        self.sim.stats.power_changes += 1
        if not on and self.sessions:
            self.sessions.clear()
            self._discovery_stopped()
        self.powered = on
        self._emit_adapter(
            {
                "Powered": Variant("b", on),
                "PowerState": Variant("s", "on" if on else "off"),
                "Connectable": Variant("b", on),
            }
        )

    # -- devices ---------------------------------------------------------------------------
    def remove_device(self, path: str) -> None:
        dev = self.devices.pop(path, None)
        if dev is None:
            raise bluez_error("DoesNotExist", "Does Not Exist")
        for app in self.apps.values():
            for m in app.monitors.values():
                if path in m.found:
                    m.found.discard(path)
                    mon.call_noreply(self.sim.bus_or_fail(), app.sender, m.path, "DeviceLost", path)
        self.sim.stats.devices_removed += 1
        self.sim.send_signal(
            "/", OM_IFACE, "InterfacesRemoved", "oas", [path, [*STD_IFACES, DEVICE_IFACE]]
        )

    def deliver(self, advert: SimAdvert) -> bool:
        """The radio heard ``advert``: update or create its device; False when unheard."""
        sim = self.sim
        if not self.powered:
            return False
        matched: list[tuple[mon.MonitorApp, mon.Monitor]] = []
        if self.apps:
            structs = ad_structures(advert)
            for app in self.apps.values():
                for m in app.monitors.values():
                    if pattern_matches(structs, m.patterns):
                        matched.append((app, m))
        if not self.sessions and not matched:
            return False
        if self.sessions and not matched and not self._passes_filters(advert):
            return False
        path = device_path(self.path, advert.mac)
        dev = self.devices.get(path)
        if dev is None:
            dev = SimDevice.from_advert(path, self.path, advert)
            self.devices[path] = dev
            sim.stats.devices_added += 1
            body = {**STD_IFACES, DEVICE_IFACE: dev.properties()}
            sim.send_signal("/", OM_IFACE, "InterfacesAdded", "oa{sa{sv}}", [path, body])
        else:
            filtered = bool(matched) or any(s in self.filters for s in self.sessions)
            duplicate = bool(matched) or any(
                self.filters[s].duplicate_data for s in self.sessions if s in self.filters
            )
            changed = dev.update(advert, rssi_always=filtered, duplicate=duplicate)
            if changed:
                sim.emit_changed(path, DEVICE_IFACE, changed)
        for app, m in matched:
            if path not in m.found:
                m.found.add(path)
                mon.call_noreply(sim.bus_or_fail(), app.sender, m.path, "DeviceFound", path)
        return True

    def _passes_filters(self, advert: SimAdvert) -> bool:
        for s in self.sessions:
            f = self.filters.get(s)
            if f is None:
                return True
            if f.rssi is not None and advert.rssi < f.rssi:
                continue
            if f.uuids and not set(f.uuids) & {*advert.service_uuids, *advert.service_data}:
                continue
            return True
        return False

    # -- monitors --------------------------------------------------------------------------
    def register_monitor(self, sender: str, root: str) -> None:
        if self.sim.monitors == "refused":
            raise bluez_error("Failed", "Failed to register monitor (simulated refusal)")
        key = (sender, root)
        if key in self.apps:
            raise bluez_error("AlreadyExists", "Already Exists")
        app = mon.MonitorApp(sender=sender, root=root)
        app.match_rule = (
            f"type='signal',sender='{sender}',interface='{OM_IFACE}',path_namespace='{root}'"
        )
        self.apps[key] = app
        self.sim.stats.monitors_registered += 1
        self.sim.spawn(self._load(app))

    async def _load(self, app: mon.MonitorApp) -> None:
        bus = self.sim.bus_or_fail()
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[app.match_rule],
            )
        )
        await mon.load_app(bus, app)

    def unregister_monitor(self, sender: str, root: str) -> None:
        app = self.apps.pop((sender, root), None)
        if app is None:
            raise bluez_error("DoesNotExist", "Does Not Exist")
        bus = self.sim.bus_or_fail()
        for m in app.monitors.values():
            mon.call_noreply(bus, sender, m.path, "Release")
        self._stop_if_idle()

    def _stop_if_idle(self) -> None:
        if not self.apps and not self.sessions:
            for dev in self.devices.values():
                if dev.rssi is not None:
                    dev.rssi = dev.tx_power = None
                    self.sim.emit_changed(dev.path, DEVICE_IFACE, {}, ["RSSI", "TxPower"])

    def client_gone(self, sender: str) -> None:
        self.filters.pop(sender, None)
        self._drop_session(sender)
        for key in [k for k in self.apps if k[0] == sender]:
            del self.apps[key]
