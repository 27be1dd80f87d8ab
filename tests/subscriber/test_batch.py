"""The pure batch planner: routing, validation, duplicates, skew, readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import Incoming, Topics, plan_batch
from bt_mqtt.subscriber.metrics import Metrics, render
from tests.subscriber.streams import stream

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _plan(msgs: list[Incoming]):  # type: ignore[no-untyped-def]
    return plan_batch(
        msgs,
        Topics("bt-mqtt"),
        Registry.default(plugins=False),
        ParseContext(),
        max_bytes=16384,
        skew_s=300,
    )


def test_routes_validates_and_counts() -> None:
    good = list(stream(20, start=NOW.timestamp()))
    msgs = [Incoming(m.topic, m.payload, NOW) for m in good]
    msgs.append(Incoming(good[0].topic, good[0].payload, NOW))  # duplicate in the batch
    msgs.append(Incoming("bt-mqtt/other/x", b"{}", NOW))
    msgs.append(Incoming("bt-mqtt/raw/BAD ID", b"{}", NOW))
    msgs.append(Incoming("bt-mqtt/scanner/s1/status", b"", NOW))  # retained status cleared
    msgs.append(Incoming("bt-mqtt/scanner/s1/status", b'{"status":"online","interval_s":30}', NOW))
    plan = _plan(msgs)
    assert len(plan.adverts) == 20
    assert plan.duplicates == 1
    assert [r.reason for r in plan.rejected] == ["bad_topic", "bad_topic"]
    assert plan.ignored == 1
    assert [(h.scanner_id, h.status, h.interval_s) for h in plan.heartbeats] == [
        ("s1", "online", 30.0)
    ]
    assert plan.readings == sum(len(json.loads(r[13])) for r in plan.adverts) > 20
    assert sum(plan.parsed.values()) == sum(1 for r in plan.adverts if r[10] is not None)


def test_clock_skew_is_flagged_both_ways() -> None:
    msgs = list(stream(3, scanners=("s1",), start=NOW.timestamp()))
    late = NOW + timedelta(minutes=6)
    plan = _plan(
        [
            Incoming(msgs[0].topic, msgs[0].payload, NOW),
            Incoming(msgs[1].topic, msgs[1].payload, late),
            Incoming(msgs[2].topic, msgs[2].payload, NOW - timedelta(minutes=6)),
        ]
    )
    assert [r[11] for r in plan.adverts] == [False, True, True]
    assert plan.skewed == 2
    assert plan.adverts[1][1] < plan.adverts[1][2]  # agent time kept beside received time


def test_metrics_render() -> None:
    m = Metrics(received=5)
    m.rejected["invalid_json"] += 2
    m.batch_latency.observe(0.03)
    text = render(m)
    assert "btmqtt_subscriber_received_total 5" in text
    assert 'btmqtt_subscriber_rejected_total{reason="invalid_json"} 2' in text
    assert 'btmqtt_subscriber_batch_seconds_bucket{le="0.05"} 1' in text
    assert 'btmqtt_subscriber_batch_seconds_bucket{le="0.025"} 0' in text


def test_poison_payloads_become_rejections() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    plan = _plan(
        [
            Incoming("bt-mqtt/raw/s1", deep, NOW),
            Incoming("bt-mqtt/scanner/s1/status", deep, NOW),
        ]
    )
    assert [r.reason for r in plan.rejected] == ["invalid_json", "invalid_json"]
