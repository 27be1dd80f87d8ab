"""The compact archive in a real PostgreSQL: a database filled by the schema before migration
0007 is migrated and compacted without losing an advert; readings stay queryable; reprocess
reads the blocks."""

from __future__ import annotations

import asyncio
import io
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber import partitions
from bt_mqtt.subscriber.archive import decode_block
from bt_mqtt.subscriber.batch import plan_chunk
from bt_mqtt.subscriber.compact import (
    ARCHIVE_MIGRATION,
    closed_days,
    compact,
    read_blocks,
    run_periodically,
)
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.migrate import migrate
from bt_mqtt.subscriber.reprocess import reprocess
from bt_mqtt.subscriber.store import Store
from tests.subscriber.archivedata import day_of_adverts

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
RAW_COLS = (
    "id, time, received_at, scanner_id, boot, seq, mac, rssi, parser, clock_skew, agent_time, "
    "parse_status, payload"
)


def _ci(url: str) -> dict[str, object]:
    return {"conninfo": url}


def _old_schema(tmp_path: Path) -> Path:
    """Every migration but the archive's (today's schema)."""
    folder = tmp_path / "old"
    folder.mkdir()
    for f in sorted(MIGRATIONS.glob("*.sql")):
        if f.name != ARCHIVE_MIGRATION:
            shutil.copy(f, folder / f.name)
    return folder


def _fill(conn: psycopg.Connection[Any]) -> int:
    """Adverts of three days and two readings per parsed advert, as ingest stores them."""
    n = 0
    for i, day in enumerate(DAYS):
        partitions.ensure(conn, "raw_advertisements", [day])
        conn.execute(
            "SELECT bt_mqtt_ensure_partition(%s, %s, %s)", ("sensor_readings", "time", day)
        )
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows = list(day_of_adverts(start, seconds=30.0, odd_every=7, seed=i))
        with conn.cursor().copy(f"COPY raw_advertisements ({RAW_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.id + 10**6 * i, *r[1:13]))
        with conn.cursor().copy(
            "COPY sensor_readings (time, mac, scanner_id, parser, metric, value, advert_id) "
            "FROM STDIN"
        ) as copy:
            for r in rows:
                if r.parser is not None:
                    copy.write_row((r.time, r.mac, r.scanner_id, r.parser, "count", r.seq, r.id))
                    copy.write_row(
                        (r.time, r.mac, r.scanner_id, r.parser, "temperature_c", 0.1 * r.id, r.id)
                    )
        n += len(rows)
    conn.execute(
        "INSERT INTO seq_ledger (scanner_id, boot, seqs) SELECT scanner_id, boot, "
        "range_agg(int8range(seq, seq, '[]')) FROM raw_advertisements GROUP BY 1, 2"
    )
    return n


def _restored(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"CREATE TEMP TABLE restored AS SELECT {RAW_COLS} FROM orig_raw WHERE false")
    blocks = conn.execute("SELECT data FROM raw_blocks").fetchall()
    with conn.cursor().copy(f"COPY restored ({RAW_COLS}) FROM STDIN") as copy:
        for (data,) in blocks:
            for a in decode_block(bytes(data)):
                copy.write_row(a[:13])


def _diff(conn: psycopg.Connection[Any], a: str, b: str) -> tuple[int, int]:
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM (TABLE {a} EXCEPT ALL TABLE {b}) x), "
        f"(SELECT count(*) FROM (TABLE {b} EXCEPT ALL TABLE {a}) y)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_an_old_database_migrates_and_compacts_without_losing_an_advert(
    pg_database: str, tmp_path: Path
) -> None:
    migrate(_ci(pg_database), _old_schema(tmp_path))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        total = _fill(conn)
        conn.execute(f"CREATE TABLE orig_raw AS SELECT {RAW_COLS} FROM raw_advertisements")
        conn.execute("CREATE TABLE orig_readings AS SELECT * FROM sensor_readings")
        conn.execute("CREATE TABLE orig_ledger AS SELECT scanner_id, boot, seqs FROM seq_ledger")
    assert total > 3000
    assert migrate(_ci(pg_database)) == [ARCHIVE_MIGRATION]  # applied after later ones too
    out = io.StringIO()
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)  # 3 Nov is closed with two hot days
    counts = compact(_ci(pg_database), now, 2, out=out)
    assert counts["days"] == 3 and counts["adverts"] == total
    assert "compact: 2026-11-03" in out.getvalue() and "(3/3 days" in out.getvalue()
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM raw_advertisements").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sensor_readings_hot").fetchone() == (0,)
        _restored(conn)
        # every column of every advert, the payload compared as jsonb
        assert _diff(conn, "orig_raw", "restored") == (0, 0)
        # sensor_readings (now a view over the rows and the blocks) holds the same rows
        conn.execute("CREATE TEMP TABLE now_readings AS SELECT * FROM sensor_readings")
        assert _diff(conn, "orig_readings", "now_readings") == (0, 0)
        conn.execute(
            "CREATE TEMP TABLE now_ledger AS SELECT scanner_id, boot, seqs FROM seq_ledger"
        )
        assert _diff(conn, "orig_ledger", "now_ledger") == (0, 0)
        blocks = conn.execute("SELECT count(*), sum(adverts) FROM raw_blocks").fetchone()
        assert blocks is not None and blocks[1] == total
        # one day's adverts read back through the codec, in time order
        since, until = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
        day2 = conn.execute(
            "SELECT count(*) FROM orig_raw WHERE time >= %s AND time < %s", (since, until)
        ).fetchone()
        read = list(read_blocks(conn, since, until))
        assert (len(read),) == day2
    # nothing left to do; a late advert of a compacted day makes another part
    assert compact(_ci(pg_database), now, 2)["days"] == 0
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO raw_advertisements ({RAW_COLS}) SELECT {RAW_COLS} FROM orig_raw "
            "WHERE time::date = '2026-11-02' ORDER BY id LIMIT 1"
        )
        conn.execute(
            "UPDATE raw_advertisements SET id = -1, seq = seq + 1000000, "
            "payload = jsonb_set(payload, '{seq}', to_jsonb(seq + 1000000))"
        )
    assert compact(_ci(pg_database), now, 2) == {"days": 1, "adverts": 1, "readings": 0}
    with psycopg.connect(pg_database) as conn:
        parts = conn.execute(
            "SELECT part, count(*) FROM raw_blocks WHERE day = '2026-11-02' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [p for p, _ in parts] == [0, 1] and parts[1][1] == 1


def test_reprocess_reads_the_blocks_idempotently(pg_database: str) -> None:
    migrate(_ci(pg_database))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for day in DAYS:
            partitions.ensure(conn, "raw_advertisements", [day])
            partitions.ensure(conn, "sensor_readings_hot", [day])
        rows = list(
            day_of_adverts(datetime(2026, 11, 2, tzinfo=UTC), seconds=20.0, odd_every=10**9)
        )
        with conn.cursor().copy(f"COPY raw_advertisements ({RAW_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((*r[:8], None, *r[9:11], None, r.payload))
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen) SELECT DISTINCT mac, now(), now() "
            "FROM raw_advertisements"
        )
    compact(_ci(pg_database), datetime(2026, 11, 5, tzinfo=UTC), 2)
    cfg = load_config(None, env={})
    since, until = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    counts = reprocess(cfg, _ci(pg_database), since, until, out=io.StringIO())
    assert counts["adverts"] == len(rows) and counts["touched"] == len(rows)
    with psycopg.connect(pg_database) as conn:
        first = conn.execute(
            "SELECT time, mac, scanner_id, parser, metric, value, advert_id FROM sensor_readings "
            "ORDER BY advert_id, metric"
        ).fetchall()
        parsed = {
            a.parser
            for (data,) in conn.execute("SELECT data FROM raw_blocks")
            for a in decode_block(bytes(data))
        }
    assert len(first) > len(rows) // 2
    assert {"bthome", "ruuvi"} <= parsed
    # the readings' times are the adverts' times, exactly
    times = {r.id: r.time for r in rows}
    assert all(t == times[a] for t, *_, a in first)
    reprocess(cfg, _ci(pg_database), since, until, out=io.StringIO())
    # one device again, only one parser's adverts
    mac = first[0][1]
    reprocess(cfg, _ci(pg_database), since, until, mac=mac, parser=first[0][3], out=io.StringIO())
    with psycopg.connect(pg_database) as conn:
        again = conn.execute(
            "SELECT time, mac, scanner_id, parser, metric, value, advert_id FROM sensor_readings "
            "ORDER BY advert_id, metric"
        ).fetchall()
        dev = conn.execute("SELECT parser FROM devices WHERE mac = %s", (mac,)).fetchone()
    assert again == first
    assert dev == (first[0][3],)


def test_closed_days() -> None:
    names = ["raw_advertisements_20261101", "raw_advertisements_20261103", "other_20261101"]
    names += ["raw_advertisements_default", "raw_advertisements_20261104"]
    assert closed_days(names, date(2026, 11, 5), 2) == [date(2026, 11, 1), date(2026, 11, 3)]
    assert closed_days(names, date(2026, 11, 5), 1) == [
        date(2026, 11, 1),
        date(2026, 11, 3),
        date(2026, 11, 4),
    ]


def test_the_subscribers_job_compacts_closed_days_periodically(pg_database: str) -> None:
    migrate(_ci(pg_database))
    old = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        partitions.ensure(conn, "raw_advertisements", [old.date()])
        partitions.ensure(conn, "sensor_readings_hot", [old.date()])
        rows = list(day_of_adverts(old.replace(hour=0, minute=0, second=0), seconds=2.0))
        with conn.cursor().copy(f"COPY raw_advertisements ({RAW_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r[:13])

    async def go() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(run_periodically(_ci(pg_database), 2, stop, every_s=0.05))
        for _ in range(200):
            await asyncio.sleep(0.05)
            with psycopg.connect(pg_database) as conn:
                if conn.execute("SELECT count(*) FROM raw_blocks").fetchone() != (0,):
                    break
        stop.set()
        await asyncio.wait_for(job, 5)

    asyncio.run(go())
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT sum(adverts) FROM raw_blocks").fetchone() == (len(rows),)
        assert conn.execute("SELECT count(*) FROM raw_advertisements").fetchone() == (0,)


def test_redelivery_of_a_compacted_day_is_still_recognised(pg_database: str) -> None:
    migrate(_ci(pg_database))
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0)
    rows = list(day_of_adverts(day, seconds=2.0, odd_every=10**9))
    topics = [f"bt-mqtt/raw/{r.scanner_id}" for r in rows]
    payloads = [r.payload.encode() for r in rows]
    received = [r.received_at.timestamp() for r in rows]

    async def ingest(n: int) -> int:
        store = Store(_ci(pg_database), keep_days=30, future_days=1)
        await store.connect()
        try:
            plan = plan_chunk(
                topics[:n],
                payloads[:n],
                received[:n],
                Topics("bt-mqtt"),
                Registry.default(plugins=True, theengs=False),
                ParseContext(),
                max_bytes=16384,
                skew_s=300.0,
            )
            return (await store.write(plan, datetime.now(UTC))).archived
        finally:
            await store.close()

    first = len(rows) - 1
    assert asyncio.run(ingest(first)) == first
    assert compact(_ci(pg_database), datetime.now(UTC), 2)["adverts"] == first
    # the same messages again: nothing new, although their rows are gone into blocks
    assert asyncio.run(ingest(first)) == 0
    # with one new advert of that day: only it is stored, as a row, and compacts into part 1
    assert asyncio.run(ingest(len(rows))) == 1
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM raw_advertisements").fetchone() == (1,)
    assert compact(_ci(pg_database), datetime.now(UTC), 2)["adverts"] == 1
    with psycopg.connect(pg_database) as conn:
        got = conn.execute("SELECT sum(adverts), max(part) FROM raw_blocks").fetchone()
    assert got == (len(rows), 1)
