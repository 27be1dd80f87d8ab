"""Writing batch plans to PostgreSQL in one transaction each (psycopg 3, async).

Adverts and their readings arrive as COPY text (see ``batch.BatchPlan``) and are COPYed into
temporary staging tables, then one statement inserts the new adverts (``ON CONFLICT DO
NOTHING``: a redelivered message adds nothing), the readings of exactly the adverts that were
new, one upsert per device and one per scanner.  Rejected messages are COPYed; heartbeats update
``scanners`` and record transitions.  The planner has already turned away or escaped what
PostgreSQL refuses, so the next step is a last resort: a batch the database still refuses for
its data is written again advert by advert under savepoints, and the adverts it refuses become
``db_rejected`` rejections (``source`` gives back their messages).

Connection failures surface as ``DatabaseUnavailable``; the caller retries the same plan.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import psycopg
from attrs import define, field

from bt_mqtt.subscriber import budget, history, ledger, partitions, sql
from bt_mqtt.subscriber.batch import BatchPlan
from bt_mqtt.subscriber.heartbeat import MAX_INTERVAL_S, MIN_INTERVAL_S, Heartbeat
from bt_mqtt.subscriber.rejected import reject
from bt_mqtt.subscriber.rows import RawRow, row_key

# (topic, payload, received time) of the message at index k of the planned chunk
Source = Callable[[int], tuple[str, bytes, datetime]]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 60.0
# errors caused by one row's data (a connection problem is never one of them)
DATA_ERRORS: Final = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.errors.ProgramLimitExceeded,
    UnicodeError,
)


class DatabaseUnavailable(Exception):
    """The connection failed or was lost; nothing of the batch was committed."""


@define(slots=True)
class Transition:
    scanner_id: str
    from_status: str
    to_status: str
    reason: str


@define(slots=True)
class WriteResult:
    """What one committed write produced."""

    archived: int = 0
    readings: int = 0
    devices: int = 0
    redelivered: int = 0
    heartbeats: int = 0
    repeated: int = 0  # the retained heartbeat we already had, delivered again
    rejected: int = 0
    transitions: list[Transition] = field(factory=list)  # scanner status changes recorded
    # of the adverts newly stored: decoded by parser, and claimed but failed by (parser, status)
    parsed: Counter[str] = field(factory=Counter)
    parse_failed: Counter[tuple[str, str]] = field(factory=Counter)


class Store:
    """One database connection plus the partition cache.  Not safe for concurrent use."""

    def __init__(
        self,
        conninfo: dict[str, Any],
        *,
        keep_days: int,
        future_days: int,
        timeout_s: float | None = None,
    ) -> None:
        """``timeout_s``: the server's statement timeout for this session, and the longest a
        ``write`` may wait for the database before the connection is severed (None: none)."""
        self._conninfo = conninfo
        self._timeout_s = timeout_s
        self._keep_days = keep_days
        self._future_days = future_days
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._known: dict[str, set[date]] = {t: set() for t in partitions.PARTITIONED}

    async def connect(self) -> None:
        """(Re)connect and prepare the staging tables; raises ``DatabaseUnavailable``."""
        await self.close()
        try:
            conn = await psycopg.AsyncConnection.connect(**self._conninfo, autocommit=True)
            for statement in sql.SESSION_SETUP:
                await conn.execute(statement)
            if self._timeout_s is not None:
                await conn.execute(f"SET statement_timeout = {int(self._timeout_s * 1000)}")
            await conn.execute(sql.STAGE_TABLES)
            for table in partitions.PARTITIONED:
                cur = await conn.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass",
                    (table,),
                )
                names = [str(r[0]) for r in await cur.fetchall()]
                self._known[table] = {
                    d for n in names if (d := partitions.partition_day(n, table)) is not None
                }
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc).strip()) from exc
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except psycopg.Error:
                log.debug("error while closing the database connection", exc_info=True)
            self._conn = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def _need(self, table: str, days: set[date], today: date) -> list[date]:
        lo, hi = partitions.window(today, self._keep_days, self._future_days)
        return partitions.needed(days, lo, hi, self._known[table])

    async def ensure_partitions(self, plan: BatchPlan, now: datetime) -> None:
        """Create the partitions the plan's rows need (each in its own transaction)."""
        conn = self._require()
        today = partitions.day_of(now)
        want = {
            "raw_advertisements": set(plan.days),
            "rejected_messages": {partitions.day_of(r.received_at) for r in plan.rejected},
        }
        want["sensor_readings_hot"] = want["raw_advertisements"]
        ahead = set(partitions.days_ahead(today, self._future_days))
        want = {table: days | ahead for table, days in want.items()}
        for table, days in want.items():
            for day in self._need(table, days, today):
                await conn.execute(
                    "SELECT bt_mqtt_ensure_partition(%s, %s, %s)",
                    (table, partitions.PARTITIONED[table], day),
                )
                self._known[table].add(day)

    def _require(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            raise DatabaseUnavailable("not connected")
        return self._conn

    async def write(
        self, plan: BatchPlan, now: datetime, source: Source | None = None
    ) -> WriteResult:
        """Commit the whole plan; see the module docstring."""
        watchdog = None
        if self._timeout_s is not None and self._conn is not None:
            conn = self._conn
            watchdog = asyncio.get_running_loop().call_later(
                self._timeout_s + max(1.0, self._timeout_s / 10), self._sever, conn
            )
        try:
            return await self._write_all(plan, now, source)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _sever(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Shut the socket of a connection that stopped answering: whatever waits on it fails
        at once (an ``OperationalError``), where a silent network would leave it waiting for
        the kernel's TCP timeout."""
        log.warning(
            "the database did not answer within %.0fs; dropping the connection",
            self._timeout_s,
            extra={"event": "db_stalled"},
        )
        try:
            sock = socket.socket(fileno=conn.fileno())
        except (OSError, psycopg.Error):
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.detach()  # the descriptor stays psycopg's

    async def _write_all(
        self, plan: BatchPlan, now: datetime, source: Source | None
    ) -> WriteResult:
        try:
            await self.ensure_partitions(plan, now)
            try:
                return await self._write(plan, None, now)
            except DATA_ERRORS as exc:
                log.warning(
                    "batch refused by the database, retrying advert by advert: %s",
                    exc,
                    extra={"event": "batch_data_error"},
                )
                return await self._write(plan, source or _unescaped_source(plan), now)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise DatabaseUnavailable(str(exc).strip()) from exc

    async def _write(self, plan: BatchPlan, careful: Source | None, now: datetime) -> WriteResult:
        conn = self._require()
        res = WriteResult()
        rejected = list(plan.rejected)
        drops: dict[str, list[Any]] = {
            "drop_ids": list(plan.privacy_dropped),
            "drop_counts": list(plan.privacy_dropped.values()),
            "drop_at": [now] * len(plan.privacy_dropped),
            "seen_ids": [i[0] for i in plan.seen],
            "seen_boots": [i[1] for i in plan.seen],
            "seen_seqs": [i[2] for i in plan.seen],
        }
        async with conn.transaction():
            cur = conn.cursor()
            if careful is None:
                await self._adverts(cur, plan.raw, plan.readings_rows, plan.adverts, res, drops)
            else:
                for k, line, readings in _per_advert(plan):
                    try:
                        async with conn.transaction():
                            for statement in sql.CLEAR_STAGE:
                                await cur.execute(statement)
                            await self._adverts(cur, line, readings, 1, res, _NO_DROPS)
                    except DATA_ERRORS as e:
                        topic, payload, received_at = careful(k)
                        rejected.append(reject(received_at, topic, payload, "db_rejected", str(e)))
                for statement in sql.CLEAR_STAGE:
                    await cur.execute(statement)
                await self._adverts(cur, b"", b"", 0, res, drops)
            for hb in plan.heartbeats:
                try:
                    async with conn.transaction():
                        await self._heartbeat(cur, hb, res)
                except DATA_ERRORS as exc:
                    payload = hb.text.encode("utf-8", "surrogateescape")
                    topic = f"(status of {hb.scanner_id})"
                    rejected.append(reject(hb.received_at, topic, payload, "db_rejected", str(exc)))
            if rejected:
                async with cur.copy(sql.COPY_REJECTED) as copy:
                    for r in rejected:
                        await copy.write_row(
                            (
                                r.received_at,
                                r.topic,
                                r.payload,
                                r.reason,
                                r.detail,
                                r.size,
                                r.sha256,
                            )
                        )
                res.rejected = len(rejected)
        return res

    async def _adverts(
        self,
        cur: psycopg.AsyncCursor[Any],
        raw: bytes,
        readings: bytes,
        n: int,
        res: WriteResult,
        drops: dict[str, list[Any]],
    ) -> None:
        if not n and not drops["drop_ids"]:
            return
        if n:
            async with cur.copy(sql.COPY_STAGE_RAW) as copy:
                await copy.write(raw)
        if readings:
            async with cur.copy(sql.COPY_STAGE_READINGS) as copy:
                await copy.write(readings)
        await cur.execute(ledger.LOCK, drops)
        await cur.execute(sql.INGEST, drops)
        got = await cur.fetchone()
        assert got is not None
        archived, n_readings, n_devices = (int(x) for x in got[:3])
        for key, count in got[3].items():
            parser, _, status = key.rpartition("/")
            if status == "ok":
                res.parsed[parser] += int(count)
            else:
                res.parse_failed[parser, status] += int(count)
        res.archived += archived
        res.readings += n_readings
        res.devices += n_devices
        res.redelivered += n - archived

    async def _heartbeat(
        self, cur: psycopg.AsyncCursor[Any], hb: Heartbeat, res: WriteResult
    ) -> None:
        await cur.execute(sql.LOCK_SCANNER, (hb.text, hb.scanner_id))
        row = await cur.fetchone()
        if row is not None and row[1]:
            res.repeated += 1  # the retained heartbeat we already have, delivered again
            return
        prev = str(row[0]) if row is not None else "unknown"
        await cur.execute(
            sql.UPSERT_HEARTBEAT,
            {
                "sid": hb.scanner_id,
                "status": hb.status,
                "at": hb.received_at,
                "body": hb.text,
                "interval": hb.interval_s,
            },
        )
        res.heartbeats += 1
        marks = ledger.marks(hb.body)
        if marks is not None:
            await cur.execute(
                ledger.HEARTBEAT,
                {
                    "sid": hb.scanner_id,
                    "boot": marks.boot,
                    "last_seq": marks.last_seq,
                    "counters": marks.counters,
                },
            )
        if prev != hb.status:
            reason = "agent_offline" if hb.status == "offline" else "heartbeat"
            await cur.execute(
                sql.INSERT_TRANSITION,
                (hb.scanner_id, hb.received_at, prev, hb.status, reason, hb.text),
            )
            res.transitions.append(Transition(hb.scanner_id, prev, hb.status, reason))

    async def sweep_offline(self, now: datetime, missed: int) -> list[Transition]:
        """Mark scanners offline whose last heartbeat is ``missed`` intervals old."""
        conn = self._require()
        try:
            cur = await conn.execute(
                sql.SWEEP_OFFLINE,
                {
                    "now": now,
                    "missed": missed,
                    "default": DEFAULT_INTERVAL_S,
                    "min": MIN_INTERVAL_S,
                    "max": MAX_INTERVAL_S,
                },
            )
            rows = await cur.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise DatabaseUnavailable(str(exc).strip()) from exc
        return [Transition(str(r[0]), "online", "offline", "missed_heartbeats") for r in rows]

    async def loss(self) -> dict[str, ledger.Loss]:
        """Each scanner's published/received/missing/agent-dropped figures (``scanner_loss``)."""
        conn = self._require()
        try:
            cur = await conn.execute(ledger.LOSS)
            rows = await cur.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise DatabaseUnavailable(str(exc).strip()) from exc
        return ledger.loss_rows(rows)

    async def storage_budget(self) -> budget.Budget:
        """The database's storage budget (see ``budget``); raises ``DatabaseUnavailable``."""
        conn = self._require()
        try:
            cur = await conn.execute(budget.SIZES)
            return budget.compute(await cur.fetchall())
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise DatabaseUnavailable(str(exc).strip()) from exc

    async def roll_up(self, keep_from: datetime | None, limit: int = history.RUN_LIMIT) -> int:
        """One claim of the rollup job (``history``): the minutes of at most ``limit`` marks
        recomputed, in one transaction; returns the marks claimed.  Raises
        ``DatabaseUnavailable``."""
        conn = self._require()
        try:
            async with conn.transaction():
                await conn.execute(history.LOCK)
                cur = await conn.execute(history.CLAIM, {"limit": limit})
                rows = await cur.fetchall()
                for statement, params in history.plan(history.claimed(rows), keep_from):
                    await conn.execute(statement, params)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self.close()
            raise DatabaseUnavailable(str(exc).strip()) from exc
        return len(rows)

    async def prepare_partitions(self, now: datetime | None = None) -> None:
        """Create partitions from yesterday to ``future_days`` ahead (call at start and daily)."""
        await self.ensure_partitions(BatchPlan(), now or datetime.now(UTC) + timedelta(0))


_NO_DROPS: Final[dict[str, list[Any]]] = {
    "drop_ids": [],
    "drop_counts": [],
    "drop_at": [],
    "seen_ids": [],
    "seen_boots": [],
    "seen_seqs": [],
}


def _per_advert(plan: BatchPlan) -> list[tuple[int, bytes, bytes]]:
    """(k, its stage_raw line, its stage_readings lines) for each advert of the plan."""
    readings: dict[bytes, list[bytes]] = defaultdict(list)
    for line in plan.readings_rows.split(b"\n"):
        if line:
            readings[row_key(line)].append(line + b"\n")
    out = []
    for line in plan.raw.split(b"\n"):
        if line:
            key = row_key(line)
            out.append((int(key), line + b"\n", b"".join(readings.get(key, ()))))
    return out


def _unescaped_source(plan: BatchPlan) -> Source:
    """A ``Source`` that reads the messages back from the plan's own rows (payload, received
    time; the topic is reconstructed from the scanner id)."""
    rows = {}
    for line in plan.raw.decode().split("\n"):
        if line:
            row = RawRow.parse(line)
            rows[int(row.k)] = row

    def source(k: int) -> tuple[str, bytes, datetime]:
        row = rows[k]
        topic = f"(raw advert from {row.scanner_id})"
        return topic, row.payload.encode(), datetime.fromisoformat(row.received_at)

    return source
