"""The subscriber's gmqtt receive path: parsing, no automatic PUBACK, bulk PUBACK per connection.

These tests pin the gmqtt internals ``bt_mqtt.subscriber.receiver`` relies on, against a real
Mosquitto: if a gmqtt upgrade changes them, a test here fails rather than the subscriber
silently acknowledging too early or never.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import gmqtt

from bt_mqtt.subscriber import receiver
from tests.fixtures.mosquitto import Broker

Got = list[tuple[str, bytes, bytes | None, Any]]


async def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _consumer(broker: Broker, got: Got, client_id: str = "rx") -> gmqtt.Client:
    client = gmqtt.Client(
        client_id, clean_session=False, optimistic_acknowledgement=False, session_expiry_interval=60
    )
    receiver.install(client, lambda *msg: got.append(msg))
    client.on_connect = lambda c, *a: c.subscribe("rx/#", qos=1)
    await client.connect(broker.host, broker.port)
    return client


async def _publisher(broker: Broker) -> gmqtt.Client:
    pub = gmqtt.Client("rx-pub")
    await pub.connect(broker.host, broker.port)
    return pub


def test_messages_reach_the_sink_and_are_acknowledged_only_when_asked(mosquitto: Broker) -> None:
    broker = mosquitto

    async def go() -> None:
        got: Got = []
        client = await _consumer(broker, got)
        await asyncio.sleep(0.3)  # subscribed
        pub = await _publisher(broker)
        pub.publish("rx/a", b"one", qos=1)
        pub.publish("rx/b", b"two", qos=1, user_property=[("k", "v")], message_expiry_interval=60)
        pub.publish("rx/c", b"three", qos=0)
        await _until(lambda: len(got) == 3, 10, "three messages")
        assert [(t, p) for t, p, _, _ in got] == [
            ("rx/a", b"one"),
            ("rx/b", b"two"),
            ("rx/c", b"three"),
        ]
        acks = [a for _, _, a, _ in got]
        assert acks[2] is None  # QoS 0: nothing to acknowledge
        assert all(a is not None and len(a) == 4 and a[:2] == b"\x40\x02" for a in acks[:2])
        conn = got[0][3]
        assert conn is receiver.current_connection(client) is not None

        # nothing was acknowledged: a new connection gets both QoS 1 messages again, and the
        # PUBACKs of the old connection are refused
        await client.disconnect()
        again: Got = []
        client = await _consumer(broker, again)
        await _until(lambda: len(again) == 2, 10, "redelivery")
        assert sorted(p for _, p, _, _ in again) == [b"one", b"two"]
        assert not receiver.send_acks(client, conn, b"".join(a for a in acks if a))

        # acknowledged in one write on the live connection: nothing comes back after that
        live = again[0][3]
        assert receiver.send_acks(client, live, b"".join(a for _, _, a, _ in again if a))
        await asyncio.sleep(0.3)
        await client.disconnect()
        last: Got = []
        client = await _consumer(broker, last)
        pub.publish("rx/d", b"four", qos=1)
        await _until(lambda: len(last) >= 1, 10, "the next message")
        await asyncio.sleep(0.3)
        assert [p for _, p, _, _ in last] == [b"four"]
        await client.disconnect()
        await pub.disconnect()

    asyncio.run(go())


def test_send_acks_without_a_connection(mosquitto: Broker) -> None:
    client = gmqtt.Client("never-connected")
    assert receiver.current_connection(client) is None
    assert receiver.send_acks(client, None, b"")  # nothing to send is always fine
    assert not receiver.send_acks(client, None, b"\x40\x02\x00\x01")
