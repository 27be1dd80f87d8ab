"""The dbus-fast adapter: a bus that paces its socket reads, on a real private dbus-daemon."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from bt_mqtt.agent.backends import dbus_fast_adapter
from bt_mqtt.agent.backends.dbus_fast_adapter import (
    CoalescingBus,
    DbusFastIncompatible,
    check,
    missing_internals,
)
from tests.agent.bluez_helpers import wait_until
from tests.fixtures.dbus import PrivateBus

IFACE = "org.btmqtt.Test"
DBUS = "org.freedesktop.DBus"


async def listener(address: str, interval_s: float) -> tuple[CoalescingBus, list[Message]]:
    """A connected ``CoalescingBus`` subscribed to every ``IFACE`` signal, and what it got."""
    got: list[Message] = []
    bus = CoalescingBus(
        interval_s=interval_s,
        progress=lambda: len(got),
        bus_address=address,
        bus_type=BusType.SESSION,
    )
    await bus.connect()

    def on_message(msg: Message) -> None:
        if msg.message_type is MessageType.SIGNAL and msg.interface == IFACE:
            got.append(msg)

    bus.add_message_handler(on_message)
    rule = f"type='signal',interface='{IFACE}'"
    reply = await bus.call(
        Message(destination=DBUS, path="/org/freedesktop/DBus", interface=DBUS,
                member="AddMatch", signature="s", body=[rule])
    )  # fmt: skip
    assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
    return bus, got


async def emit(bus: MessageBus, n: int, every_s: float) -> None:
    for i in range(n):
        await bus.send(Message.new_signal("/t", IFACE, "Tick", "u", [i]))
        await asyncio.sleep(every_s)


def test_signals_are_read_in_batches_and_every_one_delivered(dbus_bus: PrivateBus) -> None:
    async def go() -> None:
        paced, paced_got = await listener(dbus_bus.address, 0.2)
        eager, eager_got = await listener(dbus_bus.address, 0)
        sender = await MessageBus(bus_address=dbus_bus.address).connect()
        r0, e0 = paced.paced.reads, eager.paced.reads
        await emit(sender, 60, 0.02)  # about 1.2 s
        await wait_until(lambda: len(paced_got) == 60 and len(eager_got) == 60, what="60 each")
        assert [m.body[0] for m in paced_got] == list(range(60))  # all, in order
        assert [m.body[0] for m in eager_got] == list(range(60))
        # one read per 0.2 s at most (plus the first): about 7; read on every event: about 60
        assert paced.paced.reads - r0 <= 12
        assert eager.paced.reads - e0 >= 40
        for bus in (paced, eager, sender):
            bus.disconnect()

    asyncio.run(go())


def test_a_reply_is_read_at_once_while_reads_are_paced(dbus_bus: PrivateBus) -> None:
    async def go() -> None:
        bus, got = await listener(dbus_bus.address, 5.0)
        sender = await MessageBus(bus_address=dbus_bus.address).connect()
        await emit(sender, 1, 0)
        await wait_until(lambda: len(got) == 1, what="the signal")  # the next read is 5 s away
        t0 = time.monotonic()
        reply = await bus.call(
            Message(destination=DBUS, path="/org/freedesktop/DBus", interface=DBUS,
                    member="GetId")
        )  # fmt: skip
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
        assert time.monotonic() - t0 < 2.0
        # and the signals that came meanwhile were read with it, not 5 s later
        await emit(sender, 3, 0)
        await bus.call(
            Message(destination=DBUS, path="/org/freedesktop/DBus", interface=DBUS,
                    member="GetId")
        )  # fmt: skip
        await wait_until(lambda: len(got) == 4, timeout=2.0, what="signals sent before the call")
        for b in (bus, sender):
            b.disconnect()

    asyncio.run(go())


def test_disconnect_with_a_read_pending_stops_cleanly(dbus_bus: PrivateBus) -> None:
    errors: list[dict[str, Any]] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        bus, got = await listener(dbus_bus.address, 0.1)
        sender = await MessageBus(bus_address=dbus_bus.address).connect()
        await emit(sender, 1, 0)
        await wait_until(lambda: len(got) == 1, what="the signal")  # a paced read is pending
        bus.disconnect()
        await asyncio.wait_for(bus.wait_for_disconnect(), 2.0)  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.3)  # past the pending read
        assert not bus.connected
        sender.disconnect()

    asyncio.run(go())
    assert errors == []


def test_the_installed_dbus_fast_has_every_internal_used() -> None:
    assert missing_internals() == []
    check()


def test_a_dbus_fast_without_the_internals_is_named() -> None:
    class OtherBus:
        __slots__ = ("_event_loop",)

        async def connect(self) -> None:
            return None

    assert missing_internals(OtherBus) == [
        "MessageBus._loop",
        "MessageBus.connect -> _loop",
        "MessageBus.connect -> add_reader",
        "MessageBus.connect -> build_message_reader",
    ]
    with pytest.raises(DbusFastIncompatible, match=r"dbus-fast \S+ lacks MessageBus\._loop"):
        check(OtherBus)


def test_a_reader_registered_another_way_fails_connect_loudly(
    dbus_bus: PrivateBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If connect stopped registering its reader through ``_loop.add_reader``, pacing would
    silently stop: connect says so instead."""

    def elsewhere(self: Any, fd: int, callback: Any, *args: Any) -> None:
        self._real.add_reader(fd, callback, *args)  # registered, but not through the tap

    monkeypatch.setattr(dbus_fast_adapter._LoopTap, "add_reader", elsewhere)

    async def go() -> None:
        bus = CoalescingBus(interval_s=0.1, bus_address=dbus_bus.address, bus_type=BusType.SESSION)
        with pytest.raises(DbusFastIncompatible, match="registered 0 socket readers"):
            await bus.connect()
        assert not bus.connected  # and nothing reads its socket

    asyncio.run(go())
