"""``reprocess``: run today's parsers over archived adverts and replace their derived readings.

Adverts in ``[since, until)`` (optionally one MAC) are read in time order in chunks from the
rows (``raw_advertisements``), then block by block from the compact archive (``raw_blocks``,
whose block is rewritten with the new parser and status, and whose ``reading_blocks`` get the
new readings of its reprocessed adverts).  With
``--parser P`` only adverts that P claimed before or claims now are touched.  For each chunk, in
one transaction: the adverts' readings are deleted, the new ones inserted, ``parser`` and
``parse_status`` on the raw rows updated and the devices' parser, facts and last readings
refreshed (the readings of the chunk's adverts merged in time order into ``last_readings``, as
ingest does), with the current `devices:` settings (offsets, ignore, parser hints) applied as
ingest applies them.  Running it twice gives the same rows.
Progress (count, rate, ETA) goes to stderr.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

import psycopg
from attrs import Factory, define

from bt_mqtt.core.wire import WireError, decode_obj
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.subscriber import history, parsestatus
from bt_mqtt.subscriber.archive import decode_block, encode_block
from bt_mqtt.subscriber.config import SubscriberConfig, bindkeys
from bt_mqtt.subscriber.devicesettings import Devices, apply_hints

log = logging.getLogger(__name__)
CHUNK = 2000


def progress_line(done: int, total: int, elapsed: float) -> str:
    """``done/total (pct) rate/s ETA`` for the progress display."""
    rate = done / elapsed if elapsed > 0 else 0.0
    pct = 100.0 * done / total if total else 100.0
    if rate > 0 and total > done:
        left = (total - done) / rate
        eta = f"{int(left // 60)}m{int(left % 60):02d}s"
    else:
        eta = "0m00s"
    width = 30
    filled = int(width * pct / 100)
    bar = "#" * filled + "-" * (width - filled)
    return f"[{bar}] {done}/{total} ({pct:5.1f}%) {rate:,.0f} adverts/s ETA {eta}"


class Progress:
    """Rewrites one stderr line at most every ``every`` seconds."""

    def __init__(self, total: int, out: TextIO = sys.stderr, every: float = 0.5) -> None:
        self.total, self.out, self.every = total, out, every
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last >= self.every:
            self._last = now
            self.out.write("\r" + progress_line(done, self.total, now - self.start))
            if final:
                self.out.write("\n")
            self.out.flush()


_SELECT = (
    "SELECT id, time, mac, scanner_id, parser, payload FROM raw_advertisements "
    "WHERE time >= %(since)s AND time < %(until)s AND (%(mac)s::text IS NULL OR mac = %(mac)s) "
    "AND (time, id) > (%(after_t)s, %(after_id)s) ORDER BY time, id LIMIT %(limit)s"
)
_COUNT = (
    "SELECT count(*) FROM raw_advertisements WHERE time >= %(since)s AND time < %(until)s "
    "AND (%(mac)s::text IS NULL OR mac = %(mac)s)"
)
_DELETE = "DELETE FROM sensor_readings_hot WHERE time >= %s AND time <= %s AND advert_id = ANY(%s)"
_SET_PARSER = (
    "UPDATE raw_advertisements r SET parser = v.parser, parse_status = v.status FROM "
    "(SELECT unnest(%s::bigint[]) AS id, unnest(%s::timestamptz[]) AS time, "
    "unnest(%s::text[]) AS parser, unnest(%s::text[]) AS status) v "
    "WHERE r.id = v.id AND r.time = v.time "
    "AND (r.parser, r.parse_status) IS DISTINCT FROM (v.parser, v.status)"
)
# the compact archive (migration 0007): blocks overlapping the range, one block, its rewrite,
# and its readings: those of the adverts not reprocessed kept, the new ones added
_BLOCKS = (
    "SELECT mac, day, part, adverts FROM raw_blocks WHERE last_time >= %(since)s "
    "AND first_time < %(until)s AND (%(mac)s::text IS NULL OR mac = %(mac)s) "
    "ORDER BY day, mac, part"
)
_BLOCK = "SELECT data FROM raw_blocks WHERE mac = %s AND day = %s AND part = %s FOR UPDATE"
_BLOCK_SET = "UPDATE raw_blocks SET data = %s WHERE mac = %s AND day = %s AND part = %s"
_BLOCK_READINGS = """
WITH old AS (
    DELETE FROM reading_blocks WHERE mac = %(mac)s AND day = %(day)s AND part = %(part)s
    RETURNING *
), rows AS (
    SELECT o.metric, o.scanner_id, o.parser, u.t_us AS t, u.value AS v, u.advert_id AS a
    FROM old o
    CROSS JOIN LATERAL bt_mqtt_reading_block_rows(o.t_delta_us, o.value, o.advert_id_delta) u
    WHERE u.advert_id <> ALL(%(ids)s::bigint[])
    UNION ALL
    SELECT * FROM unnest(%(metric)s::text[], %(scanner)s::text[], %(parser)s::text[],
        %(t)s::bigint[], %(v)s::float8[], %(a)s::bigint[])
)
INSERT INTO reading_blocks (mac, metric, day, scanner_id, parser, part, t_delta_us, value,
    advert_id_delta)
SELECT %(mac)s, metric, %(day)s, scanner_id, parser, %(part)s,
    array_agg(t - coalesce(prev_t, 0) ORDER BY t, a), array_agg(v ORDER BY t, a),
    array_agg(a - coalesce(prev_a, 0) ORDER BY t, a)
FROM (
    SELECT *, lag(t) OVER w AS prev_t, lag(a) OVER w AS prev_a FROM rows
    WINDOW w AS (PARTITION BY metric, scanner_id, parser ORDER BY t, a)
) x
GROUP BY metric, scanner_id, parser
"""
# the readings merged in time order: later adverts' values win, as in ingest
_LAST_READINGS = (
    "UPDATE devices SET last_readings = CASE "
    "WHEN last_readings_at IS NULL OR %(at)s >= last_readings_at "
    "THEN last_readings || %(readings)s::jsonb ELSE %(readings)s::jsonb || last_readings END, "
    "last_readings_at = greatest(last_readings_at, %(at)s), updated_at = now() "
    "WHERE mac = %(mac)s"
)
_DEVICE = (
    "UPDATE devices SET parser = coalesce(%(parser)s, parser), facts = facts || %(facts)s::jsonb, "
    "manufacturer = coalesce(%(facts)s::jsonb->>'manufacturer', manufacturer), "
    "model = coalesce(%(facts)s::jsonb->>'model', model), updated_at = now() WHERE mac = %(mac)s"
)


def reprocess(
    cfg: SubscriberConfig,
    conninfo: dict[str, Any],
    since: datetime,
    until: datetime,
    *,
    mac: str | None = None,
    parser: str | None = None,
    registry: Any = None,
    out: TextIO = sys.stderr,
) -> dict[str, int]:
    """Replace readings in the range; returns counts (adverts seen/changed, readings, errors)."""
    if registry is None:
        from bt_mqtt.parsers.registry import Registry  # noqa: PLC0415

        registry = Registry.default(plugins=cfg.parsers.plugins, theengs=cfg.parsers.theengs)
    devices = Devices(cfg.devices)  # the current settings: offsets, ignore, parser hints
    ctx = apply_hints(ParseContext(bindkeys=bindkeys(cfg)), devices)
    counts = {"adverts": 0, "touched": 0, "readings": 0, "undecodable": 0}
    params: dict[str, Any] = {"since": since, "until": until, "mac": mac, "limit": CHUNK}
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        row = conn.execute(_COUNT, params).fetchone()
        blocks = conn.execute(_BLOCKS, params).fetchall()
        total = (int(row[0]) if row else 0) + sum(int(b[3]) for b in blocks)
        progress = Progress(total, out)
        params["after_t"], params["after_id"] = since, -1
        while True:
            rows = conn.execute(_SELECT, params).fetchall()
            if not rows:
                break
            params["after_t"], params["after_id"] = rows[-1][1], rows[-1][0]
            _chunk(conn, rows, registry, ctx, parser, counts, devices)
            counts["adverts"] += len(rows)
            progress.update(counts["adverts"])
        for b_mac, b_day, b_part, _n in blocks:
            counts["adverts"] += _block(
                conn, (b_mac, b_day, b_part), since, until, registry, ctx, parser, counts, devices
            )
            progress.update(counts["adverts"])
        progress.update(counts["adverts"], final=True)
        history.roll_up(conn)  # the minutes marked below (and any ingest marked meanwhile)
    log.info("reprocessed %d adverts", counts["adverts"], extra={"event": "reprocessed", **counts})
    return counts


@define
class _Parsed:
    """What the parsers made of a chunk of adverts (those to touch)."""

    ids: list[int] = Factory(list)
    times: list[datetime] = Factory(list)
    parsers: list[str | None] = Factory(list)
    statuses: list[str | None] = Factory(list)
    # (time, mac, scanner_id, parser, metric, value, advert_id)
    readings: list[tuple[Any, ...]] = Factory(list)
    devices: dict[str, tuple[str | None, dict[str, Any]]] = Factory(dict)
    latest: dict[str, tuple[datetime, dict[str, float]]] = Factory(dict)


def _parse(
    rows: Iterable[tuple[int, datetime, str, str, str | None, Any]],
    registry: Any,
    ctx: ParseContext,
    only: str | None,
    counts: dict[str, int],
    settings: Devices,
) -> _Parsed:
    """Parse (id, time, mac, scanner_id, parser, payload object) rows, in time order."""
    out = _Parsed()
    for adv_id, when, mac, scanner_id, old_parser, payload in rows:
        try:
            adv = decode_obj(payload).advert
        except WireError:
            counts["undecodable"] += 1
            continue
        before = parsestatus.failures(registry)
        result = registry.parse(adv, ctx)
        failed = (
            None if result is not None else parsestatus.failed_parser(registry, adv, ctx, before)
        )
        new_parser = result.parser if result is not None else failed[0] if failed else None
        if only is not None and only not in (old_parser, new_parser):
            continue
        out.ids.append(adv_id)
        out.times.append(when)
        out.parsers.append(new_parser)
        out.statuses.append(parsestatus.OK if result is not None else failed[1] if failed else None)
        if result is None:
            continue
        mine: dict[str, float] = {}
        for metric, value in settings.readings(mac, result.readings).items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and math.isfinite(value):  # the same rule as ingest
                out.readings.append((when, mac, scanner_id, new_parser, metric, value, adv_id))
                mine[metric] = float(value)
        out.devices[mac] = (new_parser, result.facts)
        if mine:
            merged = {**out.latest[mac][1], **mine} if mac in out.latest else mine
            out.latest[mac] = (when, merged)
    return out


def _chunk(
    conn: psycopg.Connection[Any],
    rows: list[tuple[Any, ...]],
    registry: Any,
    ctx: ParseContext,
    only: str | None,
    counts: dict[str, int],
    settings: Devices,
) -> None:
    got = _parse(rows, registry, ctx, only, counts, settings)
    if not got.ids:
        return
    with conn.transaction():
        conn.execute(_DELETE, (min(got.times), max(got.times), got.ids))
        with conn.cursor().copy(
            "COPY sensor_readings_hot (time, mac, scanner_id, parser, metric, value, advert_id) "
            "FROM STDIN"
        ) as copy:
            for r in got.readings:
                copy.write_row(r)
        conn.execute(_SET_PARSER, (got.ids, got.times, got.parsers, got.statuses))
        history.mark(conn, got.times)  # the rollups of these minutes are recomputed
        _update_devices(conn, got)
    counts["touched"] += len(got.ids)
    counts["readings"] += len(got.readings)


def _update_devices(conn: psycopg.Connection[Any], got: _Parsed) -> None:
    for dev_mac, (p, facts) in sorted(got.devices.items()):
        conn.execute(_DEVICE, {"parser": p, "facts": json.dumps(facts), "mac": dev_mac})
        if dev_mac in got.latest:
            at, values = got.latest[dev_mac]
            conn.execute(_LAST_READINGS, {"at": at, "readings": json.dumps(values), "mac": dev_mac})


def _block(
    conn: psycopg.Connection[Any],
    key: tuple[str, date, int],
    since: datetime,
    until: datetime,
    registry: Any,
    ctx: ParseContext,
    only: str | None,
    counts: dict[str, int],
    settings: Devices,
) -> int:
    """Reprocess the adverts of one archive block inside the range; returns how many."""
    mac, day, part = key
    with conn.transaction():
        row = conn.execute(_BLOCK, key).fetchone()
        if row is None:
            return 0
        adverts = decode_block(bytes(row[0]))
        inside = sorted(
            (a for a in adverts if since <= a.time < until), key=lambda a: (a.time, a.id)
        )
        got = _parse(
            ((a.id, a.time, a.mac, a.scanner_id, a.parser, json.loads(a.payload)) for a in inside),
            registry,
            ctx,
            only,
            counts,
            settings,
        )
        if got.ids:
            new = dict(zip(got.ids, zip(got.parsers, got.statuses, strict=True), strict=True))
            rewritten = [
                a._replace(parser=new[a.id][0], parse_status=new[a.id][1]) if a.id in new else a
                for a in adverts
            ]
            conn.execute(_BLOCK_SET, (encode_block(rewritten), *key))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            us = [(r[0] - start) // timedelta(microseconds=1) for r in got.readings]
            conn.execute(
                _BLOCK_READINGS,
                {
                    "mac": mac,
                    "day": day,
                    "part": part,
                    "ids": got.ids,
                    "metric": [r[4] for r in got.readings],
                    "scanner": [r[2] for r in got.readings],
                    "parser": [r[3] for r in got.readings],
                    "t": us,
                    "v": [float(r[5]) for r in got.readings],
                    "a": [r[6] for r in got.readings],
                },
            )
            history.mark(conn, got.times)
            _update_devices(conn, got)
    counts["touched"] += len(got.ids)
    counts["readings"] += len(got.readings)
    return len(inside)
