"""D-Bus plumbing of the bluez backend: names, errors, one awaited call, adapter lookup."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

BLUEZ: Final = "org.bluez"
ADAPTER_IFACE: Final = "org.bluez.Adapter1"
MANAGER_IFACE: Final = "org.bluez.AdvertisementMonitorManager1"
OM_IFACE: Final = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE: Final = "org.freedesktop.DBus.Properties"
DBUS: Final = "org.freedesktop.DBus"
SIGNAL: Final = MessageType.SIGNAL
ERROR: Final = MessageType.ERROR
TICK_S: Final = 1.0


class BluezError(Exception):
    """A D-Bus call to bluetoothd failed; ``name`` is the D-Bus error name."""

    def __init__(self, member: str, name: str, text: str) -> None:
        super().__init__(f"{member}: {name}: {text}")
        self.name = name


async def call(
    bus: MessageBus | None,
    path: str,
    iface: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
    destination: str = BLUEZ,
) -> Message:
    """Call a method and wait for the reply; a D-Bus error reply raises ``BluezError``.

    On a ``CoalescingBus`` (``dbus_fast_adapter``) the reply is read as soon as it arrives."""
    if bus is None or not bus.connected:
        raise BluezError(member, "org.freedesktop.DBus.Error.Disconnected", "no bus")
    reply = await bus.call(
        Message(
            destination=destination,
            path=path,
            interface=iface,
            member=member,
            signature=signature,
            body=body or [],
        )
    )
    if reply.message_type == ERROR:
        text = reply.body[0] if reply.body else ""
        raise BluezError(member, reply.error_name or "?", text)
    return reply


def find_adapter(objects: dict[str, dict[str, dict[str, Any]]], want: str) -> str | None:
    """The object path of adapter ``want`` (``hci0``, a path or its address), if present."""
    for path, ifaces in sorted(objects.items()):
        props = ifaces.get(ADAPTER_IFACE)
        if props is None:
            continue
        if path.rsplit("/", 1)[-1] == want or path == want:
            return path
        if props["Address"].value.upper() == want.upper():
            return path
    return None


async def remove_devices(bus: MessageBus | None, adapter: str, paths: list[str]) -> tuple[int, int]:
    """Adapter1.RemoveDevice each path, 64 calls in flight at most; (removed, errors).

    A device that is already gone (DoesNotExist) is neither removed nor an error.
    """
    removed = errors = 0
    for i in range(0, len(paths), 64):
        chunk = paths[i : i + 64]
        results = await asyncio.gather(
            *(call(bus, adapter, ADAPTER_IFACE, "RemoveDevice", "o", [p]) for p in chunk),
            return_exceptions=True,
        )
        for p, res in zip(chunk, results, strict=True):
            if isinstance(res, BluezError):
                if res.name != "org.bluez.Error.DoesNotExist":
                    errors += 1
                    log.info("RemoveDevice %s: %s", p, res)
            elif isinstance(res, BaseException):
                raise res
            else:
                removed += 1
    return removed, errors
