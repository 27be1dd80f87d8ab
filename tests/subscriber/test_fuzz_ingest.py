"""Fuzzing the subscriber's edge: hostile MQTT payloads and topics (hypothesis) published to a
real Mosquitto, ingested by the real subscriber into a real PostgreSQL.

For every generated batch: the subscriber lives; the good adverts sent beside the bad ones are
all stored; every message received is accounted for in the metrics (stored, redelivered,
duplicate, heartbeat, ignored, privacy-dropped or rejected by reason); every rejection is a row
of ``rejected_messages`` with the bytes received; and over the whole run the subscriber's
memory stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gmqtt
import psycopg
import pytest
from attrs import define
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.topics import SCANNER_ID_RE
from bt_mqtt.core.wire import encode, format_ts
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PgCluster, new_database
from tests.fixtures.procs import free_port
from tests.subscriber.harness import (
    scrape,
    start_subscriber,
    stop,
    tree_rss_mb,
    wait_subscribed,
    write_config,
)

MAX_BYTES = 4096  # small, so oversize messages are cheap to make
ACCOUNTED = (
    "archived_total",
    "redelivered_total",
    "duplicates_total",
    "heartbeats_total",
    "ignored_total",
    "privacy_dropped_total",
)


@define
class Live:
    broker: Broker
    db: str
    metrics_port: int
    proc: Any
    log: Path
    rss_start: float


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PgCluster) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    broker = Broker(tmp / "mosquitto")
    broker.start()
    db = new_database(pg_cluster)
    port = free_port()
    cfg = write_config(
        tmp / "sub.yaml",
        broker.port,
        db,
        metrics={"port": port},
        ingest={"max_payload_bytes": MAX_BYTES, "batch_ms": 20},
    )
    log = tmp / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        time.sleep(0.5)  # the planner process is up
        yield Live(broker, db, port, proc, log, tree_rss_mb(proc.pid))
    finally:
        stop(proc)
        broker.stop()


# -- what hostile input looks like ----------------------------------------------------------

_topic_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn"), blacklist_characters="+#/"),
    max_size=24,
)
_topics = st.sampled_from(["raw", "raw", "raw", "raw", "status", "other"]).flatmap(
    lambda kind: (
        st.just("bt-mqtt/raw/s1")
        if kind == "raw"
        else st.just("bt-mqtt/scanner/s1/status")
        if kind == "status"
        else st.one_of(
            st.builds("bt-mqtt/raw/{}".format, _topic_text),
            st.builds("bt-mqtt/scanner/{}/status".format, _topic_text),
        )
    )
)
_strings = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\\u0000", "\u202e", "\x1b]0;x\x07", "[/]", "ﬀ", "²", "٣"]),
)
_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: json.dumps writes them as NaN/Infinity
    st.sampled_from([0, -1, 2**63, 2**63 - 1, 1e300, -1e-300]),
)
_json: Any = st.recursive(
    st.none() | st.booleans() | _numbers | _strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_strings, inner, max_size=3),
    max_leaves=10,
)
_FIELDS = ["v", "scanner_id", "boot", "seq", "ts", "mac", "address_type", "rssi", "tx_power"]
_FIELDS += ["name", "manufacturer_data", "service_data", "service_uuids", "extra"]
_special = {
    "ts": st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-12-04",
            "2026-W49-4",
            "2026-12-04T10:00:00",
            "2026-12-04T10:00:60Z",
        ]
    ),
    "mac": st.sampled_from(
        ["ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ", "aa:bb:cc:dd:ee:ff", "AA:BB:CC:DD:EE", "٣٣:00:00:00:00:00"]
    ),
    "manufacturer_data": st.sampled_from(
        [{"²": "00"}, {"٣": "00"}, {"76": "02 15"}, {"007": "00"}, {"99999": "00"}]
    ),
    "service_data": st.sampled_from(
        [{uuid16(0xFCD2): "4053034e0058"}, {uuid16(0xFCD2): "40 02"}, {"fcd2": "00"}]
    ),
}


def _valid(boot: str, seq: int, name: str | None = "n") -> dict[str, Any]:
    adv = Advert(
        mac=f"A4:C1:38:00:{seq >> 8 & 0xFF:02X}:{seq & 0xFF:02X}",
        rssi=-60,
        address_type="public",
        name=name,
        service_data={uuid16(0xFCD2): bytes.fromhex("4001640002ca09")},
    )
    obj: dict[str, Any] = json.loads(encode(adv, "s1", boot, seq, format_ts(time.time())))
    return obj


@st.composite
def _mutated_advert(draw: st.DrawFn) -> bytes:
    """A valid advert with one to three fields replaced (by a known trap, a hostile string or
    any JSON value) or left out."""
    obj = _valid("fz-mut", draw(st.integers(1, 2**40)), draw(st.none() | _strings))
    for key in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3, unique=True)):
        how = draw(st.sampled_from(["special", "string", "json", "drop"]))
        if how == "special" and key in _special:
            obj[key] = draw(_special[key])
        elif how == "string":
            obj[key] = draw(_strings)
        elif how == "drop":
            obj.pop(key, None)
        else:
            obj[key] = draw(_json)
    return json.dumps(obj).encode()


_status = st.builds(
    lambda status, interval, extra: json.dumps(
        {"status": status, "interval_s": interval, "x": extra}
    ).encode(),
    st.sampled_from(["online", "offline", "sleepy", None]),
    _numbers,
    _json,
)
_other_payloads = st.one_of(
    st.binary(max_size=300),
    _mutated_advert(),
    _status,
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(900, 3000)),
    st.builds(
        lambda n: b'{"pad":"' + b"x" * n + b'"}', st.integers(MAX_BYTES - 20, MAX_BYTES + 50)
    ),
    st.sampled_from([b"", b"null", b"{}", b"NaN", b'{"v":1e400}', b"\xff\xfe", b'"\\ud800"']),
)
_payloads = st.sampled_from(["advert", "advert", "other"]).flatmap(
    lambda kind: _mutated_advert() if kind == "advert" else _other_payloads
)


# -- the test -------------------------------------------------------------------------------

_examples = itertools.count(1)


def _publish(port: int, msgs: list[tuple[str, bytes]], until: Any) -> None:
    """Publish at QoS 1 and stay connected until ``until()`` (the broker then has delivered)."""

    async def go() -> None:
        client = gmqtt.Client(f"fuzz-{time.monotonic_ns()}")
        await client.connect("127.0.0.1", port)
        try:
            for topic, payload in msgs:
                client.publish(topic, payload, qos=1)
            deadline = time.monotonic() + 60
            while not until():
                assert time.monotonic() < deadline, "the subscriber did not receive everything"
                await asyncio.sleep(0.05)
        finally:
            await client.disconnect()

    asyncio.run(go())


def _accounted(m: dict[str, float]) -> float:
    rejected = sum(v for k, v in m.items() if k.startswith("rejected_total{"))
    return sum(m.get(k, 0) for k in ACCOUNTED) + rejected


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile=st.lists(st.tuples(_topics, _payloads), min_size=1, max_size=16))
def test_hostile_messages_never_stop_ingest(live: Live, hostile: list[tuple[str, bytes]]) -> None:
    n = next(_examples)
    boot = f"fz{n}"
    good = [("bt-mqtt/raw/s1", json.dumps(_valid(boot, seq)).encode()) for seq in (1, 2, 3)]
    msgs = [good[0], *hostile[: len(hostile) // 2], good[1], *hostile[len(hostile) // 2 :], good[2]]
    before = scrape(live.metrics_port)
    want = before.get("received_total", 0) + len(msgs)

    def done() -> bool:
        m = scrape(live.metrics_port)
        return m.get("received_total") == want and _accounted(m) == want

    _publish(live.broker.port, msgs, done)
    assert live.proc.poll() is None, live.log.read_text()[-3000:]
    m = scrape(live.metrics_port)
    with psycopg.connect(live.db) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM raw_advertisements WHERE scanner_id = 's1' AND boot = %s", (boot,)
        ).fetchone()
        rows = conn.execute("SELECT payload_sha256, payload_size FROM rejected_messages").fetchall()
    assert stored == (3,), "a good advert beside bad ones was not stored"
    rejected = sum(v for k, v in m.items() if k.startswith("rejected_total{"))
    assert len(rows) == rejected  # every rejection counted is kept, and nothing else
    kept = {bytes(r[0]) for r in rows}
    for topic, payload in hostile:  # a message rejected now is kept with its exact bytes' hash
        if not _may_be_stored(topic, payload):
            assert hashlib.sha256(payload).digest() in kept, (topic, payload[:200])


def _may_be_stored(topic: str, payload: bytes) -> bool:
    """False for messages that must be rejected whatever else they contain."""
    if len(payload) > MAX_BYTES:
        return False
    if topic.startswith("bt-mqtt/scanner/"):
        return True  # a heartbeat may be applied (or an empty one ignored)
    sid = topic.removeprefix("bt-mqtt/raw/")
    if not SCANNER_ID_RE.fullmatch(sid):
        return False
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    if not isinstance(obj, dict) or obj.get("scanner_id") != sid:
        return False
    # NaN and Infinity are never valid
    return all(not (isinstance(v, float) and not math.isfinite(v)) for v in _leaves(obj))


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _trap(seq: int, **changes: Any) -> bytes:
    obj = _valid("fz-trap", seq)
    obj.update(changes)
    return json.dumps(obj).encode()


TRAPS: list[tuple[bytes, str]] = [  # (payload on bt-mqtt/raw/s1, rejection reason or "stored")
    (_trap(1, ts="0001-01-01T00:00:00+01:00"), "bad_value"),
    (_trap(2, ts="9999-12-31T23:59:59-01:00"), "bad_value"),
    (_trap(3).replace(b'"v": 1', b'"x": NaN, "v": 1'), "invalid_json"),
    (_trap(4, manufacturer_data={"\u00b2": "00"}), "bad_value"),
    (_trap(5, manufacturer_data={"\u0663": "00"}), "bad_value"),
    (_trap(6, mac="\ufb00:\ufb00:\ufb00:\ufb00:\ufb00:\ufb00"), "bad_value"),
    (_trap(7, service_data={uuid16(0xFCD2): "40 01 64"}), "bad_value"),
    (_trap(0), "bad_value"),
    (_trap(-8), "bad_value"),
    (_trap(9, ts="2026-12-04"), "bad_value"),
    (_trap(10, ts="2026-W49-4"), "bad_value"),
    (b"[" * 1500 + b"]" * 1500, "invalid_json"),
    (b"\x00" * 10_000_000, "too_large"),
    (_trap(11, name="bad\u0000name"), "stored"),
    (_trap(12, name="\\u0000 spelled"), "stored"),
    (_trap(13, service_data={uuid16(0xFCD2): "4053034e0058"}), "stored"),  # BTHome text, NUL
    (_trap(14, name="\u001b]0;PWN\u0007"), "stored"),
]


def test_the_issues_hostile_messages(live: Live) -> None:
    before = scrape(live.metrics_port)
    want = before.get("received_total", 0) + len(TRAPS) + 1
    msgs = [("bt-mqtt/raw/s1", p) for p, _ in TRAPS]
    msgs.append(("bt-mqtt/scanner/s1/status", b'{"status":"online","interval_s":1e300}'))

    def done() -> bool:
        m = scrape(live.metrics_port)
        return m.get("received_total") == want and _accounted(m) == want

    _publish(live.broker.port, msgs, done)
    with psycopg.connect(live.db) as conn:
        rejected = {
            bytes(r[2]): (r[0], bytes(r[1]), r[3])
            for r in conn.execute(
                "SELECT reason, payload, payload_sha256, payload_size FROM rejected_messages"
            )
        }
        stored: dict[int, Any] = dict(
            conn.execute(
                "SELECT seq, payload FROM raw_advertisements WHERE boot = 'fz-trap'"
            ).fetchall()
        )
        (interval,) = conn.execute(
            "SELECT heartbeat_interval_s FROM scanners WHERE scanner_id = 's1'"
        ).fetchone()  # type: ignore[misc]
    for payload, outcome in TRAPS:
        digest = hashlib.sha256(payload).digest()
        if outcome == "stored":
            continue
        reason, kept, size = rejected[digest]
        assert reason == outcome, payload[:100]
        assert kept == payload[:MAX_BYTES] and size == len(payload)
    assert stored[11]["name"] == "bad\\u0000name"
    assert stored[12]["name"] == "\\u0000 spelled"
    assert stored[14]["name"] == "\x1b]0;PWN\x07"
    assert set(stored) == {11, 12, 13, 14}
    assert interval == 86400.0
    assert live.proc.poll() is None


def test_memory_stayed_bounded(live: Live) -> None:
    """Runs after the fuzzing (file order): the subscriber's RSS grew by less than 100 MiB."""
    assert live.proc.poll() is None
    grown = tree_rss_mb(live.proc.pid) - live.rss_start
    assert grown < 100, f"RSS grew by {grown:.0f} MiB"
