"""Daily partitions: which to create ahead, which a batch needs, which retention drops.

Partitions are named ``<table>_YYYYMMDD`` and hold one UTC day.  Rows whose day is outside the
window ``[today - keep_days, today + future_days]`` go to ``<table>_default`` (a clock far off);
``bt_mqtt_ensure_partition`` moves them into a real partition if their day is ever created.
The arithmetic is pure; the functions taking a connection do the SQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# table -> partition key column
PARTITIONED: Final = {
    "raw_advertisements": "time",
    "sensor_readings_hot": "time",
    "rejected_messages": "received_at",
}
PART_RE: Final = re.compile(r"(?P<table>[a-z_]+)_(?P<day>\d{8})")


def day_of(when: datetime) -> date:
    """The UTC day of an aware datetime."""
    return when.astimezone(UTC).date()


def window(today: date, keep_days: int, future_days: int) -> tuple[date, date]:
    """The first and last day that get their own partition."""
    return today - timedelta(days=keep_days), today + timedelta(days=future_days)


def days_ahead(today: date, future_days: int) -> list[date]:
    """Days to create in advance: yesterday (late arrivals) through ``future_days`` ahead."""
    return [today + timedelta(days=n) for n in range(-1, future_days + 1)]


def needed(days: Iterable[date], lo: date, hi: date, known: set[date]) -> list[date]:
    """The days of ``days`` inside ``[lo, hi]`` that have no partition yet, sorted."""
    return sorted({d for d in days if lo <= d <= hi and d not in known})


def partition_day(name: str, table: str) -> date | None:
    """The day of a partition name of ``table`` (None for the default or foreign names)."""
    m = PART_RE.fullmatch(name)
    if m is None or m.group("table") != table:
        return None
    return datetime.strptime(m.group("day"), "%Y%m%d").replace(tzinfo=UTC).date()


def droppable(names: Iterable[str], table: str, cutoff: date) -> list[str]:
    """Partitions of ``table`` whose whole day is before ``cutoff``."""
    out = []
    for name in names:
        day = partition_day(name, table)
        if day is not None and day < cutoff:
            out.append(name)
    return sorted(out)


def existing(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """Names of the partitions attached to ``table``."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def existing_days(conn: psycopg.Connection[Any], table: str) -> set[date]:
    return {d for n in existing(conn, table) if (d := partition_day(n, table)) is not None}


def ensure(conn: psycopg.Connection[Any], table: str, days: Iterable[date]) -> list[date]:
    """Create the daily partitions of ``table`` for ``days``; return the days created.

    Each call runs in its own transaction (``conn`` must be in autocommit mode).
    """
    created = []
    for day in sorted(set(days)):
        row = conn.execute(
            "SELECT bt_mqtt_ensure_partition(%s, %s, %s)", (table, PARTITIONED[table], day)
        ).fetchone()
        if row is not None and row[0]:
            created.append(day)
            log.info(
                "created partition %s_%s",
                table,
                day.strftime("%Y%m%d"),
                extra={"event": "partition_created", "table": table, "day": day.isoformat()},
            )
    return created


def ensure_ahead(conn: psycopg.Connection[Any], today: date, future_days: int) -> None:
    """Create every table's partitions from yesterday to ``future_days`` ahead."""
    for table in PARTITIONED:
        have = existing_days(conn, table)
        ensure(conn, table, [d for d in days_ahead(today, future_days) if d not in have])


def default_rows(conn: psycopg.Connection[Any], table: str, cutoff: date) -> tuple[int, int]:
    """(rows in ``table``'s default partition, how many of them are before ``cutoff``)."""
    limit = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    row = conn.execute(
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE {} < %s) FROM {}").format(
            sql.Identifier(PARTITIONED[table]), sql.Identifier(f"{table}_default")
        ),
        (limit,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def drop_before(conn: psycopg.Connection[Any], table: str, cutoff: date) -> list[str]:
    """Drop whole partitions of ``table`` older than ``cutoff`` and clear the default
    partition's rows before ``cutoff`` (only far-off clocks put rows there).  Returns names."""
    dropped = droppable(existing(conn, table), table, cutoff)
    for name in dropped:
        with conn.transaction():
            conn.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        log.info(
            "dropped partition %s",
            name,
            extra={"event": "partition_dropped", "table": table, "partition": name},
        )
    limit = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} < %s").format(
            sql.Identifier(f"{table}_default"), sql.Identifier(PARTITIONED[table])
        ),
        (limit,),
    )
    return dropped
