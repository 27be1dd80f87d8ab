"""Advertisement monitors registered by clients (org.bluez.AdvertisementMonitorManager1).

Like bluetoothd, the simulator reads the client's monitor objects from the client's own
ObjectManager (GetManagedObjects on the registered root, then InterfacesAdded/Removed under it),
calls ``Activate`` on each valid ``or_patterns`` monitor (``Release`` on invalid ones), and
``DeviceFound``/``DeviceLost`` as matching devices come and go.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from attrs import define, field
from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from bt_mqtt.bluezsim.model import validate_patterns

log = logging.getLogger(__name__)

MONITOR_IFACE: Final = "org.bluez.AdvertisementMonitor1"
OM_IFACE: Final = "org.freedesktop.DBus.ObjectManager"


@define
class Monitor:
    """One activated monitor object of a client."""

    path: str
    patterns: list[tuple[int, int, bytes]]
    found: set[str] = field(factory=set)


@define
class MonitorApp:
    """A registered monitor hierarchy: (client unique name, root path)."""

    sender: str
    root: str
    monitors: dict[str, Monitor] = field(factory=dict)
    match_rule: str = ""

    def in_tree(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")


def call_noreply(
    bus: MessageBus, dest: str, path: str, member: str, obj: str | None = None
) -> None:
    """Call a ``[noreply]`` method of org.bluez.AdvertisementMonitor1 on a client object."""
    bus.send(
        Message(
            destination=dest,
            path=path,
            interface=MONITOR_IFACE,
            member=member,
            signature="o" if obj is not None else "",
            body=[obj] if obj is not None else [],
            flags=MessageFlag.NO_REPLY_EXPECTED,
        )
    )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Variant) else value


def add_monitor(bus: MessageBus, app: MonitorApp, path: str, props: dict[str, Any]) -> None:
    """Validate a client's monitor object and activate (or release) it."""
    if not app.in_tree(path) or path in app.monitors:
        return
    try:
        if _plain(props.get("Type")) != "or_patterns":
            raise ValueError(f"unsupported monitor Type {_plain(props.get('Type'))!r}")
        patterns = validate_patterns(_plain(props.get("Patterns")))
    except (ValueError, TypeError) as exc:
        log.info("monitor %s of %s rejected: %s", path, app.sender, exc)
        call_noreply(bus, app.sender, path, "Release")
        return
    app.monitors[path] = Monitor(path=path, patterns=patterns)
    call_noreply(bus, app.sender, path, "Activate")


async def load_app(bus: MessageBus, app: MonitorApp) -> None:
    """Read the client's monitors through its ObjectManager at the registered root."""
    reply = await bus.call(
        Message(
            destination=app.sender, path=app.root, interface=OM_IFACE, member="GetManagedObjects"
        )
    )
    if reply is None or reply.message_type != MessageType.METHOD_RETURN:
        log.info("GetManagedObjects on %s %s failed", app.sender, app.root)
        return
    for path, interfaces in reply.body[0].items():
        if MONITOR_IFACE in interfaces:
            add_monitor(bus, app, path, interfaces[MONITOR_IFACE])


def on_client_signal(bus: MessageBus, app: MonitorApp, msg: Message) -> None:
    """InterfacesAdded/InterfacesRemoved from a client's monitor hierarchy."""
    if msg.member == "InterfacesAdded":
        path, interfaces = msg.body
        if MONITOR_IFACE in interfaces:
            add_monitor(bus, app, path, interfaces[MONITOR_IFACE])
    elif msg.member == "InterfacesRemoved":
        path, names = msg.body
        if MONITOR_IFACE in names:
            app.monitors.pop(path, None)
