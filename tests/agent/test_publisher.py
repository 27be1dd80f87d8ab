"""The publisher against a real Mosquitto: batching, the in-flight bound, losses reported."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest

from bt_mqtt.agent import publisher
from bt_mqtt.agent.publisher import Publisher
from bt_mqtt.core.mqttconfig import MqttConfig
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector


async def _until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_inflight_bound_and_losses(mosquitto: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    # batches are written only when the test says so (no timer racing the broker's death)
    monkeypatch.setattr(publisher, "FLUSH_DELAY_S", 3600.0)
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    lost: list[int] = []

    async def go() -> None:
        pub = Publisher(cfg, "pi", "b00t", inflight_limit=3, reconnect_initial_s=0.05)
        pub.on_lost = lost.append
        assert not pub.publish_raw(b"{}")  # not connected yet: refused
        assert await pub.connect()
        assert mosquitto.proc is not None
        os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # no acknowledgements from now on
        try:
            accepted = [pub.publish_raw(b'{"n":%d}' % i) for i in range(5)]
            assert accepted == [True, True, True, False, False]
            pub.flush()
            assert pub.inflight == 3
            assert not pub.publish_raw(b"{}")  # still full
            assert not await pub.drain(0.2)
        finally:
            os.kill(mosquitto.proc.pid, signal.SIGCONT)
        assert await pub.drain(5)
        assert pub.inflight == 0 and lost == []
        # accepted, then the connection drops before the batch is written: reported as lost
        assert pub.publish_raw(b"{}") and pub.publish_raw(b"{}")
        mosquitto.kill()
        await _until(lambda: not pub.online, 5, "the disconnect to be noticed")
        pub.flush()
        assert lost == [2]
        mosquitto.start()
        await _until(lambda: pub.online, 10, "reconnect")
        assert pub.connects == 2 and pub.disconnects == 1
        await pub.close(b'{"status":"offline"}')

    asyncio.run(go())


def test_receive_maximum_holds_messages_back_instead_of_losing_them(
    mosquitto_factory: Callable[..., Broker],
) -> None:
    """Mosquitto's default ``max_inflight_messages 20`` caps unacknowledged messages; a batch
    larger than that goes out as PUBACKs free packet ids, none lost."""
    broker = mosquitto_factory(extra_conf="max_inflight_messages 20\n")
    cfg = MqttConfig(host=broker.host, port=broker.port)
    col = MqttCollector(broker.host, broker.port, "bt-mqtt/raw/pi").start()
    lost: list[int] = []
    try:

        async def go() -> None:
            pub = Publisher(cfg, "pi", "b00t")
            pub.on_lost = lost.append
            assert await pub.connect()
            for i in range(200):
                assert pub.publish_raw(b'{"n":%d}' % i)
            pub.flush()
            assert pub.inflight < 20 and pub._pending  # held back, not dropped
            assert await pub.drain(10)
            assert not pub._pending and pub.inflight == 0
            await pub.close(None)

        asyncio.run(go())
        got = col.wait_for(200, timeout=10)
        assert [m.payload for m in got] == [b'{"n":%d}' % i for i in range(200)]
        assert lost == []
    finally:
        col.stop()
