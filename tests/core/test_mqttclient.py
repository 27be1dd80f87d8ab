"""gmqtt as configured by bt_mqtt.core.mqttclient: bounded QoS queue, ids freed, backoff."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import gmqtt
import pytest
from gmqtt.mqtt.package import PublishPacket
from gmqtt.mqtt.utils import IdGenerator

from bt_mqtt.core import gmqtt_adapter
from bt_mqtt.core.mqttclient import BackoffClient, build_client, connect_with_backoff
from bt_mqtt.core.mqttcodec import MQTT5, PublishTemplate
from bt_mqtt.core.mqttconfig import MqttConfig
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector
from tests.fixtures.procs import require_binary
from tests.fixtures.waiting import until


def test_qos_queue_is_bounded_and_ids_are_freed_when_session_is_gone(mosquitto: Broker) -> None:
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port)

    async def go() -> None:
        client = build_client(cfg, "bounded", qos_queue_limit=5)
        assert isinstance(client, BackoffClient)
        assert await connect_with_backoff(client, cfg, initial_s=0.1, cap_s=0.5)
        assert mosquitto.proc is not None
        os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # a hung broker: nothing is acknowledged
        for _ in range(5):
            client.publish("t/x", b"x", qos=1)
        storage = client.qos_storage
        assert storage.full and len(storage) == 5
        mosquitto.kill()  # the broker dies; its restart has no session for us
        mosquitto.start()
        await until(lambda: client.is_connected, "reconnect", 15)
        await until(lambda: len(storage) == 0, "queue cleared", 5)
        # gmqtt alone would keep those 5 packet ids reserved for ever
        assert not gmqtt_adapter.used_packet_ids(client)
        client.publish("t/x", b"after", qos=1)
        await until(lambda: len(storage) == 0, "PUBACK", 5)
        await client.disconnect()

    asyncio.run(go())


def test_reconnect_backs_off_up_to_the_cap(mosquitto: Broker) -> None:
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port)

    async def go() -> None:
        client = build_client(cfg, "backoff")
        assert await connect_with_backoff(client, cfg, initial_s=0.05, cap_s=0.4)
        mosquitto.stop()
        delays: set[float] = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            delays.add(client.reconnect_delay)
            await asyncio.sleep(0.01)
        assert {0.05, 0.1, 0.2, 0.4} <= delays and max(delays) == 0.4
        mosquitto.start()
        await until(lambda: client.is_connected, "reconnect", 10)
        await client.disconnect()

    asyncio.run(go())


def test_publish_batch_sends_gmqtt_identical_packets(mosquitto: Broker) -> None:
    """The hot-path writer: same bytes as gmqtt's, delivered intact for 1-, 2- and 3-byte
    remaining lengths, acknowledged (queue empty) afterwards."""
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    payloads = [b"x" * 10, b"y" * 300, b"z" * 20000]
    col = MqttCollector(mosquitto.host, mosquitto.port, "t/hot").start()
    try:

        async def go() -> None:
            client = build_client(cfg, "hot", qos_queue_limit=10)
            assert await connect_with_backoff(client, cfg, initial_s=0.1, cap_s=0.5)
            assert gmqtt_adapter.protocol_version(client) == MQTT5
            template = PublishTemplate(b"t/hot", MQTT5)
            assert gmqtt_adapter.publish_batch(client, template, payloads) == 3
            stored = client.qos_storage.get_all()
            protocol = SimpleNamespace(proto_ver=MQTT5, id_generator=IdGenerator())
            for payload, (mid, packet) in zip(payloads, stored, strict=True):
                _ref_mid, ref = PublishPacket.build_package(
                    gmqtt.Message(b"t/hot", payload, qos=1), protocol
                )
                i = len(ref) - len(payload) - 3  # packet id, then the empty property list
                assert packet[i : i + 2] == mid.to_bytes(2, "big")
                assert (packet[:i], packet[i + 2 :]) == (bytes(ref[:i]), bytes(ref[i + 2 :]))
            await until(lambda: len(client.qos_storage) == 0, "PUBACKs", 5)
            await client.disconnect()

        asyncio.run(go())
        got = col.wait_for(3, timeout=10)
        assert [(m.payload, m.qos) for m in got] == [(p, 1) for p in payloads]
    finally:
        col.stop()


def _retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(r.getMessage().split("retrying in ")[1].split("s:")[0])
        for r in caplog.records
        if getattr(r, "event", None) == "mqtt_connect_failed"
    ]


def test_first_connect_retries_fast_unless_refused(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Broker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listening: waits double to ``cap_s``, jittered.  The broker answers and refuses
    (a wrong password): waits grow to ``refused_cap_s`` instead, retrying fast cannot help."""
    pwfile = tmp_path / "passwd"
    exe = require_binary("mosquitto_passwd", "apt-get install mosquitto")
    subprocess.run([exe, "-c", "-b", str(pwfile), "agent", "right"], check=True)
    broker = mosquitto_factory(extra_conf=f"allow_anonymous false\npassword_file {pwfile}\n")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]

    async def attempt(cfg: MqttConfig, password: str | None) -> None:
        client = build_client(cfg, "retry", password=password)
        stop = asyncio.Event()
        task = asyncio.create_task(
            connect_with_backoff(
                client, cfg, initial_s=0.05, cap_s=0.1, jitter=0.5, refused_cap_s=0.4, stop=stop
            )
        )
        await asyncio.sleep(1.5)
        stop.set()
        assert await task is False

    caplog.set_level(logging.WARNING, logger="bt_mqtt.core.mqttclient")
    asyncio.run(attempt(MqttConfig(host="127.0.0.1", port=closed), None))
    unreachable = _retry_waits(caplog)
    assert len(unreachable) >= 8 and max(unreachable) <= 0.1 + 1e-9
    assert min(unreachable[2:]) >= 0.05 - 1e-9  # capped at 0.1, shortened by at most half
    caplog.clear()
    asyncio.run(attempt(MqttConfig(host=broker.host, port=broker.port, username="agent"), "wrong"))
    refused = _retry_waits(caplog)
    assert 3 <= len(refused) < len(unreachable) and 0.2 <= max(refused) <= 0.4 + 1e-9


def test_reconnect_goes_on_after_the_broker_refused_it(
    mosquitto: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker restarted with a configuration that refuses the client ("not authorised",
    which gmqtt alone deems permanent and stops reconnecting for good): once the broker accepts
    it again, the client is back without a restart."""
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port)

    async def go() -> None:
        client = build_client(cfg, "refused-then-fixed")
        assert await connect_with_backoff(client, cfg, initial_s=0.05, cap_s=0.2)
        mosquitto.stop()
        mosquitto.extra_conf = "allow_anonymous false\n"
        mosquitto.start()

        def refusals() -> int:
            return sum("CONNACK" in r.getMessage() for r in caplog.records)

        await until(lambda: refusals() >= 2, "the broker refusing the reconnect twice", 10)
        assert not client.is_connected
        mosquitto.stop()
        mosquitto.extra_conf = ""
        mosquitto.start()
        await until(lambda: client.is_connected, "reconnect once the broker accepts again", 10)
        await client.disconnect()

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
