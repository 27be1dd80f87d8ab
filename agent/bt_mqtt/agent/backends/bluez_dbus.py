"""D-Bus plumbing of the bluez backend: names, errors, one awaited call, adapter lookup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
BURST: Final = 100  # messages in one batched read that mean "the sender is ahead of us"

# id(bus) -> (bus, "read the socket now") for buses whose reads are batched (``coalesce_reads``)
_read_now: dict[int, tuple[MessageBus, Callable[[], None]]] = {}


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
    """Call a method and wait for the reply; a D-Bus error reply raises ``BluezError``."""
    if bus is None or not bus.connected:
        raise BluezError(member, "org.freedesktop.DBus.Error.Disconnected", "no bus")
    entry = _read_now.get(id(bus))
    if entry is not None and entry[0] is bus:
        entry[1]()  # the reply must not wait for the next batched read
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


def coalesce_reads(
    bus: MessageBus, interval_s: float, progress: Callable[[], int] | None = None
) -> bool:
    """Read the bus socket at most every ``interval_s`` instead of on every readable event.

    At a few hundred signals per second each advert otherwise costs its own event-loop wakeup
    (epoll + callback), which dominates the CPU per advert; batching them bounds wakeups to
    1/interval per second at the price of up to ``interval_s`` extra latency.  Replies are not
    delayed: ``call`` reads at once, and reading stays immediate while replies are awaited.
    ``progress`` (messages handled so far) keeps reading immediate after a read that found
    ``BURST`` messages or more: the socket's buffer holds only a few hundred, so the sender
    may be ahead of us, and waiting a whole interval would cap the throughput.
    Relies on dbus-fast's asyncio bus registering one reader on its socket; returns False (and
    changes nothing) if that is not what it finds.
    """
    loop = asyncio.get_running_loop()
    fd = getattr(bus, "_fd", None)
    selector = getattr(loop, "_selector", None)
    if fd is None or selector is None or interval_s <= 0:
        return False
    try:
        handle = selector.get_key(fd).data[0]
    except (KeyError, IndexError, TypeError):
        return False
    read = getattr(handle, "_callback", None)
    if read is None:
        return False
    timer: asyncio.TimerHandle | None = None
    seen = progress() if progress is not None else 0

    def rearm() -> None:
        nonlocal timer
        timer = None
        if bus.connected:
            loop.add_reader(fd, on_readable)

    def on_readable() -> None:
        nonlocal timer, seen
        read()
        if getattr(bus, "_method_return_handlers", None):
            return  # replies awaited: keep reading as data comes
        if progress is not None:
            before, seen = seen, progress()
            if seen - before >= BURST:
                return  # a full socket: keep reading as data comes
        loop.remove_reader(fd)
        timer = loop.call_later(interval_s, rearm)

    def read_now() -> None:
        if timer is not None:
            timer.cancel()
            rearm()

    loop.remove_reader(fd)
    loop.add_reader(fd, on_readable)
    for key, (other, _fn) in list(_read_now.items()):
        if not other.connected:
            del _read_now[key]
    _read_now[id(bus)] = (bus, read_now)
    return True
