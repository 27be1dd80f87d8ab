"""The pure batch planner: routing, validation, duplicates, skew, readings."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import BatchPlan, Incoming, plan_batch, plan_chunk
from bt_mqtt.subscriber.heartbeat import MAX_INTERVAL_S, MIN_INTERVAL_S, Heartbeat
from bt_mqtt.subscriber.metrics import Metrics, render
from bt_mqtt.subscriber.rejected import truncate
from bt_mqtt.subscriber.rows import RawRow, ReadingRow
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


def _rows(plan: BatchPlan) -> list[RawRow]:
    """The plan's stage_raw rows, decoded from COPY text."""
    return [RawRow.parse(line) for line in plan.raw.decode().splitlines()]


def _reading_rows(plan: BatchPlan) -> list[ReadingRow]:
    return [ReadingRow.parse(line) for line in plan.readings_rows.decode().splitlines()]


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
    assert [int(r.k) for r in rows] == list(range(20))  # k: the index in the chunk
    assert plan.duplicates == 1
    assert [r.reason for r in plan.rejected] == ["bad_topic", "bad_topic"]
    assert plan.ignored == 1
    assert [(h.scanner_id, h.status, h.interval_s) for h in plan.heartbeats] == [
        ("s1", "online", 30.0)
    ]
    assert plan.readings == sum(len(json.loads(r.readings or "{}")) for r in rows) > 20
    assert plan.readings == len(plan.readings_rows.decode().splitlines())
    assert sum(plan.parsed.values()) == sum(1 for r in rows if r.parser is not None)
    assert [json.loads(r.payload) for r in rows] == [json.loads(m.payload) for m in good]
    assert plan.days == {datetime.fromisoformat(r.time).astimezone(UTC).date() for r in rows}


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
    assert [r.clock_skew for r in rows] == ["f", "t", "t"]
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
    nul = json.dumps(dict(base, seq=3, name="bad\u0000name", extra={"k\u0000": "v"})).encode()
    surrogate = json.dumps(dict(base, seq=4, name="x")).replace('"x"', '"\\ud800"').encode()
    spelled = json.dumps(dict(base, seq=5, name="\\u0000 spelled")).encode()
    plan = _plan(
        [
            Incoming("bt-mqtt/raw/s1", json.dumps(odd).encode(), NOW),
            Incoming("bt-mqtt/raw/s1", spaced, NOW),
            Incoming("bt-mqtt/raw/s1", nul, NOW),
            Incoming("bt-mqtt/raw/s1", surrogate, NOW),
            Incoming("bt-mqtt/raw/s1", spelled, NOW),
        ]
    )
    rows = _rows(plan)
    assert plan.rejected == []
    assert [r.seq for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0][9] == odd["name"]
    assert rows[1][16] == spaced.decode()  # the payload exactly as received
    # what PostgreSQL cannot store is kept as its escape; the rest of the advert as it was
    assert rows[2][9] == "bad\\u0000name"
    assert json.loads(str(rows[2][16])) == dict(
        base, seq=3, name="bad\\u0000name", extra={"k\\u0000": "v"}
    )
    assert rows[3][9] == "\\ud800"
    assert json.loads(str(rows[3][16]))["name"] == "\\ud800"
    assert rows[4][9] == "\\u0000 spelled" and rows[4][16] == spelled.decode()
    assert plan.escaped == 2
    assert plan.raw.decode().count("\\N\t") > 0 and "\x00" not in plan.raw.decode()
    assert all(int(r.k) in range(5) for r in _reading_rows(plan))


def _advert(seq: int, **changes: object) -> bytes:
    base = json.loads(next(stream(1, scanners=("s1",), start=NOW.timestamp())).payload)
    return json.dumps(dict(base, seq=seq, **changes)).encode()


def test_poison_times_are_rejected_and_the_rest_planned() -> None:
    """Times whose UTC instant lies outside Python's years 1..9999 once crashed the planner
    outside its per-message error handling (OverflowError), losing the whole batch."""
    poison = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
    msgs = [Incoming("bt-mqtt/raw/s1", _advert(i + 1), NOW) for i in range(10)]
    msgs.insert(3, Incoming("bt-mqtt/raw/s1", _advert(100, ts=poison[0]), NOW))
    msgs.insert(7, Incoming("bt-mqtt/raw/s1", _advert(101, ts=poison[1]), NOW))
    plan = _plan(msgs)
    assert plan.adverts == 10
    assert [(r.reason, r.payload) for r in plan.rejected] == [
        ("bad_value", msgs[3].payload),
        ("bad_value", msgs[7].payload),
    ]
    assert all("out of range" in r.detail for r in plan.rejected)


class _BrokenItems(dict):  # type: ignore[type-arg]
    """A mapping that fails half-way through being read: a bug nobody foresaw."""

    def items(self):  # type: ignore[no-untyped-def]
        yield from list(super().items())[:1]
        raise RuntimeError("parser bug")


class _FlakyRegistry:
    """The real registry, except that one device's result is broken."""

    def __init__(self, mac: str) -> None:
        self.real = Registry.default(plugins=False)
        self.mac = mac

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        result = self.real.parse(advert, ctx)
        if result is not None and advert.mac == self.mac:
            result.readings = _BrokenItems(result.readings)
        return result


def test_an_unforeseen_failure_quarantines_that_message_only() -> None:
    good = list(stream(40, start=NOW.timestamp()))
    victim = next(m for m in good if m.mac.endswith(":00"))  # a BTHome device: readings
    registry = _FlakyRegistry(victim.mac)
    msgs = [Incoming(m.topic, m.payload, NOW) for m in good]
    plan = plan_batch(
        msgs, Topics("bt-mqtt"), registry, ParseContext(), max_bytes=16384, skew_s=300
    )
    bad = [m for m in good if m.mac == victim.mac]
    assert plan.adverts == 40 - len(bad)
    assert {(r.reason, r.payload) for r in plan.rejected} == {
        ("internal_error", m.payload) for m in bad
    }
    assert all("RuntimeError: parser bug" in r.detail for r in plan.rejected)
    # nothing of a quarantined message is left behind: no readings, no counts
    ks = {int(r.k) for r in _reading_rows(plan)}
    assert ks.isdisjoint({k for k, m in enumerate(good) if m.mac == victim.mac})
    assert plan.readings == len(plan.readings_rows.splitlines())
    assert sum(plan.parsed.values()) == sum(1 for r in _rows(plan) if r.parser is not None)


def test_nan_and_nul_text_are_settled_before_the_database() -> None:
    """``"x":NaN`` is not JSON (rejected); a BTHome text object with a NUL byte (service data
    4053034e0058) is stored with the NUL escaped, with its readings and the rest of the advert."""
    nan = _advert(1).replace(b'"v": 1', b'"x": NaN, "v": 1')
    svc = {uuid16(0xFCD2): "4053034e0058"}
    text_nul = _advert(2, mac="A4:C1:38:99:99:99", service_data=svc)
    plan = _plan(
        [
            Incoming("bt-mqtt/raw/s1", nan, NOW),
            Incoming("bt-mqtt/raw/s1", text_nul, NOW),
            Incoming("bt-mqtt/raw/s1", _advert(3), NOW),
        ]
    )
    assert [(r.reason, r.payload) for r in plan.rejected] == [("invalid_json", nan)]
    rows = _rows(plan)
    assert [r.seq for r in rows] == ["2", "3"]
    assert rows[0][10] == "bthome" and plan.escaped == 1
    facts = json.loads(str(rows[0][14]))
    assert "\\u0000" in json.dumps(facts) and "\x00" not in json.dumps(facts, ensure_ascii=False)


def test_heartbeat_numbers_are_clamped() -> None:
    def beat(body: str) -> Heartbeat:
        plan = _plan([Incoming("bt-mqtt/scanner/s1/status", body.encode(), NOW)])
        assert plan.rejected == []
        hb: Heartbeat = plan.heartbeats[0]
        return hb

    assert beat('{"status":"online","interval_s":1e300}').interval_s == MAX_INTERVAL_S
    assert beat('{"status":"online","interval_s":1' + "0" * 400 + "}").interval_s == MAX_INTERVAL_S
    assert beat('{"status":"online","interval_s":1e-300}').interval_s == MIN_INTERVAL_S
    assert beat('{"status":"online","interval_s":-5}').interval_s is None
    assert beat('{"status":"online","interval_s":30}').interval_s == 30.0
    nul = beat('{"status":"online","hostname":"a\\u0000b"}')
    assert json.loads(nul.text)["hostname"] == "a\\u0000b"
    plan = _plan([Incoming("bt-mqtt/scanner/s1/status", b'{"status":"online","x":NaN}', NOW)])
    assert [r.reason for r in plan.rejected] == ["invalid_json"]


def test_oversize_messages_keep_prefix_size_and_hash() -> None:
    big = b"x" * 100_000
    prefix, whole = truncate(big, 16384)
    msgs = [Incoming("bt-mqtt/raw/s1", prefix, NOW), Incoming("bt-mqtt/raw/s1", _advert(1), NOW)]
    plan = plan_chunk(
        [m.topic for m in msgs],
        [m.payload for m in msgs],
        [NOW.timestamp()] * 2,
        Topics("bt-mqtt"),
        Registry.default(plugins=False),
        ParseContext(),
        max_bytes=16384,
        skew_s=300,
        oversize={0: whole},
    )
    assert plan.adverts == 1
    (r,) = plan.rejected
    assert (r.reason, r.payload, r.size) == ("too_large", big[:16384], 100_000)
    assert r.sha256 == hashlib.sha256(big).digest()
    assert "100000 bytes" in r.detail
