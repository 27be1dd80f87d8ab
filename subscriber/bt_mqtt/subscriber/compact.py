"""``compact``: rewrite closed days of rows into the compact archive's blocks.

A day is closed when it is older than ``retention.hot_days`` (today and yesterday stay rows by
default, so ingest and late arrivals never meet a block).  For each closed day that still has
rows, in one transaction: the day's partitions are locked against writers, its adverts are
written to ``raw_blocks`` (one block per MAC, ``archive.encode_block``) and its readings to
``reading_blocks`` (arrays per MAC, metric, scanner and parser), then both partitions are
emptied (TRUNCATE).  A later compaction of the same day (late arrivals) adds blocks with the
next ``part``.  Progress (days, adverts, rate) is logged and, for the command, written to stderr.
The subscriber runs it hourly (``run_periodically``); ``migrate`` after migration 0007 and
``retention`` before dropping anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TextIO

import psycopg
from psycopg import sql

from bt_mqtt.subscriber import partitions
from bt_mqtt.subscriber.archive import KNOWN_FIELDS, ArchivedAdvert, decode_block, encode_block

log = logging.getLogger(__name__)

ARCHIVE_MIGRATION: Final = "0007_archive.sql"
RAW: Final = "raw_advertisements"
READINGS: Final = "sensor_readings_hot"
_KNOWN: Final = "{" + ",".join(KNOWN_FIELDS) + "}"

_ROWS: Final = (
    "SELECT id, time, received_at, scanner_id, boot, seq, mac, rssi, parser, clock_skew, "
    "agent_time, parse_status, payload::text, "
    "CASE WHEN payload - %s::text[] = '{{}}'::jsonb THEN NULL "
    "ELSE (payload - %s::text[])::text END "
    "FROM {} ORDER BY mac, id"
)
# the arrays in (time, advert id) order, times and ids as differences (migration 0007)
_READINGS: Final = """
INSERT INTO reading_blocks (mac, metric, day, scanner_id, parser, part, t_delta_us, value,
    advert_id_delta)
SELECT mac, metric, %(day)s, scanner_id, parser, %(part)s,
    array_agg(t - coalesce(prev_t, 0) ORDER BY t, advert_id),
    array_agg(value ORDER BY t, advert_id),
    array_agg(advert_id - coalesce(prev_id, 0) ORDER BY t, advert_id)
FROM (
    SELECT mac, metric, scanner_id, parser, value, advert_id, t,
        lag(t) OVER w AS prev_t, lag(advert_id) OVER w AS prev_id
    FROM (SELECT *, (extract(epoch FROM time - %(start)s) * 1000000)::bigint AS t FROM {}) r
    WINDOW w AS (PARTITION BY mac, metric, scanner_id, parser ORDER BY t, advert_id)
) x
GROUP BY mac, metric, scanner_id, parser
"""


def closed_days(names: list[str], today: date, hot_days: int) -> list[date]:
    """The days of ``raw_advertisements`` partitions older than the hot window, oldest first."""
    last = today - timedelta(days=hot_days)
    days = {d for n in names if (d := partitions.partition_day(n, RAW)) is not None}
    return sorted(d for d in days if d <= last)


def _part(name: str, day: date) -> str:
    return f"{name}_{day.strftime('%Y%m%d')}"


def compact_day(conn: psycopg.Connection[Any], day: date) -> tuple[int, int]:
    """Rewrite one day's rows into blocks; returns (adverts, readings) moved.  ``conn`` is in
    autocommit mode; the day is one transaction."""
    raw, readings = _part(RAW, day), _part(READINGS, day)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with conn.transaction():
        found = conn.execute("SELECT to_regclass(%s)", (readings,)).fetchone()
        tables = [raw, readings] if found and found[0] is not None else [raw]
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names))
        row = conn.execute(
            "SELECT coalesce(max(part) + 1, 0) FROM raw_blocks WHERE day = %s", (day,)
        ).fetchone()
        part = int(row[0]) if row else 0
        # encoded while the server-side cursor reads (a block is ~15 bytes an advert), then
        # written in one COPY: one MAC's rows in memory at a time
        cur = conn.cursor(name=f"compact_{day:%Y%m%d}")
        cur.execute(sql.SQL(_ROWS).format(sql.Identifier(raw)), (_KNOWN, _KNOWN))
        blocks = [
            (
                mac,
                day,
                part,
                min(r.time for r in rows),
                max(r.time for r in rows),
                len(rows),
                encode_block(rows),
            )
            for mac, rows in _by_mac(cur)
        ]
        cur.close()
        adverts = sum(b[5] for b in blocks)
        with conn.cursor().copy(
            "COPY raw_blocks (mac, day, part, first_time, last_time, adverts, data) FROM STDIN"
        ) as copy:
            for block in blocks:
                copy.write_row(block)
        n_readings = 0
        if readings in tables:
            conn.execute(
                sql.SQL(_READINGS).format(sql.Identifier(readings)),
                {"day": day, "part": part, "start": start},
            )
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(readings))
            ).fetchone()
            n_readings = int(row[0]) if row else 0
        conn.execute(sql.SQL("TRUNCATE {}").format(names))
    return adverts, n_readings


def _by_mac(cur: psycopg.Cursor[Any]) -> Iterator[tuple[str, list[ArchivedAdvert]]]:
    mac: str | None = None
    rows: list[ArchivedAdvert] = []
    for rec in cur:
        adv = ArchivedAdvert(*rec)
        if adv.mac != mac and rows:
            yield rows[0].mac, rows
            rows = []
        mac = adv.mac
        rows.append(adv)
    if rows:
        yield rows[0].mac, rows


def compact(
    conninfo: dict[str, Any],
    now: datetime,
    hot_days: int,
    *,
    out: TextIO | None = None,
) -> dict[str, int]:
    """Compact every closed day that still has rows; returns counts (days, adverts, readings)."""
    counts = {"days": 0, "adverts": 0, "readings": 0}
    began = time.monotonic()
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        days = closed_days(partitions.existing(conn, RAW), partitions.day_of(now), hot_days)
        todo = [d for d in days if _has_rows(conn, _part(RAW, d))]
        for i, day in enumerate(todo, 1):
            adverts, readings = compact_day(conn, day)
            counts["days"] += 1
            counts["adverts"] += adverts
            counts["readings"] += readings
            rate = counts["adverts"] / max(time.monotonic() - began, 1e-9)
            log.info(
                "compacted %s: %d adverts, %d readings (day %d of %d, %.0f adverts/s)",
                day,
                adverts,
                readings,
                i,
                len(todo),
                rate,
                extra={"event": "compacted", "day": day.isoformat(), "adverts": adverts},
            )
            if out is not None:
                out.write(
                    f"compact: {day} {adverts} adverts, {readings} readings "
                    f"({i}/{len(todo)} days, {rate:,.0f} adverts/s)\n"
                )
                out.flush()
    return counts


async def run_periodically(
    conninfo: dict[str, Any], hot_days: int, stop: asyncio.Event, every_s: float = 3600.0
) -> None:
    """The subscriber's job: ``compact`` every ``every_s`` (the first an interval after start)
    until ``stop``, in a thread; a failure is logged and retried at the next turn."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(compact, conninfo, datetime.now(UTC), hot_days)
        except psycopg.Error as exc:
            log.warning("compaction failed: %s", exc, extra={"event": "compact_failed"})


def _has_rows(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
    ).fetchone()
    return bool(row and row[0])


def read_blocks(
    conn: psycopg.Connection[Any], since: datetime, until: datetime, mac: str | None = None
) -> Iterator[ArchivedAdvert]:
    """The archived adverts of blocks overlapping ``[since, until)`` (optionally one MAC),
    those inside the range only, in (time, id) order per block."""
    cur = conn.execute(
        "SELECT data FROM raw_blocks WHERE last_time >= %s AND first_time < %s "
        "AND (%s::text IS NULL OR mac = %s) ORDER BY day, mac, part",
        (since, until, mac, mac),
    )
    for (data,) in cur:
        rows = [r for r in decode_block(bytes(data)) if since <= r.time < until]
        rows.sort(key=lambda r: (r.time, r.id))
        yield from rows


def drop_blocks_before(
    conn: psycopg.Connection[Any], raw_cutoff: date, readings_cutoff: date, *, dry_run: bool
) -> dict[str, int]:
    """Delete (or, with ``dry_run``, count) the blocks of days before the cut-offs."""
    out = {}
    for table, cutoff in (("raw_blocks", raw_cutoff), ("reading_blocks", readings_cutoff)):
        verb = (
            "SELECT count(*) FROM {} WHERE day < %s" if dry_run else "DELETE FROM {} WHERE day < %s"
        )
        cur = conn.execute(sql.SQL(verb).format(sql.Identifier(table)), (cutoff,))
        row = cur.fetchone() if dry_run else None
        out[table] = int(row[0]) if row else cur.rowcount
    return out
