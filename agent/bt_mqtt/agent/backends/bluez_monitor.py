"""The agent's org.bluez.AdvertisementMonitor1 object for passive scanning.

The monitor only has to make bluetoothd scan passively and report devices; the agent reads
the adverts from Device1 PropertiesChanged like in active mode.  ``or_patterns`` must name
concrete AD content, so we match the Flags AD structure (type 0x01) with every legal flags
byte: bits 0-4 are defined (LE Limited/General Discoverable, BR/EDR Not Supported, the two
simultaneous LE+BR/EDR bits) and bits 5-7 are reserved, so 0x00-0x1F covers every device that
sends a Flags structure (0x06, 0x1A, 0x02, 0x04, 0x05, 0x18, ...).  Devices that send no
Flags at all (some non-connectable beacons) are only seen in active mode.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Final

from dbus_fast import PropertyAccess
from dbus_fast.annotations import DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

MONITOR_IFACE: Final = "org.bluez.AdvertisementMonitor1"
AD_TYPE_FLAGS: Final = 0x01
FLAG_PATTERNS: Final = [(0, AD_TYPE_FLAGS, bytes([value])) for value in range(0x20)]

DBusNone = Annotated[None, DBusSignature("")]
DBusPatterns = Annotated[list[tuple[int, int, bytes]], DBusSignature("a(yyay)")]


class AgentMonitor(ServiceInterface):
    """One or_patterns monitor; ``activated``/``released`` report what bluetoothd did."""

    def __init__(self) -> None:
        super().__init__(MONITOR_IFACE)
        self.activated = asyncio.Event()
        self.released = asyncio.Event()
        self.found = 0
        self.lost = 0

    async def wait_activated(self, timeout: float) -> bool:
        """True once bluetoothd activated the monitor; False if released or timed out."""
        activated = asyncio.ensure_future(self.activated.wait())
        released = asyncio.ensure_future(self.released.wait())
        _done, pending = await asyncio.wait(
            {activated, released}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for fut in pending:
            fut.cancel()
        return self.activated.is_set() and not self.released.is_set()

    @dbus_method()
    def Release(self) -> DBusNone:
        self.released.set()

    @dbus_method()
    def Activate(self) -> DBusNone:
        self.activated.set()

    @dbus_method()
    def DeviceFound(self, device: DBusObjectPath) -> DBusNone:
        self.found += 1

    @dbus_method()
    def DeviceLost(self, device: DBusObjectPath) -> DBusNone:
        self.lost += 1

    @dbus_property(PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "or_patterns"

    @dbus_property(PropertyAccess.READ)
    def Patterns(self) -> DBusPatterns:
        return FLAG_PATTERNS
