"""Reading the alert rules' facts from PostgreSQL, and rolling up ``scanner_activity``.

Every query takes ``now`` as a parameter (never the server's ``now()``), so tests can drive the
clock.  Windows are on the adverts' ``time`` (the agent's clock; a skewed scanner is left to the
clock-skew rule), silence on server times (``scanners.last_advert_at``, ``devices.updated_at``).
Transit loss comes from issue 12's ``seq_ledger`` (``alertloss``), not from the archive.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from bt_mqtt.subscriber.alertloss import BootLoss, LossWindow
from bt_mqtt.subscriber.alertrules import (
    BUCKET_S,
    HISTORY_DAYS,
    RECENT_S,
    Bucket,
    DeviceFacts,
    ScannerFacts,
)

WATCH_DAYS: Final = 7  # devices whose readings are older than this are not judged

SCANNERS: Final = (
    "SELECT scanner_id, status, status_since, last_advert_at, clock_skew FROM scanners "
    "ORDER BY scanner_id"
)
WINDOW: Final = """
SELECT scanner_id, count(*), count(DISTINCT mac) FROM raw_advertisements
WHERE time > %(now)s - make_interval(secs => %(window)s) AND time <= %(now)s
GROUP BY scanner_id
"""
# Every boot's published seq and how many of its seqs above the given mark were received
# (see ``alertloss``); a boot at or below its mark is not unnested.
LEDGER: Final = """
SELECT l.scanner_id, l.boot, p.published,
    CASE WHEN p.published <= coalesce(m.lo, -1) THEN 0 ELSE (
        SELECT coalesce(sum(upper(x) - lower(x)), 0)
        FROM unnest(l.seqs * int8multirange(int8range(coalesce(m.lo, 0) + 1, NULL))) x
    ) END
FROM seq_ledger l
CROSS JOIN LATERAL (
    SELECT greatest(l.last_seq, coalesce(upper(l.seqs) - 1, 0)) AS published
) p
LEFT JOIN unnest(%(sids)s::text[], %(boots)s::text[], %(los)s::bigint[]) AS m (sid, boot, lo)
    ON m.sid = l.scanner_id AND m.boot = l.boot
"""
HISTORY: Final = """
SELECT scanner_id, bucket, adverts, devices FROM scanner_activity
WHERE bucket >= %(now)s - make_interval(secs => %(recent)s)
   OR (bucket >= %(now)s - make_interval(days => %(days)s)
       AND extract(hour FROM bucket AT TIME ZONE 'UTC') = %(hour)s)
ORDER BY scanner_id, bucket
"""
# Buckets are aligned to multiples of BUCKET_S since the epoch (5-minute boundaries).
ROLLUP: Final = """
INSERT INTO scanner_activity AS a (scanner_id, bucket, adverts, devices)
SELECT scanner_id,
       to_timestamp(floor(extract(epoch FROM time) / %(bucket)s) * %(bucket)s) AS bucket,
       count(*), count(DISTINCT mac)
FROM raw_advertisements
WHERE time >= %(lo)s AND time < %(hi)s
GROUP BY 1, 2
ON CONFLICT (scanner_id, bucket) DO UPDATE SET adverts = EXCLUDED.adverts,
    devices = EXCLUDED.devices
"""
DEVICES: Final = """
SELECT mac, name, updated_at, last_scanner_id, last_readings FROM devices
WHERE parser IS NOT NULL AND last_readings_at > %(now)s - make_interval(days => %(days)s)
ORDER BY mac
"""
# Per device, the scanner that heard it most over the lookback: its count and time span.
INTERVALS: Final = """
SELECT DISTINCT ON (mac) mac, n, extract(epoch FROM last - first)
FROM (
    SELECT mac, scanner_id, count(*) AS n, min(time) AS first, max(time) AS last
    FROM raw_advertisements
    WHERE time > %(now)s - make_interval(secs => %(lookback)s) AND time <= %(now)s
      AND parser IS NOT NULL
    GROUP BY mac, scanner_id
) s
ORDER BY mac, n DESC
"""


def bucket_start(when: datetime) -> datetime:
    """The start of the activity bucket holding ``when``."""
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_S, when.tzinfo)


async def rollup(conn: psycopg.AsyncConnection[Any], now: datetime, buckets: int = 4) -> None:
    """Recount the last ``buckets`` complete buckets (late adverts included) into
    ``scanner_activity``."""
    hi = bucket_start(now)
    lo = hi - timedelta(seconds=BUCKET_S * buckets)
    await conn.execute(ROLLUP, {"bucket": BUCKET_S, "lo": lo, "hi": hi})


async def ledger_loss(
    conn: psycopg.AsyncConnection[Any], now: datetime, window: LossWindow
) -> dict[str, tuple[int, int]]:
    """Per scanner (published, arrived) over the loss window, from the seq ledger."""
    marks = window.marks(now)
    keys = list((marks or {}).items())
    params = {
        "sids": [k[0] for k, _ in keys],
        "boots": [k[1] for k, _ in keys],
        "los": [lo for _, lo in keys],
    }
    rows = await (await conn.execute(LEDGER, params)).fetchall()
    boots = [BootLoss(r[0], r[1], int(r[2]), int(r[3])) for r in rows]
    return window.account(now, marks, boots)


async def scanner_facts(
    conn: psycopg.AsyncConnection[Any], now: datetime, loss_window: LossWindow
) -> list[ScannerFacts]:
    """Every scanner's facts at ``now`` (loss from the seq ledger through ``loss_window``)."""
    rows = await (await conn.execute(SCANNERS)).fetchall()
    window = {
        r[0]: (int(r[1]), int(r[2]))
        for r in await (await conn.execute(WINDOW, {"now": now, "window": BUCKET_S})).fetchall()
    }
    loss = await ledger_loss(conn, now, loss_window)
    history: dict[str, list[Bucket]] = defaultdict(list)
    params = {"now": now, "recent": RECENT_S, "days": HISTORY_DAYS + 1, "hour": now.hour}
    for sid, start, adverts, devices in await (await conn.execute(HISTORY, params)).fetchall():
        history[sid].append(Bucket(start, int(adverts), int(devices)))
    out = []
    for sid, status, since, last_advert, skew in rows:
        adverts, devices = window.get(sid, (0, 0))
        published, arrived = loss.get(sid, (0, 0))
        out.append(
            ScannerFacts(
                sid,
                status,
                since,
                last_advert,
                bool(skew),
                adverts,
                devices,
                published,
                arrived,
                tuple(history.get(sid, ())),
            )
        )
    return out


async def intervals(
    conn: psycopg.AsyncConnection[Any], now: datetime, lookback_s: float, min_adverts: int
) -> dict[str, float]:
    """Each decoded device's advertising interval as its best scanner heard it over the
    lookback (devices with fewer than ``min_adverts`` there are left out)."""
    cur = await conn.execute(INTERVALS, {"now": now, "lookback": lookback_s})
    out: dict[str, float] = {}
    for mac, n, span in await cur.fetchall():
        if n >= min_adverts and span is not None and float(span) > 0:
            out[mac] = float(span) / (int(n) - 1)
    return out


async def device_facts(
    conn: psycopg.AsyncConnection[Any], now: datetime, estimates: dict[str, float]
) -> list[DeviceFacts]:
    """Decoded devices with readings in the last ``WATCH_DAYS``, with the fresh interval
    estimates (from ``intervals``, possibly empty) attached."""
    cur = await conn.execute(DEVICES, {"now": now, "days": WATCH_DAYS})
    out = []
    for mac, name, heard, scanner, readings in await cur.fetchall():
        numbers = {
            k: float(v)
            for k, v in (readings or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        out.append(DeviceFacts(mac, name, heard, scanner, numbers, estimates.get(mac)))
    return out
