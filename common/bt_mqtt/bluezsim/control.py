"""The simulator's control interface, ``org.btmqtt.Sim1`` at ``/org/btmqtt/sim``.

It lives on its own bus connection (name ``org.btmqtt.BluezSim`` by default) so it survives the
simulated bluetoothd restarting.  ``SimClient`` drives a simulator in another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, Final

import attrs
from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusDouble, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from bt_mqtt.bluezsim.model import ScenarioError, advert_from_json, read_scenario, synthetic
from bt_mqtt.bluezsim.sim import BluezSim

log = logging.getLogger(__name__)

CONTROL_NAME: Final = "org.btmqtt.BluezSim"
CONTROL_PATH: Final = "/org/btmqtt/sim"
CONTROL_IFACE: Final = "org.btmqtt.Sim1"

DBusNone = Annotated[None, DBusSignature("")]
DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusCounters = Annotated[dict[str, int], DBusSignature("a{st}")]
DBusFlags = Annotated[dict[str, bool], DBusSignature("a{sb}")]


class SimControl(ServiceInterface):
    """Test and demo switches of a running ``BluezSim``."""

    def __init__(self, sim: BluezSim) -> None:
        super().__init__(CONTROL_IFACE)
        self.sim = sim
        self._tasks: set[asyncio.Task[Any]] = set()

    def _bad(self, text: str) -> Exception:
        return DBusError("org.btmqtt.Error.InvalidArguments", text)

    @dbus_method()
    def Advertise(self, advert_json: DBusStr, adapter: DBusStr) -> DBusBool:
        try:
            _t, advert = advert_from_json(json.loads(advert_json))
        except (ValueError, ScenarioError) as exc:
            raise self._bad(str(exc)) from None
        return self.sim.advertise(advert, adapter or "hci0")

    @dbus_method()
    def AdvertiseMany(self, adverts_json: DBusStrList, adapter: DBusStr) -> DBusUInt32:
        try:
            items = list(read_scenario(adverts_json, "AdvertiseMany"))
        except ScenarioError as exc:
            raise self._bad(str(exc)) from None
        return sum(self.sim.advertise(a, adapter or "hci0") for _t, a in items)

    @dbus_method()
    def PowerOff(self, adapter: DBusStr) -> DBusNone:
        self.sim.power_off(adapter or "hci0")

    @dbus_method()
    def PowerOn(self, adapter: DBusStr) -> DBusNone:
        self.sim.power_on(adapter or "hci0")

    @dbus_method()
    async def Restart(self) -> DBusNone:
        await self.sim.restart()

    @dbus_method()
    def SetMonitors(self, mode: DBusStr) -> DBusNone:
        try:
            self.sim.set_monitors(mode)
        except ValueError as exc:
            raise self._bad(str(exc)) from None

    @dbus_method()
    def SetDevice(self, mac: DBusStr, flags: DBusFlags, adapter: DBusStr) -> DBusNone:
        try:
            self.sim.set_device(mac, adapter or "hci0", **flags)
        except KeyError as exc:
            raise self._bad(f"unknown device or adapter {exc}") from None

    @dbus_method()
    def DeviceCount(self, adapter: DBusStr) -> DBusUInt32:
        return self.sim.device_count(adapter or "hci0")

    @dbus_method()
    def Stats(self) -> DBusCounters:
        s = self.sim.stats
        counters = {k: int(v) for k, v in attrs.asdict(s).items()}
        counters["playing"] = len(self._tasks)
        return counters

    @dbus_method()
    def Synthetic(self, devices: DBusUInt32, count: DBusUInt32, rate: DBusDouble) -> DBusNone:
        """Play ``count`` adverts from ``devices`` random addresses at ``rate``/s (background)."""
        if devices < 1 or rate <= 0:
            raise self._bad("devices must be >= 1 and rate > 0")
        self._spawn(self.sim.play(synthetic(devices, count or None), rate=rate))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def serve_control(sim: BluezSim, name: str = CONTROL_NAME) -> MessageBus:
    """Export the control interface on a new connection to the simulator's bus."""
    bus = await MessageBus(bus_address=sim.bus_address, bus_type=BusType.SYSTEM).connect()
    bus.export(CONTROL_PATH, SimControl(sim))
    await bus.request_name(name)
    return bus


class SimClient:
    """Drives a simulator in another process through ``org.btmqtt.Sim1``."""

    def __init__(self, bus: MessageBus, name: str = CONTROL_NAME) -> None:
        self.bus = bus
        self.name = name

    @classmethod
    async def connect(cls, address: str, name: str = CONTROL_NAME) -> SimClient:
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        return cls(bus, name)

    def close(self) -> None:
        self.bus.disconnect()

    async def call(self, member: str, signature: str = "", *body: Any) -> Any:
        reply = await self.bus.call(
            Message(
                destination=self.name,
                path=CONTROL_PATH,
                interface=CONTROL_IFACE,
                member=member,
                signature=signature,
                body=list(body),
            )
        )
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(
                f"{member}: {reply.error_name}: {reply.body[0] if reply.body else ''}"
            )
        return reply.body[0] if reply.body else None

    async def advertise(self, advert: dict[str, Any], adapter: str = "hci0") -> bool:
        return bool(await self.call("Advertise", "ss", json.dumps(advert), adapter))

    async def advertise_many(self, adverts: list[dict[str, Any]], adapter: str = "hci0") -> int:
        return int(
            await self.call("AdvertiseMany", "ass", [json.dumps(a) for a in adverts], adapter)
        )

    async def power_off(self, adapter: str = "hci0") -> None:
        await self.call("PowerOff", "s", adapter)

    async def power_on(self, adapter: str = "hci0") -> None:
        await self.call("PowerOn", "s", adapter)

    async def restart(self) -> None:
        await self.call("Restart")

    async def set_monitors(self, mode: str) -> None:
        await self.call("SetMonitors", "s", mode)

    async def set_device(self, mac: str, adapter: str = "hci0", **flags: bool) -> None:
        await self.call("SetDevice", "sa{sb}s", mac, flags, adapter)

    async def device_count(self, adapter: str = "hci0") -> int:
        return int(await self.call("DeviceCount", "s", adapter))

    async def stats(self) -> dict[str, int]:
        result: dict[str, int] = await self.call("Stats")
        return result

    async def synthetic(self, devices: int, count: int, rate: float) -> None:
        await self.call("Synthetic", "uud", devices, count, rate)
