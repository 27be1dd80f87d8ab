"""The storage budget: bytes per table, per advert held and per day held.

``SIZES`` lists every table of the schema with its size (heap, TOAST and indexes) and the
planner's row estimate, partitions apart, and the adverts the compact archive holds per day
(``raw_blocks``, exact counts); ``compute`` (pure) sums partitions into their table and divides
by the adverts held (``raw_advertisements``' rows and the blocks' adverts) and by the days held
(daily partitions with rows, days with blocks).  ``per_day`` is therefore what one more day of
the current traffic costs each table while the raw retention is full; multiply by a table's
retention for its share of the disk.  Row counts are the statistics' estimates (ANALYZE,
autovacuum), not ``count(*)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import psycopg
from attrs import define

from bt_mqtt.subscriber import partitions

RAW: Final = "raw_advertisements"
BLOCKS: Final = "raw_blocks"
_BLOCK_DAY: Final = "raw_blocks/"  # the relation column of the per-day advert counts below

SIZES: Final = """
SELECT coalesce(p.relname, c.relname), c.relname, pg_total_relation_size(c.oid), c.reltuples
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relkind = 'r'
UNION ALL
SELECT 'raw_blocks', 'raw_blocks/' || day, 0, sum(adverts) FROM raw_blocks GROUP BY day
"""


@define(frozen=True)
class TableBudget:
    table: str
    bytes: int
    rows: int
    per_advert: float  # bytes per advert held in raw_advertisements (0 when none)
    per_day: float  # bytes per day held in raw_advertisements (0 when none)


@define(frozen=True)
class Budget:
    adverts: int
    days: int
    tables: list[TableBudget]

    @property
    def total(self) -> int:
        return sum(t.bytes for t in self.tables)


def compute(rows: Iterable[tuple[Any, ...]]) -> Budget:
    """A ``Budget`` from rows of ``SIZES`` (table, relation, bytes, estimated rows; for
    ``raw_blocks/<day>``: 0 bytes and that day's archived adverts)."""
    size: dict[str, int] = {}
    count: dict[str, int] = {}
    adverts = 0
    held: set[str] = set()
    for parent, rel, nbytes, tuples in rows:
        table, rows_est = str(parent), max(0, int(tuples))
        if table == BLOCKS and str(rel).startswith(_BLOCK_DAY):
            adverts += rows_est
            held.add(str(rel)[len(_BLOCK_DAY) :])
            continue
        size[table] = size.get(table, 0) + int(nbytes)
        count[table] = count.get(table, 0) + rows_est
        if table == RAW and rel != RAW:
            adverts += rows_est
            day = partitions.partition_day(str(rel), RAW)
            if rows_est and day is not None:
                held.add(day.isoformat())
    days = len(held)
    out = [
        TableBudget(
            t,
            size[t],
            count[t],
            size[t] / adverts if adverts else 0.0,
            size[t] / days if days else 0.0,
        )
        for t in sorted(size)
    ]
    return Budget(adverts, days, out)


def measure(conn: psycopg.Connection[Any]) -> Budget:
    """The budget of the database ``conn`` is connected to."""
    return compute(conn.execute(SIZES).fetchall())


def render(budget: Budget) -> str:
    """A plain-text table of the budget for a terminal."""
    lines = [
        f"storage: {budget.adverts:,} adverts over {budget.days} days held (estimates)",
        f"{'table':<28} {'size':>12} {'bytes/advert':>13} {'per day':>12}",
    ]
    for t in budget.tables:
        lines.append(
            f"{t.table:<28} {_human(t.bytes):>12} {t.per_advert:>13,.1f} {_human(t.per_day):>12}"
        )
    per_advert = budget.total / budget.adverts if budget.adverts else 0.0
    per_day = budget.total / budget.days if budget.days else 0.0
    lines.append(
        f"{'all':<28} {_human(budget.total):>12} {per_advert:>13,.1f} {_human(per_day):>12}"
    )
    return "\n".join(lines)


GROUPS: Final = (
    ("archive", ("raw_advertisements", "raw_blocks")),
    ("readings", ("sensor_readings_hot", "reading_blocks")),
    ("rollups", ("readings_1m", "readings_1h", "readings_1d")),
)


def summary(budget: Budget) -> str:
    """The budget in one line (the console's status)."""
    by = {t.table: t.bytes for t in budget.tables}
    per_advert = budget.total / budget.adverts if budget.adverts else 0.0
    per_day = budget.total / budget.days if budget.days else 0.0
    parts = ", ".join(
        f"{name} {_human(sum(by.get(t, 0) for t in tables))}" for name, tables in GROUPS
    )
    return (
        f"Storage {_human(budget.total)}: {budget.adverts:,} adverts over {budget.days} days, "
        f"{per_advert:,.0f} B/advert, {_human(per_day)}/day ({parts})"
    )


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"
