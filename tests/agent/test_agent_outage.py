"""Broker outages with a continuous stream: the agent (replay backend, a subprocess) against a real
Mosquitto that is stopped and started again on the same port, with its persistence.

Every advert the radio delivered is either published (it has a seq, and that seq reaches the
broker) or counted as an agent drop; within a boot the seqs that reach the broker are exactly
1..last_seq, duplicates only as QoS 1 redeliveries of requeued messages; the agent is back
within about a second of the broker.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import agent_config, log_events, start_agent, write_config, write_replay
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector
from tests.fixtures.procs import stop_process

SID = "test-scanner"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"
RATE = 200  # adverts a second, all published (the content changes every time)
RECONNECT_WITHIN_S = 2.0


def _stream(tmp_path: Path, broker: Broker, **sections: Any) -> Path:
    lines = [
        {
            "t": i / RATE,
            "mac": "AA:00:00:00:00:10",
            "rssi": -60,
            "manufacturer_data": {"76": f"{i:04x}"},
        }
        for i in range(RATE)
    ]
    replay = write_replay(tmp_path / "stream.jsonl", lines)
    cfg = agent_config(broker, replay, heartbeat={"interval_s": 1}, **sections)
    cfg["bluetooth"]["replay"] = {"file": str(replay), "speed": 1.0, "loop": True}
    return write_config(tmp_path / "agent.yaml", cfg)


def _connected_at(log: Path, nth: int) -> float:
    """When the agent logged its ``nth`` broker connection (Unix time)."""
    for event in log_events(log):
        if event.get("event") == "mqtt_connected" and event.get("connects") == nth:
            return datetime.fromisoformat(event["ts"]).timestamp()
    raise AssertionError(f"no connection #{nth} in the agent's log")


def _run_outage(
    tmp_path: Path,
    broker: Broker,
    collect: Callable[..., MqttCollector],
    outage_s: float,
    **sections: Any,
) -> tuple[list[tuple[int, bool]], dict[str, Any], float]:
    """Stream, stop the broker for ``outage_s``, stream on, stop the agent: the seqs that
    reached us (in arrival order, each with the broker's redelivery flag), the agent's final
    status, the reconnect delay."""
    col = collect(broker, RAW, STATUS, session=True)
    log = tmp_path / "agent.log"
    proc = start_agent(_stream(tmp_path, broker, **sections), log)
    try:
        col.wait_for(RATE, timeout=30, predicate=lambda m: m.topic == RAW)
        broker.stop()
        time.sleep(outage_s)  # the outage being simulated, not synchronisation
        broker.start()
        back = time.time()
        # the stream goes on after the reconnect: a heartbeat with the spool drained
        col.wait_for(
            1,
            timeout=30,
            predicate=lambda m: (
                m.topic == STATUS
                and m.json()["status"] == "online"
                and m.json()["counters"]["mqtt_connects"] == 2
                and m.json()["spool"]["depth"] < RATE
            ),
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        stop_process(proc)
    col.sync()
    final = [m.json() for m in col.snapshot(STATUS) if m.json()["status"] == "offline"]
    assert final and final[-1]["reason"] == "shutdown", log.read_text()[-3000:]
    seqs = [(json.loads(m.payload)["seq"], m.dup) for m in col.snapshot(RAW)]
    return seqs, final[-1], _connected_at(log, 2) - back


def _check_accounting(arrivals: list[tuple[int, bool]], status: dict[str, Any]) -> dict[str, int]:
    c = status["counters"]
    last = status["last_seq"]
    assert c["published"] == last
    # adverts the radio delivered = published + the agent's counted drops
    drops = c["filtered"] + c["deduplicated"] + c["dropped_offline"] + c["dropped_backlog"]
    assert c["received"] == last + drops
    # every seq reached the broker, and was delivered to us
    assert {s for s, _ in arrivals} == set(range(1, last + 1))
    # a duplicate is either the broker redelivering to us (our PUBACK was lost in its stop)
    # or the agent sending again what the broker had not acknowledged (requeued)
    first_seen: list[int] = []
    seen: set[int] = set()
    sent_twice = 0
    for s, dup in arrivals:
        if s not in seen:
            seen.add(s)
            first_seen.append(s)
        elif not dup:
            sent_twice += 1
    assert sent_twice <= c["requeued"]
    assert first_seen == sorted(first_seen)  # spooled adverts went out before newer ones
    assert status["spool"]["depth"] == 0 and status["spool"]["inflight"] == 0
    return dict(c)


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [5.0, 20.0], ids=["5s", "20s"])
def test_an_outage_shorter_than_the_spool_loses_nothing(
    tmp_path: Path,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
    outage_s: float,
) -> None:
    arrivals, status, delay = _run_outage(tmp_path, mosquitto, mqtt_collect, outage_s)
    c = _check_accounting(arrivals, status)
    assert c["dropped_offline"] == 0 and c["dropped_backlog"] == 0
    assert c["deduplicated"] == 0 and c["filtered"] == 0
    assert c["spooled"] >= RATE * outage_s * 0.7  # the stream went on during the outage
    assert status["spool"]["peak_depth"] >= c["spooled"] * 0.9
    assert delay < RECONNECT_WITHIN_S, f"back {delay:.2f}s after the broker"


@pytest.mark.slow
def test_an_outage_longer_than_the_spool_drops_the_newest_and_counts_them(
    tmp_path: Path, mosquitto: Broker, mqtt_collect: Callable[..., MqttCollector]
) -> None:
    """1,000 messages of spool at 200 a second ride out 5 s; an 8 s outage drops about 600,
    each counted, none with a seq: the seqs stay gap-free."""
    arrivals, status, delay = _run_outage(
        tmp_path, mosquitto, mqtt_collect, 8.0, spool={"max_messages": 1000}
    )
    c = _check_accounting(arrivals, status)
    assert c["dropped_offline"] >= RATE * 2 and c["dropped_backlog"] == 0
    assert 1000 <= status["spool"]["peak_depth"] <= 1000 + c["requeued"]
    assert delay < RECONNECT_WITHIN_S, f"back {delay:.2f}s after the broker"
