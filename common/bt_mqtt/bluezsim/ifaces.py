"""The adapter-level D-Bus interfaces of the simulator (org.bluez.Adapter1 and
org.bluez.AdvertisementMonitorManager1), as dbus-fast ``ServiceInterface``s.

They hold no state of their own: every call goes to the ``SimAdapter`` in ``sim.py``, which
knows the calling client through ``sender()`` (set by the simulator's message handler just
before dbus-fast dispatches the call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from dbus_fast import DBusError, PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

if TYPE_CHECKING:
    from bt_mqtt.bluezsim.adapter import SimAdapter

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusNone = Annotated[None, DBusSignature("")]  # a method without out-arguments

ADAPTER_IFACE = "org.bluez.Adapter1"
MONITOR_MANAGER_IFACE = "org.bluez.AdvertisementMonitorManager1"
ERR = "org.bluez.Error."
ADAPTER_UUIDS = (
    "00001800-0000-1000-8000-00805f9b34fb",
    "00001801-0000-1000-8000-00805f9b34fb",
    "0000180a-0000-1000-8000-00805f9b34fb",
)


def bluez_error(name: str, text: str) -> DBusError:
    """An ``org.bluez.Error.<name>`` reply."""
    return DBusError(ERR + name, text)


class Adapter1(ServiceInterface):
    """org.bluez.Adapter1 for one simulated controller."""

    def __init__(self, adapter: SimAdapter, sender: Callable[[], str]) -> None:
        super().__init__(ADAPTER_IFACE)
        self._a = adapter
        self._sender = sender

    @dbus_method()
    def StartDiscovery(self) -> DBusNone:
        self._a.start_discovery(self._sender())

    @dbus_method()
    def StopDiscovery(self) -> DBusNone:
        self._a.stop_discovery(self._sender())

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict) -> DBusNone:
        raw = {k: (v.signature, v.value) for k, v in properties.items()}
        self._a.set_discovery_filter(self._sender(), raw)

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return [
            "UUIDs",
            "RSSI",
            "Pathloss",
            "Transport",
            "DuplicateData",
            "Discoverable",
            "Pattern",
        ]

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath) -> DBusNone:
        self._a.remove_device(device)

    @dbus_property(PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._a.address

    @dbus_property(PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self._a.system_name

    @dbus_property()
    def Alias(self) -> DBusStr:
        return self._a.alias or self._a.system_name

    @Alias.setter  # type: ignore[no-redef]
    def Alias(self, value: DBusStr) -> None:
        self._a.alias = value

    @dbus_property(PropertyAccess.READ)
    def Class(self) -> DBusUInt32:
        return 0x000000

    @dbus_property()
    def Powered(self) -> DBusBool:
        return self._a.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self._a.set_powered(bool(value))

    @dbus_property(PropertyAccess.READ)
    def PowerState(self) -> DBusStr:
        return "on" if self._a.powered else "off"

    @dbus_property()
    def Discoverable(self) -> DBusBool:
        return self._a.discoverable

    @Discoverable.setter  # type: ignore[no-redef]
    def Discoverable(self, value: DBusBool) -> None:
        if not self._a.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        self._a.discoverable = bool(value)

    @dbus_property()
    def DiscoverableTimeout(self) -> DBusUInt32:
        return 180

    @DiscoverableTimeout.setter  # type: ignore[no-redef]
    def DiscoverableTimeout(self, value: DBusUInt32) -> None:
        pass

    @dbus_property()
    def Pairable(self) -> DBusBool:
        return self._a.pairable

    @Pairable.setter  # type: ignore[no-redef]
    def Pairable(self, value: DBusBool) -> None:
        self._a.pairable = bool(value)

    @dbus_property()
    def PairableTimeout(self) -> DBusUInt32:
        return 0

    @PairableTimeout.setter  # type: ignore[no-redef]
    def PairableTimeout(self, value: DBusUInt32) -> None:
        pass

    @dbus_property()
    def Connectable(self) -> DBusBool:
        return self._a.powered

    @Connectable.setter  # type: ignore[no-redef]
    def Connectable(self, value: DBusBool) -> None:
        pass

    @dbus_property(PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self._a.discovering

    @dbus_property(PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return list(ADAPTER_UUIDS)

    @dbus_property(PropertyAccess.READ)
    def Modalias(self) -> DBusStr:
        return "usb:v1D6Bp0246d0548"

    @dbus_property(PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]


class AdvertisementMonitorManager1(ServiceInterface):
    """org.bluez.AdvertisementMonitorManager1; ``refused`` makes RegisterMonitor fail."""

    def __init__(self, adapter: SimAdapter, sender: Callable[[], str]) -> None:
        super().__init__(MONITOR_MANAGER_IFACE)
        self._a = adapter
        self._sender = sender

    @dbus_method()
    def RegisterMonitor(self, application: DBusObjectPath) -> DBusNone:
        self._a.register_monitor(self._sender(), application)

    @dbus_method()
    def UnregisterMonitor(self, application: DBusObjectPath) -> DBusNone:
        self._a.unregister_monitor(self._sender(), application)

    @dbus_property(PropertyAccess.READ)
    def SupportedMonitorTypes(self) -> DBusStrList:
        return ["or_patterns"]

    @dbus_property(PropertyAccess.READ)
    def SupportedFeatures(self) -> DBusStrList:
        return []


def adapter_properties(adapter: SimAdapter) -> dict[str, Variant]:
    """Adapter1's properties as variants (for InterfacesAdded and GetManagedObjects)."""
    a = adapter
    values: dict[str, tuple[str, Any]] = {
        "Address": ("s", a.address),
        "AddressType": ("s", "public"),
        "Name": ("s", a.system_name),
        "Alias": ("s", a.alias or a.system_name),
        "Class": ("u", 0),
        "Connectable": ("b", a.powered),
        "Powered": ("b", a.powered),
        "PowerState": ("s", "on" if a.powered else "off"),
        "Discoverable": ("b", a.discoverable),
        "DiscoverableTimeout": ("u", 180),
        "Pairable": ("b", a.pairable),
        "PairableTimeout": ("u", 0),
        "Discovering": ("b", a.discovering),
        "UUIDs": ("as", list(ADAPTER_UUIDS)),
        "Modalias": ("s", "usb:v1D6Bp0246d0548"),
        "Roles": ("as", ["central", "peripheral"]),
    }
    return {k: Variant(sig, v) for k, (sig, v) in values.items()}


def monitor_manager_properties() -> dict[str, Variant]:
    """AdvertisementMonitorManager1's properties as variants."""
    return {
        "SupportedMonitorTypes": Variant("as", ["or_patterns"]),
        "SupportedFeatures": Variant("as", []),
    }
