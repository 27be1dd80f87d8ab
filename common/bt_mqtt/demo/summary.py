"""The demo's closing summary, read from the database the subscriber filled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg


def archived_count(url: str) -> int:
    """Rows in raw_advertisements."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM raw_advertisements").fetchone()
    return int(row[0]) if row else 0


async def wait_archived(url: str, expected: int, timeout_s: float = 60.0) -> int:
    """Poll until ``expected`` adverts are archived (or the time is up); the last count."""
    deadline = time.monotonic() + timeout_s
    count = await asyncio.to_thread(archived_count, url)
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        count = await asyncio.to_thread(archived_count, url)
    return count


def database_summary(url: str) -> dict[str, Any]:
    """Archived, rejected, readings and devices per parser, scanners with their status and
    loss accounting (published by their seq, received, lost on the way, dropped by the agent;
    the ``scanner_loss`` view), the adverts lost in transit over all scanners, and the alerts
    raised."""
    with psycopg.connect(url) as conn:

        def scalar(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in conn.execute(sql).fetchall()}

        scanners = {
            sid: {"status": status, "adverts": int(count)}
            for sid, status, count in conn.execute(
                "SELECT scanner_id, status, advert_count FROM scanners ORDER BY scanner_id"
            ).fetchall()
        }
        loss = {
            str(sid): (int(pub), int(missing), int(dropped))
            for sid, pub, missing, dropped in conn.execute(
                "SELECT scanner_id, published, missing, agent_dropped FROM scanner_loss"
            ).fetchall()
        }
        for sid, (pub, missing, dropped) in loss.items():
            entry = scanners.setdefault(sid, {"status": "unknown", "adverts": 0})
            entry.update(published=pub, lost=missing, agent_dropped=dropped)
        transitions = grouped(
            "SELECT scanner_id || ':' || to_status, count(*) FROM scanner_transitions "
            "GROUP BY 1 ORDER BY 1"
        )
        return {
            "archived": scalar("SELECT count(*) FROM raw_advertisements"),
            "rejected": scalar("SELECT count(*) FROM rejected_messages"),
            "readings": scalar("SELECT count(*) FROM sensor_readings"),
            "readings_per_parser": grouped(
                "SELECT parser, count(*) FROM sensor_readings GROUP BY parser ORDER BY parser"
            ),
            "devices": scalar("SELECT count(*) FROM devices"),
            "devices_per_parser": grouped(
                "SELECT coalesce(parser, 'unknown'), count(*) FROM devices GROUP BY 1 ORDER BY 1"
            ),
            "scanners": scanners,
            "scanner_transitions": transitions,
            "adverts_lost": sum(missing for _, missing, _ in loss.values()),
            "alerts": [
                {"kind": k, "subject": subj, "state": state, "message": msg}
                for k, subj, state, msg in conn.execute(
                    "SELECT kind, subject, state, message FROM alerts ORDER BY id"
                ).fetchall()
            ],
        }


def ha_summary(
    url: str, first_heard: dict[str, float], first_announced: dict[str, float]
) -> dict[str, Any]:
    """How soon each decoded device appeared in HA's discovery topics after its first advert:
    ``decoded`` devices, how many were ``announced``, the ``max_delay_s``, and those
    ``not_announced`` with their address type, parser and metrics (private random addresses
    are never offered, nor metrics that are no measurement, such as a beacon's RSSI estimate)."""
    with psycopg.connect(url) as conn:
        decoded = conn.execute(
            "SELECT mac, address_type, parser, last_readings FROM devices "
            "WHERE parser IS NOT NULL ORDER BY mac"
        ).fetchall()
    delays: dict[str, float] = {}
    missing: list[dict[str, Any]] = []
    for mac, address_type, parser, readings in decoded:
        at = first_announced.get(str(mac).replace(":", "").lower())
        heard = first_heard.get(str(mac))
        if at is None or heard is None:
            metrics = sorted(readings or {})
            missing.append(
                {"mac": mac, "address_type": address_type, "parser": parser, "metrics": metrics}
            )
        else:
            delays[str(mac)] = round(max(0.0, at - heard), 3)
    return {
        "decoded": len(decoded),
        "announced": len(delays),
        "max_delay_s": max(delays.values(), default=None),
        "delays_s": delays,
        "not_announced": missing,
    }


def missing_identities(url: str, seen: set[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Messages the broker delivered that are not in raw_advertisements."""
    with psycopg.connect(url) as conn:
        stored = {
            (str(s), str(b), int(q))
            for s, b, q in conn.execute("SELECT scanner_id, boot, seq FROM raw_advertisements")
        }
    return sorted(seen - stored)
