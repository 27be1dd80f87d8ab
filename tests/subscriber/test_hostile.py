"""Hostile messages through a real Mosquitto into a real PostgreSQL: one message never stops
ingest, oversize messages are kept as a prefix with size and hash, one scanner's heartbeat
cannot break the offline sweep for the others, and every log line stays JSON."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PgCluster
from tests.fixtures.procs import free_port
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import (
    count,
    publish,
    publish_raw,
    scrape,
    start_subscriber,
    stop,
    wait_subscribed,
    write_config,
)
from tests.subscriber.streams import Msg, stream

RAW = "SELECT count(*) FROM raw_advertisements"
REJECTED = "SELECT count(*) FROM rejected_messages"
POISON_TS = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")


def _poisoned(msg: Msg, ts: str) -> Msg:
    body = json.loads(msg.payload)
    body["ts"] = ts
    return Msg(msg.topic, json.dumps(body).encode(), msg.mac, msg.scanner_id, msg.seq)


def _log_is_json(log: Path) -> None:
    """Every line the subscriber and its planner process wrote is one JSON object."""
    for line in log.read_text().splitlines():
        assert isinstance(json.loads(line), dict), line


def test_poison_times_do_not_stop_ingest(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    """The issue's poison messages, once a crash loop: now two rejections among stored adverts."""
    port = free_port()
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database, metrics={"port": port})
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    msgs = list(stream(160, scanners=("s1",), seed=21))
    poison = [_poisoned(msgs[40], POISON_TS[0]), _poisoned(msgs[90], POISON_TS[1])]
    first = [*msgs[:40], poison[0], *msgs[41:90], poison[1], *msgs[91:120]]
    try:
        wait_subscribed(log, proc)
        publish(mosquitto.port, first)
        wait_until(
            lambda: count(pg_database, REJECTED) == 2,
            "2 rejections",
            60,
            proc=proc,
            log=log,
            every=0.1,
        )
        wait_until(
            lambda: count(pg_database, RAW) == 118, "118 adverts", 30, proc=proc, log=log, every=0.1
        )
        publish(mosquitto.port, msgs[120:])  # still alive: the rest of the stream goes in
        wait_until(
            lambda: count(pg_database, RAW) == 158, "158 adverts", 30, proc=proc, log=log, every=0.1
        )
        metrics = scrape(port)
    finally:
        assert stop(proc) == 0
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT reason, topic, payload FROM rejected_messages").fetchall()
        seqs = {r[0] for r in conn.execute("SELECT seq FROM raw_advertisements")}
    assert sorted((r[0], r[1], bytes(r[2])) for r in rows) == sorted(
        ("bad_value", "bt-mqtt/raw/s1", p.payload) for p in poison
    )
    assert seqs == {m.seq for m in msgs} - {msgs[40].seq, msgs[90].seq}
    assert metrics['rejected_total{reason="bad_value"}'] == 2
    _log_is_json(log)


def test_oversize_messages_keep_a_prefix_with_size_and_hash(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database)
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    msgs = list(stream(60, scanners=("s1",), seed=22))
    big = [bytes([65 + i]) * (3_000_000 + i) for i in range(3)]
    try:
        wait_subscribed(log, proc)
        publish(mosquitto.port, msgs[:30])
        for payload in big:
            publish_raw(mosquitto.port, "bt-mqtt/raw/s1", payload)
        publish_raw(mosquitto.port, "bt-mqtt/scanner/s1/status", b"{" + b" " * 70_000 + b"}")
        publish(mosquitto.port, msgs[30:])
        wait_until(
            lambda: count(pg_database, REJECTED) == 4,
            "4 rejections",
            60,
            proc=proc,
            log=log,
            every=0.1,
        )
        wait_until(
            lambda: count(pg_database, RAW) == 60, "60 adverts", 30, proc=proc, log=log, every=0.1
        )
    finally:
        assert stop(proc) == 0
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            "SELECT topic, payload, payload_size, payload_sha256, reason, detail "
            "FROM rejected_messages ORDER BY payload_size"
        ).fetchall()
    whole = [b"{" + b" " * 70_000 + b"}", *big]
    assert [(r[0], r[4]) for r in rows] == [
        ("bt-mqtt/scanner/s1/status", "too_large"),
        *[("bt-mqtt/raw/s1", "too_large")] * 3,
    ]
    for row, payload in zip(rows, whole, strict=True):
        assert bytes(row[1]) == payload[:16384]  # a bounded prefix, enough to inspect
        assert row[2] == len(payload)
        assert bytes(row[3]) == hashlib.sha256(payload).digest()
        assert f"{len(payload)} bytes" in row[5]


@pytest.mark.slow
def test_one_scanners_heartbeat_cannot_break_the_sweep(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    """A heartbeat claiming a 1e300 s interval once made every offline sweep fail, so no scanner
    was ever marked offline again."""
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"sweep_s": 0.2})
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    status = "SELECT status FROM scanners WHERE scanner_id = %s"

    def state(sid: str) -> str | None:
        with psycopg.connect(pg_database) as conn:
            row = conn.execute(status, (sid,)).fetchone()
        return None if row is None else str(row[0])

    try:
        wait_subscribed(log, proc)
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/evil/status", b'{"status":"online","interval_s":1e300}'
        )
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/tiny/status", b'{"status":"online","interval_s":1e-9}'
        )
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/good/status", b'{"status":"online","interval_s":1}'
        )
        wait_until(
            lambda: state("good") == "online", "good online", 30, proc=proc, log=log, every=0.1
        )
        started = time.monotonic()
        wait_until(
            lambda: state("good") == "offline",
            "good marked offline",
            30,
            proc=proc,
            log=log,
            every=0.1,
        )
        assert time.monotonic() - started < 15
        assert state("evil") == "online"  # clamped to a day: not overdue yet
        with psycopg.connect(pg_database) as conn:
            intervals: dict[str, float] = dict(
                conn.execute("SELECT scanner_id, heartbeat_interval_s FROM scanners").fetchall()
            )
    finally:
        assert stop(proc) == 0
    assert intervals == {"evil": 86400.0, "tiny": 1.0, "good": 1.0}
    assert "offline sweep failed" not in log.read_text()


@pytest.mark.slow
def test_sweep_survives_an_interval_already_in_the_database(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    """A row written before the clamp existed (or by hand) cannot break the sweep either."""
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"sweep_s": 0.2})
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/good/status", b'{"status":"online","interval_s":1}'
        )
        wait_until(
            lambda: count(pg_database, "SELECT count(*) FROM scanners") == 1,
            "a row",
            30,
            proc=proc,
            every=0.1,
        )
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO scanners (scanner_id, status, last_heartbeat_at, "
                "heartbeat_interval_s, first_seen, last_seen) "
                "VALUES ('old', 'online', now(), 1e300, now(), now())"
            )
        wait_until(
            lambda: (
                count(pg_database, "SELECT count(*) FROM scanners WHERE status = 'offline'") == 1
            ),
            "good marked offline",
            30,
            proc=proc,
            log=log,
            every=0.1,
        )
    finally:
        assert stop(proc) == 0
    assert "offline sweep failed" not in log.read_text()


@pytest.mark.slow
def test_payload_bytes_held_are_bounded_while_the_database_is_down(
    mosquitto: Broker, pg_cluster_factory: Callable[[], PgCluster], tmp_path: Path
) -> None:
    """receive_maximum bounds a count; max_pending_bytes bounds bytes: past it the subscriber
    stops reading from the broker, which keeps the rest, and nothing is lost."""
    cluster = pg_cluster_factory()
    db = cluster.create_database("bounded")
    port = free_port()
    cfg = write_config(
        tmp_path / "sub.yaml",
        mosquitto.port,
        db,
        metrics={"port": port},
        ingest={
            "max_payload_bytes": 65536,
            "max_pending_bytes": 1048576,
            "db_retry_cap_s": 0.5,
        },
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    n = 80
    msgs = [
        Msg("bt-mqtt/raw/s1", b'{"pad":"' + bytes([97 + i % 26]) * 50_000 + b'"}', "", "s1", i)
        for i in range(n)
    ]  # 4 MB in all, each message within the payload limit
    try:
        wait_subscribed(log, proc)
        cluster.stop("fast")
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: scrape(port).get("read_pauses_total", 0) >= 1,
            "reading paused",
            30,
            proc=proc,
            log=log,
            every=0.1,
        )
        time.sleep(1.0)
        held = [scrape(port) for _ in range(5)]
        cluster.start()
        wait_until(
            lambda: count(db, REJECTED) == n, f"{n} rejections", 90, proc=proc, log=log, every=0.1
        )
        done = scrape(port)
    finally:
        assert stop(proc) == 0
    for m in held:
        assert m["pending_bytes"] <= 1048576 + 2 * 65536 + 131072  # the bound plus one read
        assert m["received_total"] < n  # the rest waited at the broker
    assert done["received_total"] == n and done["pending_bytes"] == 0
    assert done['rejected_total{reason="missing_field"}'] == n  # each kept, none lost
