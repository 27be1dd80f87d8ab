"""The subscriber's gmqtt receive path: parsing, no automatic PUBACK, bulk PUBACK per connection.

These tests pin the gmqtt internals ``bt_mqtt.subscriber.receiver`` relies on, against a real
Mosquitto: if a gmqtt upgrade changes them, a test here fails rather than the subscriber
silently acknowledging too early or never.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gmqtt

from bt_mqtt.core.mqttclient import build_client
from bt_mqtt.core.mqttcodec import (
    MQTT5,
    TOPIC_ALIAS,
    USER_PROPERTY,
    Publish,
    encode_publish,
    split_packet,
)
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.subscriber import receiver
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

Got = list[tuple[str, bytes, bytes | None, Any]]


async def _consumer(broker: Broker, got: Got, client_id: str = "rx") -> gmqtt.Client:
    """A client built as the subscriber builds its own, returned once the broker has answered
    its SUBSCRIBE (SUBACK): from then on every message to ``rx/#`` reaches it."""
    client = build_client(
        MqttConfig(host=broker.host, port=broker.port),
        client_id,
        clean_session=False,
        optimistic_acks=False,
        session_expiry_s=60,
    )
    receiver.install(client, lambda *msg: got.append(msg))
    subacks: list[Any] = []
    client.on_connect = lambda c, *a: c.subscribe("rx/#", qos=1)
    client.on_subscribe = lambda c, mid, qos, props: subacks.append(qos)
    await client.connect(broker.host, broker.port)
    await until(lambda: bool(subacks), "SUBACK", 10)
    assert subacks == [(1,)]  # granted QoS 1
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
        pub = await _publisher(broker)
        pub.publish("rx/a", b"one", qos=1)
        pub.publish("rx/b", b"two", qos=1, user_property=[("k", "v")], message_expiry_interval=60)
        pub.publish("rx/c", b"three", qos=0)
        await until(lambda: len(got) == 3, "three messages", 10)
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
        await until(lambda: len(again) == 2, "redelivery", 10)
        assert sorted(p for _, p, _, _ in again) == [b"one", b"two"]
        assert not receiver.send_acks(client, conn, b"".join(a for a in acks if a))

        # acknowledged in one write on the live connection: nothing comes back after that
        live = again[0][3]
        assert receiver.send_acks(client, live, b"".join(a for _, _, a, _ in again if a))
        # the broker handles a client's packets in order: once it answers a SUBSCRIBE sent
        # after the PUBACKs, it has taken them
        subacks: list[Any] = []
        client.on_subscribe = lambda c, mid, qos, props: subacks.append(qos)
        client.subscribe("rx-none/#", qos=1)
        await until(lambda: bool(subacks), "SUBACK after the PUBACKs", 10)
        await client.disconnect()
        last: Got = []
        client = await _consumer(broker, last)
        pub.publish("rx/d", b"four", qos=1)
        await until(lambda: len(last) >= 1, "the next message", 10)
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


def test_topic_aliases_qos_and_malformed_packets_without_a_broker() -> None:
    """The handler cuts packets with the sans-IO codec: byte-exact cases a broker rarely sends."""
    client = build_client(MqttConfig(), "rx-offline", optimistic_acks=False)
    got: Got = []
    handler = receiver.install(client, lambda *msg: got.append(msg))

    def feed(msg: Publish) -> None:
        packet = encode_publish(msg, MQTT5)
        cmd, body = split_packet(packet)
        handler.handle(cmd, body)

    alias = ((TOPIC_ALIAS, 3),)
    feed(Publish(b"rx/aliased", b"1", qos=1, packet_id=7, properties=alias))  # defines alias 3
    feed(Publish(b"", b"2", qos=1, packet_id=8, properties=alias))  # uses it
    feed(Publish(b"", b"3", properties=((TOPIC_ALIAS, 4),)))  # an alias never defined
    feed(Publish(b"rx/q0", b"4", properties=((USER_PROPERTY, ("k", "v")),)))
    assert [(t, p, a) for t, p, a, _ in got] == [
        ("rx/aliased", b"1", b"\x40\x02\x00\x07"),
        ("rx/aliased", b"2", b"\x40\x02\x00\x08"),
        ("", b"3", None),  # no topic: the subscriber rejects it as bad_topic, and keeps it
        ("rx/q0", b"4", None),
    ]
    assert all(c is None for _, _, _, c in got)  # never connected
    before = len(got)
    for cmd, body in (
        (0x32, b"\x00\x04rx/a\x00\x00\x00"),  # packet id 0
        (0x36, b"\x00\x04rx/a\x00\x01\x00"),  # QoS 3
        (0x30, b"\x00\x09rx/a"),  # topic runs past the end
        (0x30, b"\x00\x04rx/a\x03\x23\x00\x00"),  # topic alias 0
        (0x30, b"\x00\x04rx/a\x02\x7f\x00"),  # an unknown property
    ):
        handler.handle(cmd, body)  # logged and dropped; never raises into gmqtt
    assert len(got) == before
