"""The seq ledger, time trust and parse status against a real PostgreSQL (issue 12 items 1,
4-7): plans from the real planner written by the real ``Store``."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.topics import Topics
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import BatchPlan, plan_chunk
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.ledger import Loss
from bt_mqtt.subscriber.migrate import migrate
from bt_mqtt.subscriber.privacy import DROP, KEEP, Privacy
from bt_mqtt.subscriber.reprocess import reprocess
from bt_mqtt.subscriber.retention import run_retention
from bt_mqtt.subscriber.store import Store, WriteResult

BOOT = "b00t"
SID = "pi1"
NOW = datetime.now(UTC).replace(microsecond=0)
MAC = "A4:C1:38:00:00:01"


def _bthome(temp_c: float) -> dict[str, bytes]:
    body = bytes([0x40, 0x02]) + struct.pack("<h", round(temp_c * 100))
    return {uuid16(0xFCD2): body}


def _msg(
    seq: int,
    ts: datetime,
    *,
    sid: str = SID,
    boot: str = BOOT,
    temp: float = 20.0,
    data: dict[str, bytes] | None = None,
    mac: str = MAC,
    address_type: str = "public",
) -> tuple[str, bytes]:
    adv = Advert(
        mac=mac,
        rssi=-50,
        service_data=data if data is not None else _bthome(temp),
        address_type=address_type,
    )
    return f"bt-mqtt/raw/{sid}", encode(adv, sid, boot, seq, format_ts(ts.timestamp()))


def _plan(
    msgs: Iterable[tuple[str, bytes]],
    received: datetime = NOW,
    *,
    keys: dict[str, bytes] | None = None,
    privacy: Privacy | None = None,
    registry: Registry | None = None,
) -> BatchPlan:
    msgs = list(msgs)
    return plan_chunk(
        [t for t, _ in msgs],
        [p for _, p in msgs],
        [received.timestamp()] * len(msgs),
        Topics("bt-mqtt"),
        registry or Registry.default(plugins=False),
        ParseContext(bindkeys=keys or {}),
        max_bytes=16384,
        skew_s=300,
        privacy=privacy,
    )


def _heartbeat(last_seq: int, **counters: int) -> tuple[str, bytes]:
    body = {
        "status": "online",
        "scanner_id": SID,
        "boot": BOOT,
        "last_seq": last_seq,
        "interval_s": 60,
        "counters": counters,
    }
    return f"bt-mqtt/scanner/{SID}/status", json.dumps(body).encode()


async def _write(db: str, *plans: BatchPlan, now: datetime = NOW) -> list[WriteResult]:
    store = Store({"conninfo": db}, keep_days=90, future_days=2)
    await store.connect()
    try:
        return [await store.write(p, now) for p in plans]
    finally:
        await store.close()


def _q(db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _migrated(db: str) -> str:
    migrate({"conninfo": db})
    return db


def test_ledger_counts_gaps_out_of_order_redelivery_and_two_subscribers(
    pg_database: str,
) -> None:
    db = _migrated(pg_database)
    t = NOW - timedelta(seconds=30)
    first = _plan(_msg(s, t) for s in (3, 1, 2, 6))  # out of order; 4, 5 not yet
    again = _plan(_msg(s, t) for s in (1, 2, 8, 9))  # redelivered 1, 2
    hb = _plan(
        [
            _heartbeat(
                12,
                received=40,
                filtered=10,
                deduplicated=15,
                published=12,
                dropped_offline=2,
                dropped_backlog=1,
            )
        ]
    )
    results = asyncio.run(_write(db, first, again, hb))
    assert [r.archived for r in results[:2]] == [4, 2]
    assert results[1].redelivered == 2
    assert results[0].parsed == {"bthome": 4} and results[1].parsed == {"bthome": 2}

    async def two_subscribers() -> None:  # a share group: two connections, the same seqs
        await asyncio.gather(
            _write(db, _plan(_msg(s, t) for s in (4, 9, 10))),
            _write(db, _plan(_msg(s, t) for s in (4, 10, 11))),
        )

    asyncio.run(two_subscribers())
    row = _q(
        db,
        "SELECT published, received, missing, radio_received, filtered, deduplicated, "
        "agent_dropped FROM seq_accounting WHERE scanner_id = %s",
        SID,
    )
    # received 1 2 3 4 6 8 9 10 11; 5, 7 and 12 never arrived
    assert row == [(12, 9, 3, 40, 10, 15, 3)]
    assert _q(db, "SELECT count(*), count(DISTINCT seq) FROM raw_advertisements") == [(9, 9)]
    # the radio's adverts are explained: received = published + filtered + dedup + drops
    assert 40 == 12 + 10 + 15 + 3
    asyncio.run(_write(db, _plan(_msg(s, t) for s in (5, 7))))
    assert _q(db, "SELECT published, received, missing FROM scanner_loss") == [(12, 11, 1)]

    async def loss() -> dict[str, Loss]:
        store = Store({"conninfo": db}, keep_days=90, future_days=2)
        await store.connect()
        try:
            return await store.loss()  # what the metrics show, refreshed by the sweep
        finally:
            await store.close()

    assert asyncio.run(loss()) == {SID: Loss(published=12, received=11, missing=1, agent_dropped=3)}


def test_an_older_heartbeat_does_not_lower_last_seq(pg_database: str) -> None:
    db = _migrated(pg_database)
    asyncio.run(
        _write(db, _plan([_heartbeat(50, received=60)]), _plan([_heartbeat(20, received=25)]))
    )
    assert _q(db, "SELECT last_seq, agent_counters->>'received' FROM seq_ledger") == [(50, "60")]


def test_privacy_dropped_adverts_count_as_received(pg_database: str) -> None:
    db = _migrated(pg_database)
    privacy = Privacy(random=DROP, public=KEEP, key=b"k" * 32)
    unknown = {uuid16(0xFEAA): b"\x99"}  # nobody's format
    msgs = [
        _msg(1, NOW, data=unknown, mac="C1:00:00:00:00:01", address_type="random"),
        _msg(2, NOW),
    ]
    asyncio.run(_write(db, _plan(msgs, privacy=privacy)))
    assert _q(db, "SELECT published, received, missing FROM seq_accounting") == [(2, 2, 0)]
    assert _q(db, "SELECT count(*) FROM raw_advertisements") == [(1,)]


def test_same_identity_with_another_ts_is_stored_once(pg_database: str) -> None:
    db = _migrated(pg_database)
    a = _plan([_msg(1, NOW - timedelta(seconds=5))])
    b = _plan([_msg(1, NOW - timedelta(hours=30))])  # the same (scanner, boot, seq), other day
    results = asyncio.run(_write(db, a, b))
    assert [r.archived for r in results] == [1, 0] and results[1].redelivered == 1
    assert _q(db, "SELECT count(*) FROM raw_advertisements") == [(1,)]
    assert _q(db, "SELECT count(*) FROM sensor_readings") == [(1,)]


def test_an_advert_stamped_2038_freezes_nothing(pg_database: str) -> None:
    db = _migrated(pg_database)
    t1 = NOW - timedelta(seconds=20)
    future = datetime(2038, 1, 1, tzinfo=UTC)
    asyncio.run(_write(db, _plan([_msg(1, t1, temp=20.0)], t1)))
    skewed = _plan([_msg(2, future, temp=99.0)], NOW - timedelta(seconds=10))
    assert skewed.untrusted == 1
    asyncio.run(_write(db, skewed))
    asyncio.run(_write(db, _plan([_msg(3, NOW, temp=21.5)], NOW)))
    dev = _q(db, "SELECT last_seen, last_readings->>'temperature_c' FROM devices")
    assert dev == [(NOW, "21.5")]
    # the documented "latest value" query gives the newest reading, not the 2038 one
    latest = _q(
        db,
        "SELECT DISTINCT ON (mac, metric) value FROM sensor_readings "
        "WHERE metric = 'temperature_c' ORDER BY mac, metric, time DESC",
    )
    assert latest == [(21.5,)]
    rows = _q(
        db, "SELECT seq, agent_time, time, payload->>'ts' FROM raw_advertisements ORDER BY seq"
    )
    assert rows[1][:3] == (2, False, NOW - timedelta(seconds=10))
    assert rows[1][3] == format_ts(future.timestamp())  # the agent's ts is kept in the payload
    assert [r[1] for r in rows] == [True, False, True]


def test_an_advert_stamped_1970_survives_retention(pg_database: str, tmp_path: Any) -> None:
    db = _migrated(pg_database)
    plan = _plan([_msg(1, datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC))])
    assert plan.untrusted == 1 and plan.days == {NOW.date()}
    asyncio.run(_write(db, plan))
    assert _q(db, "SELECT count(*) FROM raw_advertisements_default") == [(0,)]
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text(f"database: {{url: '{db}'}}\n")
    run_retention(load_config(cfg_file, env={}), {"conninfo": db}, NOW)
    assert _q(db, "SELECT agent_time, time FROM raw_advertisements") == [(False, NOW)]


def test_encrypted_without_key_is_not_unknown(pg_database: str) -> None:
    db = _migrated(pg_database)
    encrypted = {uuid16(0xFCD2): bytes([0x41]) + bytes(range(12))}
    keyed = "A4:C1:38:00:00:02"
    plan = _plan(
        [
            _msg(1, NOW, data=encrypted),
            _msg(2, NOW, data=encrypted, mac=keyed),
            _msg(3, NOW, data={uuid16(0xFEAA): b"\x99"}, mac="A4:C1:38:00:00:03"),
            _msg(4, NOW),
        ],
        keys={keyed: bytes(16)},
    )
    res = asyncio.run(_write(db, plan, plan))
    rows = _q(db, "SELECT seq, parser, parse_status FROM raw_advertisements ORDER BY seq")
    assert rows == [
        (1, "bthome", "no_key"),
        (2, "bthome", "wrong_key"),
        (3, None, None),
        (4, "bthome", "ok"),
    ]
    assert res[0].parse_failed == {("bthome", "no_key"): 1, ("bthome", "wrong_key"): 1}
    assert res[0].parsed == {"bthome": 1}
    assert not res[1].parse_failed and not res[1].parsed  # a redelivery is not counted again


def test_retention_dry_run_names_the_default_partitions(pg_database: str, tmp_path: Any) -> None:
    db = _migrated(pg_database)
    with psycopg.connect(db, autocommit=True) as conn:  # written before this release: 1970
        conn.execute(
            "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, "
            "payload) VALUES ('1970-01-01Z', now(), 's', 'b', 1, 'A4:C1:38:00:00:09', '{}')"
        )
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text(f"database: {{url: '{db}'}}\n")
    argv = [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg_file)]
    out = subprocess.run(
        [*argv, "retention", "--dry-run"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "raw_advertisements_default: 1 rows, would delete 1 (before the cut-off)" in out
    assert "sensor_readings_hot_default: 0 rows, would delete 0" in out
    assert _q(db, "SELECT count(*) FROM raw_advertisements") == [(1,)]  # a dry run


def test_reprocess_refreshes_last_readings(pg_database: str, tmp_path: Any) -> None:
    db = _migrated(pg_database)
    t1, t2 = NOW - timedelta(seconds=20), NOW - timedelta(seconds=10)
    blind = Registry([])  # stored by a subscriber that knew no parser
    asyncio.run(
        _write(db, _plan([_msg(1, t1, temp=18.0), _msg(2, t2, temp=19.5)], NOW, registry=blind))
    )
    assert _q(db, "SELECT last_readings, parser FROM devices") == [({}, None)]
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text(f"database: {{url: '{db}'}}\n")
    cfg = load_config(cfg_file, env={})
    counts = reprocess(
        cfg, {"conninfo": db}, NOW - timedelta(hours=1), NOW + timedelta(hours=1), out=io.StringIO()
    )
    assert counts["touched"] == 2
    dev = _q(db, "SELECT last_readings->>'temperature_c', last_readings_at, parser FROM devices")
    assert dev == [("19.5", t2, "bthome")]
    assert _q(db, "SELECT parse_status FROM raw_advertisements") == [("ok",), ("ok",)]
