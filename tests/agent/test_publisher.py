"""The publisher against a real Mosquitto: batching, the spool, the in-flight bound, nothing lost
across a lost connection, statuses that wait for a packet id."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from bt_mqtt.agent import publisher
from bt_mqtt.agent.publisher import Publisher
from bt_mqtt.agent.spool import Spool
from bt_mqtt.core.mqttconfig import MqttConfig
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector
from tests.fixtures.waiting import until

RAW = "bt-mqtt/raw/pi"
# the broker saves every change at once, so a SIGKILL keeps the collector's session
SAVE_ALWAYS = "autosave_on_changes true\nautosave_interval 1\n"


def _room(spool: Spool) -> bool:
    return spool.room  # read through a call: mypy would narrow the attribute between asserts


def _n(i: int) -> bytes:
    return b'{"n":%d}' % i


def test_spool_inflight_bound_and_session_loss(
    mosquitto_factory: Callable[..., Broker],
    mqtt_collect: Callable[..., MqttCollector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # batches are written only when the test says so (no timer racing the broker's death)
    monkeypatch.setattr(publisher, "FLUSH_DELAY_S", 3600.0)
    broker = mosquitto_factory(extra_conf=SAVE_ALWAYS)
    cfg = MqttConfig(host=broker.host, port=broker.port)
    col = mqtt_collect(broker, RAW, session=True)

    async def go() -> None:
        pub = Publisher(
            cfg, "pi", "b00t", inflight_limit=3, spool_messages=5, reconnect_initial_s=0.05
        )
        # before the first connection: kept, not refused
        assert pub.publish_raw(_n(0)) and pub.spooled == 1 and len(pub.spool) == 1
        assert await pub.connect()
        assert await pub.drain(5) and len(pub.spool) == 0
        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGSTOP)  # no acknowledgements from now on
        try:
            accepted = [pub.publish_raw(_n(i)) for i in range(1, 7)]
            assert accepted == [True] * 5 + [False]  # the spool holds 5: the sixth is refused
            assert not _room(pub.spool)
            pub.flush()
            assert pub.inflight == 3 and len(pub.spool) == 2 and _room(pub.spool)
            assert [pub.publish_raw(_n(i)) for i in (6, 7, 8, 9)] == [True, True, True, False]
            pub.flush()  # nothing more: the in-flight bound
            assert pub.inflight == 3 and len(pub.spool) == 5
            assert not await pub.drain(0.2)
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        assert await pub.drain(5)
        assert pub.inflight == 0 and len(pub.spool) == 0

        # written, then the broker dies before reading them, with no session for us: after
        # the reconnect they go out again, ahead of what was spooled meanwhile
        os.kill(broker.proc.pid, signal.SIGSTOP)
        assert pub.publish_raw(_n(10)) and pub.publish_raw(_n(11))
        pub.flush()
        assert pub.inflight == 2
        broker.kill()
        await until(lambda: not pub.online, "the disconnect to be noticed", 5)
        assert pub.publish_raw(_n(12)) and pub.spooled == 2
        broker.start()
        await until(lambda: pub.online, "reconnect", 10)
        assert await pub.drain(5)
        assert pub.requeued == 2 and pub.connects == 2 and pub.disconnects == 1
        await pub.close(b'{"status":"offline"}')

    asyncio.run(go())
    got = [m.payload for m in col.wait_for(12, timeout=15)]
    # 0..8 in order (the refused 6th never had a seq: 6 was offered again), then 10, 11, 12
    assert got == [_n(i) for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12)]


def test_receive_maximum_holds_messages_back_instead_of_losing_them(
    mosquitto_factory: Callable[..., Broker], mqtt_collect: Callable[..., MqttCollector]
) -> None:
    """Mosquitto's default ``max_inflight_messages 20`` caps unacknowledged messages; a batch
    larger than that goes out as PUBACKs free packet ids, none lost.  A status that finds no
    free packet id goes out with the next one, ahead of the waiting adverts."""
    broker = mosquitto_factory(extra_conf="max_inflight_messages 20\n")
    cfg = MqttConfig(host=broker.host, port=broker.port)
    col = mqtt_collect(broker, RAW, "bt-mqtt/scanner/pi/status")

    async def go() -> None:
        pub = Publisher(cfg, "pi", "b00t")
        assert await pub.connect()
        for i in range(200):
            assert pub.publish_raw(_n(i))
        pub.flush()
        assert pub.inflight < 20 and len(pub.spool) > 100  # held back, not dropped
        assert pub.publish_status(b'{"status":"online"}')  # no packet id now: it waits
        assert await pub.drain(10)
        assert len(pub.spool) == 0 and pub.inflight == 0
        await pub.close(None)

    asyncio.run(go())
    got = col.wait_for(201, timeout=10)
    adverts = [m.payload for m in got if m.topic == RAW]
    assert adverts == [_n(i) for i in range(200)]
    status_at = [m.topic for m in got].index("bt-mqtt/scanner/pi/status")
    assert 15 <= status_at <= 25  # right after the first PUBACK, not after the 200 adverts
