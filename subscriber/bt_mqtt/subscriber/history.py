"""Reading history without scanning it: latest values and rollups (schema 0006).

Latest values are the view ``latest_readings`` over ``devices.last_readings`` (kept by ingest;
``LATEST`` reads it).  Rollups ``readings_1m``/``_1h``/``_1d`` are kept by the rollup job, not
by ingest: ingest only marks the minutes it added readings to (``rollup_marks``, one row per
batch, ``sql.INGEST``), and the job (``roll_up`` here, ``Store.roll_up`` in the
subscriber) claims those minutes and recomputes them from the readings (the hot rows and the
compact archive's blocks of those days), then their hours from ``readings_1m`` and their days
from ``readings_1h``.  Recomputing a bucket replaces it
with one GROUP BY of what is stored, so late, redelivered and reprocessed readings all end up
counted exactly once.  ``plan`` (pure) turns claimed minutes into the statements to run.
"""

# ruff: noqa: S608  (statements are assembled from this module's constants only, never input)
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Final

import psycopg

log = logging.getLogger(__name__)

LEVELS: Final = {"1m": "readings_1m", "1h": "readings_1h", "1d": "readings_1d"}
MINUTE: Final = timedelta(minutes=1)
HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)  # date_bin's origin; any UTC midnight would do
GAP: Final = timedelta(minutes=10)  # dirty minutes closer than this are recomputed as one range
# At most this many ranges per level (each is two statements planned over every partition):
# closer ranges are joined first, but never across more than MAX_GAP of clean buckets.
MAX_RANGES: Final = 16
MAX_GAP: Final = timedelta(days=1)
CLAIM_LIMIT: Final = 100_000  # mark rows claimed per transaction by roll_up
RUN_LIMIT: Final = (
    240  # mark rows claimed per run by the subscriber (it shares ingest's connection)
)

# The latest value of every metric of the given devices: (mac, metric, time, value).
LATEST: Final = (
    "SELECT mac, metric, time, value FROM latest_readings WHERE mac = ANY(%(macs)s) "
    "ORDER BY mac, metric"
)

# One job at a time (several subscribers, reprocess): a transaction-level advisory lock.
LOCK: Final = "SELECT pg_advisory_xact_lock(7415021015)"
# Claim the oldest marks (each a batch's distinct minutes); a batch still in flight is not seen
# and keeps its mark for the next run.
CLAIM: Final = (
    "DELETE FROM rollup_marks WHERE id IN (SELECT id FROM rollup_marks ORDER BY id "
    "LIMIT %(limit)s) RETURNING minutes"
)
# What reprocess marks: the minutes of the readings it replaced (one row).
MARK: Final = (
    "INSERT INTO rollup_marks (minutes) SELECT array_agg(DISTINCT date_bin('1 minute', t, "
    "timestamptz '2000-01-01 00:00:00+00')) FROM unnest(%s::timestamptz[]) AS u(t)"
)


def claimed(rows: Iterable[tuple[Any, ...]]) -> list[datetime]:
    """The minutes of claimed mark rows."""
    return [m for (minutes,) in rows for m in minutes]


_COLUMNS: Final = "mac, metric, bucket, n, sum, min, max, last, last_time"


def _bucket(unit: str, at: str) -> str:
    """The UTC bucket of ``at`` (``date_trunc(unit, at, 'UTC')`` as arithmetic)."""
    return f"date_bin('1 {unit}', {at}, timestamptz '2000-01-01 00:00:00+00')"


def _newest(value: str, at: str) -> str:
    """Aggregate: ``value`` at the newest ``at`` of the group (ties: the larger value), without
    the per-group sort of ``array_agg(... ORDER BY ...)`` (epoch seconds as float8 are exact to
    the microsecond for centuries)."""
    return f"(max(ARRAY[date_part('epoch', {at}), {value}]))[2]"


def readings_in_range(*, one_device: bool = False) -> str:
    """SELECT (time, mac, metric, value) of the readings with ``time`` in [%(lo)s, %(hi)s)
    (and ``mac`` = %(mac)s with ``one_device``): the hot rows, and the compact archive's blocks
    of the UTC days in that range only (the ``sensor_readings`` view cannot tell which blocks a
    time range needs, and would unpack them all)."""
    hot = "AND mac = %(mac)s " if one_device else ""
    block = "AND b.mac = %(mac)s " if one_device else ""
    return (
        "SELECT time, mac, metric, value FROM sensor_readings_hot "
        f"WHERE time >= %(lo)s AND time < %(hi)s {hot}"
        "UNION ALL "
        "SELECT r.time, r.mac, r.metric, r.value FROM ("
        "SELECT (b.day::timestamp AT TIME ZONE 'UTC') + u.t_us * interval '1 microsecond' AS time, "
        "b.mac, b.metric, u.value FROM reading_blocks b "
        "CROSS JOIN LATERAL bt_mqtt_reading_block_rows(b.t_delta_us, b.value, b.advert_id_delta) u "
        "WHERE b.day >= (%(lo)s AT TIME ZONE 'UTC')::date "
        f"AND b.day <= (%(hi)s AT TIME ZONE 'UTC')::date {block}"
        ") r WHERE r.time >= %(lo)s AND r.time < %(hi)s"
    )


# Each level: (table, SELECT of its rows for buckets in [%(lo)s, %(hi)s) from the finer level).
_FROM_READINGS: Final = (
    f"SELECT mac, metric, {_bucket('minute', 'time')}, count(*)::int, sum(value), min(value), "
    f"max(value), {_newest('value', 'time')}, max(time) FROM ({readings_in_range()}) readings "
    "GROUP BY 1, 2, 3"
)


def _from_rollup(unit: str, finer: str) -> str:
    return (
        f"SELECT mac, metric, {_bucket(unit, 'bucket')}, sum(n)::int, sum(sum), min(min), "
        f"max(max), {_newest('last', 'last_time')}, max(last_time) FROM {finer} "
        "WHERE bucket >= %(lo)s AND bucket < %(hi)s GROUP BY 1, 2, 3"
    )


_STEPS: Final = (
    ("readings_1m", MINUTE, _FROM_READINGS),
    ("readings_1h", HOUR, _from_rollup("hour", "readings_1m")),
    ("readings_1d", DAY, _from_rollup("day", "readings_1h")),
)


def chart(level: str) -> str:
    """One metric of one device over [since, until) at ``level`` (1m, 1h, 1d): rows of
    (bucket, min, max, mean, n, last); parameters mac, metric, since, until."""
    table = LEVELS[level]
    return (
        f"SELECT bucket, min, max, sum / n AS mean, n, last FROM {table} "
        "WHERE mac = %(mac)s AND metric = %(metric)s "
        "AND bucket >= %(since)s AND bucket < %(until)s ORDER BY bucket"
    )


def floor(t: datetime, unit: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``unit`` since ``EPOCH`` (UTC buckets)."""
    return EPOCH + ((t - EPOCH) // unit) * unit


def ranges(
    starts: Iterable[datetime], unit: timedelta, gap: timedelta = GAP
) -> list[tuple[datetime, datetime]]:
    """Buckets of length ``unit`` starting at ``starts`` (any order, repeats allowed) as sorted
    [lo, hi) ranges; buckets less than ``gap`` apart share a range (recomputing a clean bucket
    in between is harmless)."""
    out: list[tuple[datetime, datetime]] = []
    for s in sorted(set(starts)):
        if out and s - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], s + unit))
        else:
            out.append((s, s + unit))
    return out


def few_ranges(
    starts: Iterable[datetime], unit: timedelta, gap: timedelta = GAP
) -> list[tuple[datetime, datetime]]:
    """``ranges``, with the smallest gaps closed until at most ``MAX_RANGES`` remain (gaps up
    to ``MAX_GAP``; a few very late buckets may still leave more)."""
    starts = set(starts)
    out = ranges(starts, unit, gap)
    if len(out) <= MAX_RANGES:
        return out
    gaps = sorted(b[0] - a[1] for a, b in pairwise(out))
    closing = min(gaps[len(out) - MAX_RANGES - 1], MAX_GAP)
    return ranges(starts, unit, max(gap, closing + timedelta(microseconds=1)))


def plan(
    minutes: Sequence[datetime], keep_from: datetime | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The statements that bring every rollup up to date for claimed ``minutes``: per
    level, finest first, delete the buckets of each range and insert them again from the finer
    level.  Minutes before ``keep_from`` (readings already dropped by retention) are left as
    they are: recomputing them would replace full rollups with the few late readings."""
    todo = [m for m in minutes if keep_from is None or m >= keep_from]
    out: list[tuple[str, dict[str, Any]]] = []
    for table, unit, select in _STEPS:
        starts = {floor(m, unit) for m in todo}
        for lo, hi in few_ranges(starts, unit, max(GAP, unit)):
            params = {"lo": lo, "hi": hi}
            out.append((f"DELETE FROM {table} WHERE bucket >= %(lo)s AND bucket < %(hi)s", params))
            out.append((f"INSERT INTO {table} ({_COLUMNS}) {select} ORDER BY 1, 2, 3", params))
    return out


def roll_up(
    conn: psycopg.Connection[Any],
    keep_from: datetime | None = None,
    limit: int = CLAIM_LIMIT,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run the rollup job until no mark is left, one transaction per claim of at most ``limit``
    mark rows; returns the rows claimed (``progress`` gets the count so far)."""
    done = 0
    while True:
        with conn.transaction():
            conn.execute(LOCK)
            rows = conn.execute(CLAIM, {"limit": limit}).fetchall()
            for statement, params in plan(claimed(rows), keep_from):
                conn.execute(statement, params)
        done += len(rows)
        if progress is not None:
            progress(done)
        if len(rows) < limit:
            return done


def mark(conn: psycopg.Connection[Any], times: Sequence[datetime]) -> None:
    """Mark the minutes of ``times`` for the rollup job (in the caller's transaction)."""
    if times:
        conn.execute(MARK, (list(times),))


def expire_rollups(
    conn: psycopg.Connection[Any], cutoffs: dict[str, datetime | None], *, dry_run: bool
) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) rollup rows older than each table's cut-off (None:
    kept forever); rows by table."""
    out: dict[str, int] = {}
    for table, cutoff in cutoffs.items():
        if cutoff is None:
            out[table] = 0
            continue
        verb = "SELECT count(*) FROM" if dry_run else "WITH d AS (DELETE FROM"
        tail = "" if dry_run else " RETURNING 1) SELECT count(*) FROM d"
        row = conn.execute(f"{verb} {table} WHERE bucket < %s{tail}", (cutoff,)).fetchone()
        out[table] = int(row[0]) if row else 0
    return out
