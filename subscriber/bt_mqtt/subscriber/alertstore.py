"""Alerts in PostgreSQL: the ``alerts`` rows (one per occurrence) and their ``alert_events``.

``record`` writes a batch of transitions in one transaction: a firing alert inserts a row (at
most one firing row per kind and subject, enforced by a unique index), a resolved one closes
the firing row.  ``load_firing`` restores the lifecycle after a restart, with ``load_state``
(the pending conditions in ``alert_pending``, the battery levels in ``alert_battery``, which
``save_state`` keeps up to date).  Only one subscriber evaluates alerts at a time: the one
holding ``LOCK_KEY`` (a session advisory lock).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import psycopg
from attrs import define

from bt_mqtt.subscriber.alertcore import FIRING, Transition

LOCK_KEY: Final = 0x6274_6D71_616C  # "btmqal"

INSERT_FIRING: Final = """
INSERT INTO alerts (kind, subject, state, fired_at, message, value, detail)
VALUES (%s, %s, 'firing', %s, %s, %s, %s::jsonb)
ON CONFLICT (kind, subject) WHERE state = 'firing' DO NOTHING
RETURNING id
"""
RESOLVE: Final = """
UPDATE alerts SET state = 'resolved', resolved_at = %s, value = coalesce(%s, value)
WHERE kind = %s AND subject = %s AND state = 'firing'
RETURNING id, fired_at
"""
EVENT: Final = (
    "INSERT INTO alert_events (alert_id, time, event, detail) VALUES (%s, %s, %s, %s::jsonb)"
)
FIRING_ROWS: Final = (
    "SELECT id, kind, subject, fired_at, message, value FROM alerts WHERE state = 'firing' "
    "ORDER BY id"
)


PENDING_ROWS: Final = "SELECT kind, subject, since, message, value, detail FROM alert_pending"
BATTERY_ROWS: Final = "SELECT mac, level, replaced_at FROM alert_battery"
UPSERT_PENDING: Final = """
INSERT INTO alert_pending (kind, subject, since, message, value, detail)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (kind, subject) DO UPDATE SET since = EXCLUDED.since, message = EXCLUDED.message,
    value = EXCLUDED.value, detail = EXCLUDED.detail
"""
DELETE_PENDING: Final = "DELETE FROM alert_pending WHERE kind = %s AND subject = %s"
UPSERT_BATTERY: Final = """
INSERT INTO alert_battery (mac, level, replaced_at) VALUES (%s, %s, %s)
ON CONFLICT (mac) DO UPDATE SET level = EXCLUDED.level, replaced_at = EXCLUDED.replaced_at
"""


@define(frozen=True)
class Pending:
    """A condition true since ``since``, not firing yet."""

    kind: str
    subject: str
    since: datetime
    message: str
    value: float | None
    detail: dict[str, Any]


@define(frozen=True)
class Battery:
    """A device's last battery level and when a replacement was seen (None: not recently)."""

    mac: str
    level: float
    replaced_at: datetime | None


@define(frozen=True)
class Stored:
    """A transition as recorded: ``alert_id`` is its ``alerts`` row."""

    alert_id: int
    transition: Transition


@define(frozen=True)
class FiringRow:
    alert_id: int
    kind: str
    subject: str
    fired_at: datetime
    message: str
    value: float | None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False)


async def try_lock(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Become the alert evaluator (False: another subscriber is)."""
    row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
    return bool(row and row[0])


async def load_firing(conn: psycopg.AsyncConnection[Any]) -> list[FiringRow]:
    """The alerts firing now, oldest first."""
    rows = await (await conn.execute(FIRING_ROWS)).fetchall()
    return [FiringRow(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def record(conn: psycopg.AsyncConnection[Any], transitions: list[Transition]) -> list[Stored]:
    """Write the transitions (one transaction); those that changed a row, with its id."""
    out: list[Stored] = []
    async with conn.transaction():
        for t in transitions:
            if t.state == FIRING:
                row = await (
                    await conn.execute(
                        INSERT_FIRING,
                        (t.kind, t.subject, t.at, t.message, t.value, _json(t.detail)),
                    )
                ).fetchone()
                event = "fired"
            else:
                row = await (
                    await conn.execute(RESOLVE, (t.at, t.value, t.kind, t.subject))
                ).fetchone()
                event = "resolved"
            if row is None:
                continue  # already firing (another evaluator) or not firing any more
            alert_id = int(row[0])
            detail = {"message": t.message, "value": t.value, **t.detail}
            await conn.execute(EVENT, (alert_id, t.at, event, _json(detail)))
            out.append(Stored(alert_id, t))
    return out


async def delivery(
    conn: psycopg.AsyncConnection[Any],
    alert_id: int,
    at: datetime,
    event: str,
    detail: dict[str, Any],
) -> None:
    """Record a delivery attempt (``webhook_delivered``, ``webhook_failed``, ...)."""
    await conn.execute(EVENT, (alert_id, at, event, _json(detail)))


async def load_state(
    conn: psycopg.AsyncConnection[Any],
) -> tuple[list[Pending], list[Battery]]:
    """The pending conditions and battery levels saved before a restart."""
    pending = [
        Pending(r[0], r[1], r[2], r[3], r[4], dict(r[5] or {}))
        for r in await (await conn.execute(PENDING_ROWS)).fetchall()
    ]
    battery = [
        Battery(r[0], float(r[1]), r[2])
        for r in await (await conn.execute(BATTERY_ROWS)).fetchall()
    ]
    return pending, battery


async def save_state(
    conn: psycopg.AsyncConnection[Any],
    pending: list[Pending],
    gone: list[tuple[str, str]],
    battery: list[Battery],
) -> None:
    """Save what changed (one transaction): new or changed pending conditions, those that
    are not pending any more (``gone``: fired or false again), changed battery levels."""
    async with conn.transaction():
        for p in pending:
            await conn.execute(
                UPSERT_PENDING, (p.kind, p.subject, p.since, p.message, p.value, _json(p.detail))
            )
        for kind, subject in gone:
            await conn.execute(DELETE_PENDING, (kind, subject))
        for b in battery:
            await conn.execute(UPSERT_BATTERY, (b.mac, b.level, b.replaced_at))
