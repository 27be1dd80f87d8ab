"""Read-only access to the subscriber's database: history, the device registry, parser totals.

psycopg is imported only when a ``HistoryDb`` connects, so the console runs with MQTT alone.
The session is set to ``default_transaction_read_only`` as a second line of defence behind the
read-only role described in ``docs/console.md``; the console never writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

# FROM: the device's readings in [%(lo)s, %(hi)s), hot rows and the blocks of those days only
# (``history.readings_in_range``, added when the first query is made: it imports psycopg)
HISTORY_SQL = """
SELECT metric,
       least(%(n)s - 1, floor(extract(epoch FROM time - %(lo)s) / %(width)s))::int AS bucket,
       avg(value)
FROM ({readings}) readings
GROUP BY metric, bucket
ORDER BY metric, bucket
"""

DEVICE_SQL = """
SELECT first_seen, last_seen, advert_count, parser, manufacturer, model, name,
       last_scanner_id, facts
FROM devices WHERE mac = %(mac)s
"""

PARSER_SQL = """
SELECT coalesce(parser, '(unknown)'), count(*)
FROM raw_advertisements
WHERE time >= now() - make_interval(hours => %(hours)s)
GROUP BY 1
"""


# the commands recorded for one scanner (subscriber/bt_mqtt/subscriber/commandlog.py)
COMMANDS_SQL = """
SELECT coalesce(replied_at, requested_at), verb, ok, error, ms, requested_by
FROM scanner_commands WHERE scanner_id = %(scanner)s
ORDER BY row_id DESC LIMIT %(limit)s
"""

# adverts published and never received, per scanner (see the subscriber's seq ledger)
LOSS_SQL = "SELECT scanner_id, missing FROM scanner_loss"


class HistoryDb:
    """One lazily opened, read-only async connection; queries are serialised."""

    def __init__(self, conninfo: dict[str, Any]) -> None:
        self.conninfo = dict(conninfo)
        self.conninfo["application_name"] = "bt-mqtt-console"
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg  # noqa: PLC0415 - optional dependency, only with a database

            conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
            await conn.execute("SET default_transaction_read_only = on")
            self._conn = conn
        return self._conn

    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._lock:
            conn = await self._connection()
            cur = await conn.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

    async def history(self, mac: str, hours: int, buckets: int) -> dict[str, list[float]]:
        """Average of each metric of ``mac`` in ``buckets`` equal slices of the last ``hours``.

        Empty slices repeat the previous value (the first ones take the first known value).
        """
        from datetime import UTC, datetime, timedelta  # noqa: PLC0415

        from bt_mqtt.subscriber.history import readings_in_range  # noqa: PLC0415

        sql = HISTORY_SQL.format(readings=readings_in_range(one_device=True))
        since = datetime.fromtimestamp(time.time(), UTC) - timedelta(hours=hours)
        width = hours * 3600 / buckets
        rows = await self._fetch(
            sql,
            {
                "mac": mac,
                "lo": since,
                "hi": since + timedelta(hours=hours + 1),  # and what arrives meanwhile
                "width": width,
                "n": buckets,
            },
        )
        raw: dict[str, dict[int, float]] = {}
        for metric, bucket, value in rows:
            raw.setdefault(str(metric), {})[int(bucket)] = float(value)
        out: dict[str, list[float]] = {}
        for metric, points in raw.items():
            first = points[min(points)]
            series: list[float] = []
            for i in range(buckets):
                series.append(points.get(i, series[-1] if series else first))
            out[metric] = series
        return out

    async def device(self, mac: str) -> dict[str, Any] | None:
        """The registry row of ``mac`` (``devices``), or None."""
        rows = await self._fetch(DEVICE_SQL, {"mac": mac})
        if not rows:
            return None
        keys = (
            "first_seen last_seen advert_count parser manufacturer model name last_scanner_id facts"
        )
        return dict(zip(keys.split(), rows[0], strict=True))

    async def parser_totals(self, hours: int) -> dict[str, int]:
        """Stored adverts per claiming parser over the last ``hours``."""
        rows = await self._fetch(PARSER_SQL, {"hours": hours})
        return {str(name): int(n) for name, n in rows}

    async def scanner_loss(self) -> dict[str, int]:
        """Adverts each scanner published that never reached the database."""
        rows = await self._fetch(LOSS_SQL, {})
        return {str(sid): int(n) for sid, n in rows}

    async def storage(self) -> str:
        """The storage budget as one line: adverts and days held, bytes per advert and per
        day, the raw archive, readings and rollups apart (``bt_mqtt.subscriber.budget``)."""
        from bt_mqtt.subscriber import budget  # noqa: PLC0415

        return budget.summary(budget.compute(await self._fetch(budget.SIZES, {})))

    async def recent_commands(self, scanner: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` commands recorded for ``scanner``, newest first."""
        rows = await self._fetch(COMMANDS_SQL, {"scanner": scanner, "limit": limit})
        keys = ("at", "verb", "ok", "error", "ms", "by")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
