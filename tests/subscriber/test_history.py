"""Latest values and rollups (history.py, sql.INGEST's marks, migration 0006) on a real
PostgreSQL.

Oracles are computed in the test from ``sensor_readings`` (the narrow truth): after the rollup
job the rollups must equal a GROUP BY over it, whatever the batches, after late and redelivered
adverts, ``reprocess`` and the migration of a database filled before 0006.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber import history
from bt_mqtt.subscriber.compact import compact
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.migrate import migrate
from bt_mqtt.subscriber.reprocess import reprocess
from bt_mqtt.subscriber.retention import run_retention
from tests.subscriber.historyload import MACS, T0, Message, advert, ci, ingest, stream

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _rollups(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    cols = "mac, metric, bucket, n, round(sum::numeric, 6), min, max, last, last_time"
    rows = conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2, 3").fetchall()
    return [tuple(r) for r in rows]


def _oracle(conn: psycopg.Connection[Any], unit: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT mac, metric, date_trunc(%s, time, 'UTC'), count(*), round(sum(value)::numeric, 6),"
        " min(value), max(value), (array_agg(value ORDER BY time DESC, value DESC))[1], max(time) "
        "FROM sensor_readings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (unit,),
    ).fetchall()
    return [tuple(r) for r in rows]


def _latest(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute(history.LATEST, {"macs": list(MACS)}).fetchall()
    return [(r[0], r[1], r[3]) for r in rows]


def _latest_oracle(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    # every metric here is in every advert: the newest advert's values (ties: the later seq)
    rows = conn.execute(
        "SELECT DISTINCT ON (r.mac, r.metric) r.mac, r.metric, r.value FROM sensor_readings r "
        "JOIN raw_advertisements a ON a.id = r.advert_id "
        "ORDER BY r.mac, r.metric, r.time DESC, a.received_at DESC"
    ).fetchall()
    return [tuple(r) for r in rows]


def _roll_up(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return history.roll_up(conn)


def _assert_consistent(url: str, *, latest: bool = True) -> None:
    _roll_up(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM rollup_marks").fetchone() == (0,)
        if latest:
            assert _latest(conn) == _latest_oracle(conn)
        for table, unit in (("readings_1m", "minute"), ("readings_1h", "hour")):
            assert _rollups(conn, table) == _oracle(conn, unit), table
        assert _rollups(conn, "readings_1d") == _oracle(conn, "day")


def test_ingest_keeps_latest_and_rollups_and_redelivery_adds_nothing(pg_database: str) -> None:
    migrate(ci(pg_database))
    msgs = stream(200)
    assert ingest(pg_database, msgs, batch=37) == 400
    _assert_consistent(pg_database)
    with psycopg.connect(pg_database) as conn:
        before = _rollups(conn, "readings_1m")
        counted = conn.execute("SELECT sum(n) FROM readings_1d").fetchone()
    assert counted == (400 * 3,)  # temperature, humidity, battery per advert
    with psycopg.connect(pg_database) as conn:
        days = conn.execute("SELECT DISTINCT bucket FROM readings_1d ORDER BY 1").fetchall()
    assert [d[0] for d in days] == [T0.replace(hour=0, minute=0), T0 + timedelta(minutes=70)]
    assert ingest(pg_database, msgs[100:300], batch=64) == 0  # redelivered: nothing new
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM rollup_marks").fetchone() == (0,)
    assert _roll_up(pg_database) == 0
    with psycopg.connect(pg_database) as conn:
        assert _rollups(conn, "readings_1m") == before
    _assert_consistent(pg_database)


def test_late_adverts_land_in_buckets_already_rolled_up(pg_database: str) -> None:
    migrate(ci(pg_database))
    msgs = stream(160)
    early, late = msgs[::2], msgs[1::2]  # scanner s1 first; s2's adverts of the same minutes later
    assert ingest(pg_database, early[:120], batch=40) == 120
    _assert_consistent(pg_database)
    with psycopg.connect(pg_database) as conn:
        before = conn.execute("SELECT sum(n) FROM readings_1d").fetchone()
    assert ingest(pg_database, late[::-1], batch=33) == 160  # newest first, all of them late
    assert ingest(pg_database, early[120:], batch=40) == 40
    _assert_consistent(pg_database)
    with psycopg.connect(pg_database) as conn:
        after = conn.execute("SELECT sum(n) FROM readings_1d").fetchone()
    assert before == (120 * 3,) and after == (320 * 3,)


@pytest.mark.parametrize("order", [(21.5, 23.25), (23.25, 21.5)])
def test_readings_at_the_same_time_leave_the_larger_as_last_whatever_the_order(
    pg_database: str, order: tuple[float, float]
) -> None:
    migrate(ci(pg_database))
    t = T0.timestamp()
    first, second = order
    # two scanners hear the same instant; each in its own batch, then both in one
    ingest(pg_database, [advert("s1", 1, MACS[0], t, first, t + 0.1)])
    _roll_up(pg_database)
    ingest(pg_database, [advert("s2", 1, MACS[0], t, second, t + 0.2)])
    ingest(
        pg_database,
        [advert("s1", 2, MACS[1], t, first, t + 0.1), advert("s2", 2, MACS[1], t, second, t)],
    )
    _roll_up(pg_database)
    with psycopg.connect(pg_database) as conn:
        for table in ("readings_1m", "readings_1h", "readings_1d"):
            rows = conn.execute(
                f"SELECT mac, last FROM {table} WHERE metric = 'temperature_c' ORDER BY mac"
            ).fetchall()
            assert rows == [(MACS[0], 23.25), (MACS[1], 23.25)], table
    _assert_consistent(pg_database)


def test_buckets_before_2000_are_the_utc_minute_hour_and_day(pg_database: str) -> None:
    # date_bin's origin is 2000-01-01: buckets before it must round down too (a subscriber
    # whose own clock is off can store such times)
    migrate(ci(pg_database))
    times = [
        datetime(1999, 12, 31, 23, 59, 30, 500000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC),
        datetime(1985, 6, 30, 23, 59, 59, 999000, tzinfo=UTC),
    ]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for i, at in enumerate(times):
            conn.execute(
                "INSERT INTO sensor_readings_hot (time, mac, scanner_id, parser, metric, value, "
                "advert_id) VALUES (%s, %s, 's1', 'bthome', 'temperature_c', %s, %s)",
                (at, MACS[0], 20.0 + i, i + 1),
            )
        history.mark(conn, times)
        assert history.roll_up(conn) == 1  # one mark row
        hours = conn.execute("SELECT bucket FROM readings_1h ORDER BY 1").fetchall()
    assert [h[0] for h in hours] == [
        datetime(1970, 1, 1, 0, tzinfo=UTC),
        datetime(1985, 6, 30, 23, tzinfo=UTC),
        datetime(1999, 12, 31, 23, tzinfo=UTC),
    ]
    assert [history.floor(t, history.DAY) for t in times] == [
        datetime(1999, 12, 31, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1985, 6, 30, tzinfo=UTC),
    ]
    _assert_consistent(pg_database, latest=False)


def test_ranges_join_buckets_closer_than_the_gap() -> None:
    m = [datetime(2026, 3, 1, 10, i, tzinfo=UTC) for i in (0, 1, 1, 5, 30)]
    minute = history.MINUTE
    assert history.ranges(m, minute, timedelta(minutes=10)) == [
        (m[0], m[3] + minute),
        (m[4], m[4] + minute),
    ]
    assert history.ranges(m[:2], minute, minute) == [(m[0], m[1] + minute)]
    assert history.ranges([], minute) == []


def test_few_ranges_closes_the_smallest_gaps_but_not_days() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    minutes = [t0 + timedelta(minutes=30 * i + (i % 3)) for i in range(40)]
    far = t0 + timedelta(days=5)
    got = history.few_ranges([*minutes, far], history.MINUTE)
    assert len(history.ranges([*minutes, far], history.MINUTE)) == 41
    assert len(got) <= history.MAX_RANGES and got[-1] == (far, far + history.MINUTE)
    covered = [m for m in minutes if any(lo <= m < hi for lo, hi in got)]
    assert covered == minutes


def test_plan_leaves_minutes_before_keep_from_alone() -> None:
    keep = datetime(2026, 3, 2, tzinfo=UTC)
    old, new = keep - timedelta(minutes=3), keep + timedelta(minutes=7)
    steps = history.plan([old, new], keep_from=keep)
    assert [p["lo"] for _, p in steps[::2]] == [new, keep, keep]  # 1m, 1h, 1d
    assert history.plan([old], keep_from=keep) == []


def test_a_skewed_clock_cannot_pin_or_hide_the_latest_value(pg_database: str) -> None:
    migrate(ci(pg_database))
    t = T0.timestamp()
    mac = MACS[0]
    query = "SELECT value, time FROM latest_readings WHERE mac = %s AND metric = 'temperature_c'"
    ingest(pg_database, [advert("s1", 1, mac, t, 21.0, t + 0.1)])
    # a scanner whose clock is a year ahead: stored, but its time is not trusted
    ingest(pg_database, [advert("s2", 1, mac, t + 365 * 86400, 99.0, t + 1)])
    ingest(pg_database, [advert("s1", 2, mac, t + 2, 22.0, t + 2.1)])
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(query, (mac,)).fetchone()
    assert row is not None and row[0] == 22.0
    # a scanner whose clock is a year behind, heard last: its value is the newest
    ingest(pg_database, [advert("s2", 2, mac, t - 365 * 86400, 7.5, t + 3)])
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(query, (mac,)).fetchone()
    assert row == (7.5, datetime.fromtimestamp(t + 3, UTC))


def test_reprocess_rebuilds_what_it_replaces(pg_database: str) -> None:
    migrate(ci(pg_database))
    ingest(pg_database, stream(150))
    _roll_up(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:  # history gone out of line
        conn.execute("UPDATE readings_1m SET n = n + 5, max = 1000")
        conn.execute("UPDATE readings_1h SET last = -1")
        conn.execute("DELETE FROM readings_1d")
        conn.execute(
            "UPDATE devices SET last_readings = jsonb_set(last_readings, '{temperature_c}', '0')"
        )
    cfg = load_config(None, env={})
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=3)
    counts = reprocess(cfg, ci(pg_database), since, until, out=io.StringIO())
    assert counts["touched"] == 300
    _assert_consistent(pg_database)
    reprocess(cfg, ci(pg_database), since, until, out=io.StringIO())  # idempotent
    _assert_consistent(pg_database)


def test_reprocess_of_compacted_days_rebuilds_their_rollups_from_the_blocks(
    pg_database: str,
) -> None:
    """Days compacted into the archive's blocks have no hot rows: the job reads their blocks
    (and only the days it recomputes)."""
    migrate(ci(pg_database))
    ingest(pg_database, stream(150))
    _roll_up(pg_database)
    assert compact(ci(pg_database), T0 + timedelta(days=10), 2)["adverts"] == 300
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM sensor_readings_hot").fetchone() == (0,)
        conn.execute("UPDATE readings_1m SET n = n + 5, max = 1000")
        conn.execute("DELETE FROM readings_1d")
    cfg = load_config(None, env={})
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=3)
    counts = reprocess(cfg, ci(pg_database), since, until, out=io.StringIO())
    assert counts["touched"] == 300
    _assert_consistent(pg_database, latest=False)


def test_retention_expires_rollups_by_their_own_days(pg_database: str, tmp_path: Path) -> None:
    migrate(ci(pg_database))
    ingest(pg_database, stream(100, step_s=1800))  # Mar 1 22:50 .. Mar 3 23:50
    _roll_up(pg_database)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("retention:\n  raw_days: 400\n  rollup_1m_days: 1\n  rollup_1h_days: 2\n")
    cfg = load_config(cfg_file, env={})
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)  # cut-offs: 1m before Mar 2, 1h before Mar 1
    cut = datetime(2026, 3, 2, tzinfo=UTC)

    def counts() -> tuple[Any, ...]:
        with psycopg.connect(pg_database) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM readings_1m), "
                "(SELECT count(*) FROM readings_1m WHERE bucket < %s), "
                "(SELECT count(*) FROM readings_1h), (SELECT count(*) FROM readings_1d)",
                (cut,),
            ).fetchone()
        assert row is not None
        return tuple(row)

    before = counts()
    assert before[1] > 0 and before[0] > before[1]
    run_retention(cfg, ci(pg_database), now, dry_run=True)
    assert counts() == before
    run_retention(cfg, ci(pg_database), now)
    assert counts() == (before[0] - before[1], 0, before[2], before[3])


def test_migration_fills_history_from_readings_stored_before_it(
    pg_database: str, tmp_path: Path
) -> None:
    older = tmp_path / "migs"
    older.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "0006":
            (older / path.name).write_text(path.read_text())
    migrate(ci(pg_database), older)
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT to_regclass('readings_1m')").fetchone() == (None,)
    # today's ingest statement needs the new tables, so fill the old schema by hand
    _fill_old_schema(pg_database, stream(120))
    assert migrate(ci(pg_database))[0] == "0006_history.sql"
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM readings_1m").fetchone() == (0,)
    # the migration's work is done by the job: here at once, by `bt-mqtt-subscriber rollup`
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {pg_database}\nretention:\n  raw_days: 3650\n")
    argv = [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "rollup"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "marks recomputed" in res.stderr
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT sum(n) FROM readings_1d").fetchone() == (240 * 3,)
    _assert_consistent(pg_database, latest=False)


def test_rollup_leaves_minutes_before_the_retention_alone(pg_database: str, tmp_path: Path) -> None:
    migrate(ci(pg_database))
    ingest(pg_database, stream(30))  # March 2026: before the default 90 days of readings
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {pg_database}\n")
    argv = [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "rollup"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM readings_1m").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM rollup_marks").fetchone() == (0,)


def _fill_old_schema(url: str, messages: Sequence[Message]) -> None:
    registry = Registry.default()
    from bt_mqtt.core.wire import decode  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE raw_advertisements_p PARTITION OF raw_advertisements "
            "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
        )
        conn.execute(
            "CREATE TABLE sensor_readings_p PARTITION OF sensor_readings "
            "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
        )
        for topic, payload, received in messages:
            wm = decode(payload, topic.rsplit("/", 1)[1], 16384)
            res = registry.parse(wm.advert, ParseContext())
            assert res is not None
            row = conn.execute(
                "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, "
                "rssi, parser, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) "
                "RETURNING id",
                (
                    wm.time,
                    datetime.fromtimestamp(received, UTC),
                    wm.scanner_id,
                    wm.boot,
                    wm.seq,
                    wm.advert.mac,
                    wm.advert.rssi,
                    res.parser,
                    payload.decode(),
                ),
            ).fetchone()
            assert row is not None
            for metric, value in res.readings.items():
                conn.execute(
                    "INSERT INTO sensor_readings (time, mac, scanner_id, parser, metric, value, "
                    "advert_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (wm.time, wm.advert.mac, wm.scanner_id, res.parser, metric, value, row[0]),
                )


@pytest.mark.parametrize("level", ["1m", "1h", "1d"])
def test_chart_reads_the_rollup_of_its_level(pg_database: str, level: str) -> None:
    migrate(ci(pg_database))
    ingest(pg_database, stream(100))
    _roll_up(pg_database)
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            history.chart(level),
            {
                "mac": MACS[0],
                "metric": "temperature_c",
                "since": T0 - timedelta(days=1),
                "until": T0 + timedelta(days=1),
            },
        ).fetchall()
        unit = {"1m": "minute", "1h": "hour", "1d": "day"}[level]
        want = conn.execute(
            "SELECT date_trunc(%s, time, 'UTC'), min(value), max(value), avg(value), count(*) "
            "FROM sensor_readings WHERE mac = %s AND metric = 'temperature_c' "
            "GROUP BY 1 ORDER BY 1",
            (unit, MACS[0]),
        ).fetchall()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [(w[0], w[1], w[2], w[4]) for w in want]
    assert all(abs(r[3] - w[3]) < 1e-9 for r, w in zip(rows, want, strict=True))
