"""The gmqtt adapter: the start-up check, and the receive-path functions against a real Mosquitto.

The receive path here is built from the adapter and the codec only, the way the subscriber's
receiver uses them: if a gmqtt upgrade changes an internal, ``check`` names it, and these tests
fail rather than a subscriber acknowledging too early or never.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import gmqtt
import pytest
from gmqtt.mqtt.handler import MqttPackageHandler

from bt_mqtt.core import gmqtt_adapter
from bt_mqtt.core.gmqtt_adapter import BackoffClient, GmqttIncompatible
from bt_mqtt.core.mqttclient import build_client
from bt_mqtt.core.mqttcodec import MQTT5, PUBACK_HEAD, split_publish, topic_alias_of
from bt_mqtt.core.mqttconfig import MqttConfig
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

Got = list[tuple[str, bytes, bytes | None, Any]]


@pytest.fixture
def recheck(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run ``check`` again as if no client had been built yet."""
    monkeypatch.setattr(gmqtt_adapter, "_checked", False)
    yield


def test_check_passes_on_the_pinned_gmqtt(recheck: None) -> None:
    assert gmqtt_adapter.VERSION.startswith("0.8.")
    gmqtt_adapter.check()
    assert gmqtt_adapter.missing_internals() == []


def test_a_missing_internal_is_named_at_start_up(
    recheck: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(MqttPackageHandler, "_handle_publish_packet")
    with pytest.raises(GmqttIncompatible) as err:
        build_client(MqttConfig(), "x")
    msg = str(err.value)
    assert f"gmqtt {gmqtt_adapter.VERSION} lacks MqttPackageHandler._handle_publish_packet" in msg
    assert "gmqtt>=0.8,<0.9" in msg


def test_an_instance_internal_is_named(recheck: None, monkeypatch: pytest.MonkeyPatch) -> None:
    real_init = gmqtt.Client.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        delattr(self, "_persistent_storage")  # as if gmqtt had renamed it

    monkeypatch.setattr(gmqtt.Client, "__init__", init)
    with pytest.raises(GmqttIncompatible, match=r"lacks Client\._persistent_storage"):
        gmqtt_adapter.check()


def test_backoff_delays_double_to_the_cap_within_the_jitter() -> None:
    client = BackoffClient("jitter")
    client.backoff_initial_s, client.backoff_cap_s = 0.25, 1.0
    assert [client.backoff_delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    client.backoff_jitter = 0.5
    for n, base in enumerate([0.25, 0.5, 1.0, 1.0]):
        got = [client.backoff_delay(n) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in got)
        assert max(got) - min(got) > base * 0.3  # actually spread, not one value
    assert gmqtt_adapter.jittered(2.0, 0.0) == 2.0


def test_opening_a_connection_is_time_limited() -> None:
    """A broker address that accepts TCP but never answers the TLS handshake: gmqtt alone
    would wait for asyncio's 60 s handshake timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]

        async def go() -> float:
            client = BackoffClient("timeout")
            client.connect_timeout_s = 0.3
            ctx = ssl.create_default_context()
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.connect("127.0.0.1", port, ssl=ctx)
            return time.monotonic() - t0

        assert asyncio.run(go()) < 3


def test_topic_aliases_are_per_client() -> None:
    client = gmqtt.Client("aliases")
    assert gmqtt_adapter.resolve_topic_alias(client, 3, b"") == b""
    assert gmqtt_adapter.resolve_topic_alias(client, 3, b"a/b") == b"a/b"
    assert gmqtt_adapter.resolve_topic_alias(client, 3, b"") == b"a/b"
    assert gmqtt_adapter.resolve_topic_alias(gmqtt.Client("other"), 3, b"") == b""


class Receiver:
    """The subscriber's receive path, from the adapter and the codec only."""

    def __init__(self, client: gmqtt.Client) -> None:
        self.client = client
        self.got: Got = []
        gmqtt_adapter.hook_publish(client, self.on_publish)

    def on_publish(self, cmd: int, body: bytes) -> None:
        version = gmqtt_adapter.protocol_version(self.client)
        topic, packet_id, props, payload = split_publish(cmd, body, version)
        if props:
            alias = topic_alias_of(props)
            if alias is not None:
                topic = gmqtt_adapter.resolve_topic_alias(self.client, alias, topic)
        ack = PUBACK_HEAD + packet_id.to_bytes(2, "big") if packet_id else None
        conn = gmqtt_adapter.current_connection(self.client)
        self.got.append((topic.decode(), payload, ack, conn))


async def _consumer(broker: Broker) -> Receiver:
    client = gmqtt.Client(
        "rx", clean_session=False, optimistic_acknowledgement=False, session_expiry_interval=60
    )
    rx = Receiver(client)
    subscribed = asyncio.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe("rx/#", qos=1)
    await client.connect(broker.host, broker.port)
    await asyncio.wait_for(subscribed.wait(), 10)
    return rx


def test_receive_path_acknowledges_only_when_asked(mosquitto: Broker) -> None:
    async def go() -> None:
        rx = await _consumer(mosquitto)
        assert gmqtt_adapter.protocol_version(rx.client) == MQTT5
        pub = gmqtt.Client("rx-pub")
        await pub.connect(mosquitto.host, mosquitto.port)
        pub.publish("rx/a", b"one", qos=1)
        pub.publish("rx/b", b"two", qos=1, user_property=[("k", "v")], message_expiry_interval=60)
        pub.publish("rx/c", b"three", qos=0)
        await until(lambda: len(rx.got) == 3, "three messages", 10)
        assert [(t, p) for t, p, _, _ in rx.got] == [
            ("rx/a", b"one"),
            ("rx/b", b"two"),
            ("rx/c", b"three"),
        ]
        acks = [a for _, _, a, _ in rx.got]
        assert acks[2] is None
        assert all(a is not None and len(a) == 4 and a[:2] == b"\x40\x02" for a in acks[:2])
        conn = rx.got[0][3]
        assert conn is gmqtt_adapter.current_connection(rx.client) is not None

        # nothing was acknowledged: a new connection gets both again; old acks are refused
        await rx.client.disconnect()
        rx2 = await _consumer(mosquitto)
        await until(lambda: len(rx2.got) == 2, "redelivery", 10)
        assert sorted(p for _, p, _, _ in rx2.got) == [b"one", b"two"]
        assert not gmqtt_adapter.send_on(rx2.client, conn, b"".join(a for a in acks if a))
        live = rx2.got[0][3]
        assert gmqtt_adapter.send_on(rx2.client, live, b"".join(a for _, _, a, _ in rx2.got if a))
        await asyncio.sleep(0.3)
        await rx2.client.disconnect()
        rx3 = await _consumer(mosquitto)
        pub.publish("rx/d", b"four", qos=1)
        await until(lambda: len(rx3.got) >= 1, "the next message", 10)
        await asyncio.sleep(0.3)
        assert [p for _, p, _, _ in rx3.got] == [b"four"]  # one and two stayed acknowledged
        await rx3.client.disconnect()
        await pub.disconnect()

    asyncio.run(go())


def test_send_on_without_a_connection() -> None:
    client = gmqtt.Client("never-connected")
    assert gmqtt_adapter.current_connection(client) is None
    assert not gmqtt_adapter.has_connection(client)
    assert gmqtt_adapter.send_on(client, None, b"")
    assert not gmqtt_adapter.send_on(client, None, b"\x40\x02\x00\x01")
