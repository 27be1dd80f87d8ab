"""The pure batch planner: routing, validation, duplicates, skew, readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import BatchPlan, Incoming, Topics, plan_batch
from bt_mqtt.subscriber.copytext import unescape
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


def _rows(plan: BatchPlan) -> list[list[str | None]]:
    """The plan's stage_raw rows, decoded from COPY text."""
    return [
        [None if f == "\\N" else unescape(f) for f in line.split("\t")]
        for line in plan.raw.decode().splitlines()
    ]


def test_routes_validates_and_counts() -> None:
    good = list(stream(20, start=NOW.timestamp()))
    msgs = [Incoming(m.topic, m.payload, NOW) for m in good]
    msgs.append(Incoming(good[0].topic, good[0].payload, NOW))  # duplicate in the batch
    msgs.append(Incoming("bt-mqtt/other/x", b"{}", NOW))
    msgs.append(Incoming("bt-mqtt/raw/BAD ID", b"{}", NOW))
    msgs.append(Incoming("bt-mqtt/scanner/s1/status", b"", NOW))  # retained status cleared
    msgs.append(Incoming("bt-mqtt/scanner/s1/status", b'{"status":"online","interval_s":30}', NOW))
    plan = _plan(msgs)
    rows = _rows(plan)
    assert len(rows) == plan.adverts == 20
    assert [int(str(r[0])) for r in rows] == list(range(20))  # k: the index in the chunk
    assert plan.duplicates == 1
    assert [r.reason for r in plan.rejected] == ["bad_topic", "bad_topic"]
    assert plan.ignored == 1
    assert [(h.scanner_id, h.status, h.interval_s) for h in plan.heartbeats] == [
        ("s1", "online", 30.0)
    ]
    assert plan.readings == sum(len(json.loads(r[13] or "{}")) for r in rows) > 20
    assert plan.readings == len(plan.readings_rows.decode().splitlines())
    assert sum(plan.parsed.values()) == sum(1 for r in rows if r[10] is not None)
    assert [json.loads(str(r[14])) for r in rows] == [json.loads(m.payload) for m in good]
    assert plan.days == {datetime.fromisoformat(str(r[1])).astimezone(UTC).date() for r in rows}


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
    rows = _rows(plan)
    assert [r[11] for r in rows] == ["f", "t", "t"]
    assert plan.skewed == 2
    # agent time kept beside received time
    assert datetime.fromisoformat(str(rows[1][1])) < datetime.fromisoformat(str(rows[1][2]))


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


def test_copy_text_escapes_and_unstorable_text() -> None:
    base = json.loads(next(stream(1, scanners=("s1",), start=NOW.timestamp())).payload)
    odd = dict(base, seq=1, name="tab\there\nnew\\line\r")
    spaced = json.dumps(dict(base, seq=2), indent="\t").replace("\n", "\r\n").encode()
    nul = json.dumps(dict(base, seq=3, name="bad\u0000name")).encode()
    surrogate = json.dumps(dict(base, seq=4, name="x")).replace('"x"', '"\\ud800"').encode()
    plan = _plan(
        [
            Incoming("bt-mqtt/raw/s1", json.dumps(odd).encode(), NOW),
            Incoming("bt-mqtt/raw/s1", spaced, NOW),
            Incoming("bt-mqtt/raw/s1", nul, NOW),
            Incoming("bt-mqtt/raw/s1", surrogate, NOW),
        ]
    )
    rows = _rows(plan)
    assert [r[5] for r in rows] == ["1", "2"]
    assert rows[0][9] == odd["name"]
    assert rows[1][14] == spaced.decode()  # the payload exactly as received
    assert [(r.reason, r.payload) for r in plan.rejected] == [
        ("db_rejected", nul),
        ("db_rejected", surrogate),
    ]
    assert all(int(line.split(b"\t")[0]) in (0, 1) for line in plan.readings_rows.splitlines())
