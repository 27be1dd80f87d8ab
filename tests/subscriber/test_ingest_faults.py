"""Faults: SIGKILL, PostgreSQL and broker restarts, malformed payloads, scanner transitions."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PgCluster
from tests.fixtures.procs import free_port
from tests.fixtures.proctree import descendants, survivors
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
from tests.subscriber.streams import expected_readings, stream

RAW = "SELECT count(*) FROM raw_advertisements"
READINGS = "SELECT count(*) FROM sensor_readings"


def _exact(db: str, msgs: list, n: int) -> None:  # type: ignore[type-arg]
    assert count(db, RAW) == n
    assert count(db, READINGS) == expected_readings(msgs)
    assert count(db, "SELECT sum(advert_count) FROM devices") == n
    assert count(db, "SELECT count(*) FROM rejected_messages") == 0


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_exact_counts(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    n = 12000
    cfg = write_config(
        tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"batch_size": 500}
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    wait_subscribed(log, proc)
    msgs = list(stream(n, seed=3))
    pubs = publish(mosquitto.port, msgs, background=True)
    for p, data in pubs:
        assert p.stdin is not None
        p.stdin.write(data)
        p.stdin.close()
    wait_until(
        lambda: count(pg_database, RAW) >= 2000, "2000 adverts", 60, proc=proc, log=log, every=0.1
    )
    children = descendants(proc.pid)
    assert any("multiprocessing" in cmd for cmd in children.values()), children
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # its planner worker and multiprocessing's resource tracker go with it
    assert survivors(children) == {}
    partial = count(pg_database, RAW)
    assert partial < n, "the stream finished before the kill; make it longer"
    proc = start_subscriber(cfg, log)
    try:
        wait_until(
            lambda: count(pg_database, RAW) == n, f"{n} adverts", 120, proc=proc, log=log, every=0.1
        )
        for p, _ in pubs:
            assert p.wait(60) == 0
        time.sleep(0.5)  # anything extra (a duplicate) would be committed by now
    finally:
        assert stop(proc) == 0
    _exact(pg_database, msgs, n)


@pytest.mark.slow
def test_postgres_stopped_mid_stream_exact_counts(
    mosquitto: Broker, pg_cluster_factory: Callable[[], PgCluster], tmp_path: Path
) -> None:
    n = 12000
    cluster = pg_cluster_factory()
    db = cluster.create_database("ingest")
    cfg = write_config(
        tmp_path / "sub.yaml",
        mosquitto.port,
        db,
        ingest={"batch_size": 500, "db_retry_cap_s": 0.5},
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        msgs = list(stream(n, seed=4))
        pubs = publish(mosquitto.port, msgs, background=True)
        for p, data in pubs:
            assert p.stdin is not None
            p.stdin.write(data)
            p.stdin.close()
        wait_until(
            lambda: count(db, RAW) >= 2000, "2000 adverts", 60, proc=proc, log=log, every=0.1
        )
        cluster.stop("fast")
        wait_until(
            lambda: "db_write_failed" in log.read_text(),
            "a failed write",
            30,
            proc=proc,
            log=log,
            every=0.1,
        )
        time.sleep(1.0)
        cluster.start()
        wait_until(lambda: count(db, RAW) == n, f"{n} adverts", 120, proc=proc, log=log, every=0.1)
        for p, _ in pubs:
            assert p.wait(60) == 0
        time.sleep(0.5)
    finally:
        assert stop(proc) == 0
    _exact(db, msgs, n)


def test_broker_restart_reconnects_and_resubscribes(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database)
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        msgs = list(stream(400, seed=5))
        publish(mosquitto.port, msgs[:200])
        wait_until(
            lambda: count(pg_database, RAW) == 200, "200 adverts", 60, proc=proc, log=log, every=0.1
        )
        mosquitto.stop()
        mosquitto.start()
        wait_subscribed(log, proc, times=2)
        publish(mosquitto.port, msgs[200:])
        wait_until(
            lambda: count(pg_database, RAW) == 400, "400 adverts", 60, proc=proc, log=log, every=0.1
        )
    finally:
        assert stop(proc) == 0
    _exact(pg_database, msgs, 400)


BAD = {
    "invalid_json": b'{"v": 1, "scanner_id": ',
    "not_object": b"[1, 2, 3]",
    "missing_field": json.dumps({"v": 1, "scanner_id": "s1", "boot": "b", "ts": "x"}).encode(),
    "wrong_type": json.dumps(
        {
            "v": 1,
            "scanner_id": "s1",
            "boot": "b",
            "seq": "7",
            "ts": "2026-01-01T00:00:00.000Z",
            "mac": "AA:BB:CC:DD:EE:FF",
            "rssi": -50,
        }
    ).encode(),
    "scanner_mismatch": json.dumps(
        {
            "v": 1,
            "scanner_id": "other",
            "boot": "b",
            "seq": 1,
            "ts": "2026-01-01T00:00:00.000Z",
            "mac": "AA:BB:CC:DD:EE:FF",
            "rssi": -50,
        }
    ).encode(),
    "bad_version": json.dumps({"v": 2, "scanner_id": "s1"}).encode(),
    "invalid_utf8": b'{"v": 1, "name": "\xff\xfe"}',
    "too_large": b'{"pad": "' + b"x" * 20000 + b'"}',
}


def test_malformed_payloads_rejected_with_reason(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database)
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        msgs = list(stream(200, scanners=("s1",), seed=6))
        publish(mosquitto.port, msgs[:100])
        for payload in BAD.values():
            publish_raw(mosquitto.port, "bt-mqtt/raw/s1", payload)
        publish_raw(mosquitto.port, "bt-mqtt/scanner/s1/status", b'{"status": "sleepy"}')
        publish(mosquitto.port, msgs[100:])
        want = len(BAD) + 1
        wait_until(
            lambda: (
                count(pg_database, "SELECT count(*) FROM rejected_messages") == want
                and count(pg_database, RAW) == 200
            ),
            "rejections",
            60,
            proc=proc,
            log=log,
            every=0.1,
        )
    finally:
        assert stop(proc) == 0
    _ok = count(pg_database, RAW) == 200
    assert _ok
    assert count(pg_database, READINGS) == expected_readings(msgs)
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            "SELECT reason, topic, payload, payload_size, payload_sha256 FROM rejected_messages"
        ).fetchall()
    got = {r[0]: (bytes(r[2]), r[3], bytes(r[4])) for r in rows}
    assert set(got) == {*BAD, "bad_heartbeat"}
    for reason, payload in BAD.items():
        kept = payload[:16384] if reason == "too_large" else payload  # an oversize one: a prefix
        assert got[reason] == (kept, len(payload), hashlib.sha256(payload).digest()), reason
    assert {r[1] for r in rows} == {"bt-mqtt/raw/s1", "bt-mqtt/scanner/s1/status"}


@pytest.mark.slow
def test_scanner_transitions(mosquitto: Broker, pg_database: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"sweep_s": 0.2})
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    topic = "bt-mqtt/scanner/pi1/status"

    def transitions() -> list[tuple[str, str, str]]:
        with psycopg.connect(pg_database) as conn:
            rows = conn.execute(
                "SELECT from_status, to_status, reason FROM scanner_transitions ORDER BY id"
            ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    try:
        wait_subscribed(log, proc)
        hb = {"status": "online", "boot": "b1", "uptime_s": 1, "interval_s": 0.5, "version": "x"}
        publish_raw(mosquitto.port, topic, json.dumps(hb).encode(), retain=True)
        wait_until(lambda: len(transitions()) == 1, "online", 20, proc=proc, log=log, every=0.1)
        publish_raw(mosquitto.port, topic, b'{"status": "offline", "boot": "b1"}', retain=True)
        wait_until(lambda: len(transitions()) == 2, "last will", 20, proc=proc, log=log, every=0.1)
        hb["uptime_s"] = 2
        publish_raw(mosquitto.port, topic, json.dumps(hb).encode(), retain=True)
        # no more heartbeats: offline after three intervals (1.5 s)
        wait_until(
            lambda: len(transitions()) == 4, "missed heartbeats", 20, proc=proc, log=log, every=0.1
        )
    finally:
        assert stop(proc) == 0
    assert transitions() == [
        ("unknown", "online", "heartbeat"),
        ("online", "offline", "agent_offline"),
        ("offline", "online", "heartbeat"),
        ("online", "offline", "missed_heartbeats"),
    ]
    assert "scanner_transition" in log.read_text()
    # a restart gets the retained heartbeat again: it is not taken as a new one
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc, times=2)
        time.sleep(1.0)
    finally:
        assert stop(proc) == 0
    assert len(transitions()) == 4


@pytest.mark.slow
def test_share_group_splits_the_stream_exactly_once(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    procs = []
    logs = []
    ports = [free_port(), free_port()]
    for i, port in enumerate(ports):
        cfg = write_config(
            tmp_path / f"sub{i}.yaml",
            mosquitto.port,
            pg_database,
            client_id=f"sub-{i}",
            mqtt_extra={"share_group": "ingest"},
            metrics={"port": port},
        )
        logs.append(tmp_path / f"sub{i}.log")
        procs.append(start_subscriber(cfg, logs[-1]))  # both migrate: the lock serialises them
    try:
        for proc, log in zip(procs, logs, strict=True):
            wait_subscribed(log, proc)
        msgs = list(stream(3000, scanners=("s1", "s2", "s3"), seed=9))
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: count(pg_database, RAW) == 3000,
            "3000 adverts",
            60,
            proc=procs[0],
            log=logs[0],
            every=0.1,
        )
        time.sleep(0.5)
        archived = [scrape(port).get("archived_total", 0) for port in ports]
    finally:
        for proc in procs:
            assert stop(proc) == 0
    _exact(pg_database, msgs, 3000)
    assert sum(archived) == 3000
    assert min(archived) > 0, archived


@pytest.mark.slow
def test_what_postgres_refuses_is_settled_before_the_database(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    """A NUL in a name is escaped and the advert stored; a seq beyond bigint and a NaN are
    rejected while planning.  The batch is never handed to PostgreSQL advert by advert."""
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"batch_ms": 300})
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    msgs = list(stream(101, scanners=("s1",), seed=11))
    nul = next(i for i in range(50, 60) if msgs[i].mac.startswith("A4:C1:38"))  # kept as is
    body = json.loads(msgs[nul].payload)
    body["name"] = "bad\u0000name"  # valid JSON, but jsonb and text columns refuse NUL
    msgs[nul].payload = json.dumps(body).encode()
    body = json.loads(msgs[60].payload)
    body["seq"] = 2**70  # a valid JSON integer that does not fit the bigint column
    msgs[60].payload = json.dumps(body).encode()
    msgs[70].payload = msgs[70].payload.replace(b'"v":1', b'"x":NaN,"v":1')
    try:
        wait_subscribed(log, proc)
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: count(pg_database, "SELECT count(*) FROM rejected_messages") == 2,
            "the rejections",
            60,
            proc=proc,
            log=log,
            every=0.1,
        )
        wait_until(
            lambda: count(pg_database, RAW) == 99, "99 adverts", 30, proc=proc, log=log, every=0.1
        )
    finally:
        assert stop(proc) == 0
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT reason, topic, payload FROM rejected_messages").fetchall()
        seqs = {r[0] for r in conn.execute("SELECT seq FROM raw_advertisements")}
        (name,) = conn.execute(
            "SELECT payload->>'name' FROM raw_advertisements WHERE seq = %s", (nul + 1,)
        ).fetchone()  # type: ignore[misc]
    assert sorted((r[0], r[1], bytes(r[2])) for r in rows) == [
        ("bad_value", "bt-mqtt/raw/s1", msgs[60].payload),
        ("invalid_json", "bt-mqtt/raw/s1", msgs[70].payload),
    ]
    assert seqs == set(range(1, 102)) - {61, 71}
    assert name == "bad\\u0000name"  # the NUL kept as its escape
    assert count(pg_database, READINGS) == expected_readings(
        [m for i, m in enumerate(msgs) if i not in (60, 70)]
    )
    assert "batch_data_error" not in log.read_text()  # no advert-by-advert retry
