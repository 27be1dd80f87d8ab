"""``retention``: drop whole daily partitions past their table's retention, create future ones.

Closed days are first compacted into blocks (``compact``); blocks of days past a table's
retention are deleted with its partitions.  Raw adverts keep ``retention.raw_days``, readings
``retention.readings_days`` and rejected messages ``retention.rejected_days`` (both default to
``raw_days``).  Nothing is deleted row by row except rows in a ``*_default`` partition (adverts
whose agent clock was far off) older than the cut-off, rollup rows past
``retention.rollup_1m_days`` / ``_1h_days`` / ``_1d_days`` (unset: kept forever), and the
small tables (``prune_rows``): ``scanner_activity`` buckets older than
``retention.activity_days``, alerts resolved more than ``retention.alerts_days`` ago with their
``alert_events``, and scanner commands older than ``retention.commands_days``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

from bt_mqtt.subscriber import history, partitions
from bt_mqtt.subscriber.compact import compact, drop_blocks_before
from bt_mqtt.subscriber.config import SubscriberConfig

log = logging.getLogger(__name__)

# table -> (rows that would go, delete): %(cut)s is the cut-off time
ROW_PRUNING: Final = {
    "scanner_activity": (
        "SELECT count(*) FROM scanner_activity WHERE bucket < %(cut)s",
        "DELETE FROM scanner_activity WHERE bucket < %(cut)s",
    ),
    "alert_events": (
        "SELECT count(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE a.state = 'resolved' AND a.resolved_at < %(cut)s",
        None,  # deleted with their alerts (ON DELETE CASCADE)
    ),
    "alerts": (
        "SELECT count(*) FROM alerts WHERE state = 'resolved' AND resolved_at < %(cut)s",
        "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < %(cut)s",
    ),
    # scanner commands and replies: by the newer of their two times
    "scanner_commands": (
        "SELECT count(*) FROM scanner_commands WHERE greatest(requested_at, replied_at) < %(cut)s",
        "DELETE FROM scanner_commands WHERE greatest(requested_at, replied_at) < %(cut)s",
    ),
}


def cutoffs(cfg: SubscriberConfig, now: datetime) -> dict[str, Any]:
    """The first day each partitioned table keeps."""
    today = partitions.day_of(now)
    return {
        "raw_advertisements": today - timedelta(days=cfg.retention.raw_days),
        "sensor_readings_hot": today - timedelta(days=cfg.readings_days),
        "rejected_messages": today - timedelta(days=cfg.rejected_days),
    }


def rollup_cutoffs(cfg: SubscriberConfig, now: datetime) -> dict[str, datetime | None]:
    """The first bucket each rollup table keeps (None: all)."""
    r = cfg.retention
    days = {"1m": r.rollup_1m_days, "1h": r.rollup_1h_days, "1d": r.rollup_1d_days}
    start = datetime.combine(partitions.day_of(now), datetime.min.time(), tzinfo=UTC)
    return {
        history.LEVELS[level]: None if d is None else start - timedelta(days=d)
        for level, d in days.items()
    }


def rollup_keep_from(cfg: SubscriberConfig, now: datetime) -> datetime:
    """The first minute the rollup job may recompute: older readings or 1-minute rollups may
    already be gone, and a few late readings must not replace full rollups."""
    start = datetime.combine(partitions.day_of(now), datetime.min.time(), tzinfo=UTC)
    minute_days = cfg.retention.rollup_1m_days
    days = cfg.readings_days if minute_days is None else min(cfg.readings_days, minute_days)
    return start - timedelta(days=days)


def row_cutoffs(cfg: SubscriberConfig, now: datetime) -> dict[str, datetime]:
    """The oldest time each table pruned row by row keeps (firing alerts are always kept)."""
    alerts = now - timedelta(days=cfg.retention.alerts_days)
    return {
        "scanner_activity": now - timedelta(days=cfg.retention.activity_days),
        "alert_events": alerts,
        "alerts": alerts,
        "scanner_commands": now - timedelta(days=cfg.retention.commands_days),
    }


def prune_rows(
    conn: psycopg.Connection[Any], cfg: SubscriberConfig, now: datetime, *, dry_run: bool
) -> dict[str, int]:
    """Delete (or count, with ``dry_run``) the small tables' rows past their cut-off (the
    alerts' and the scanner commands'); rows by table."""
    out: dict[str, int] = {}
    cuts = row_cutoffs(cfg, now)
    with conn.transaction():
        for table, (count, delete) in ROW_PRUNING.items():
            row = conn.execute(count, {"cut": cuts[table]}).fetchone()
            out[table] = int(row[0]) if row else 0
            if delete is not None and not dry_run and out[table]:
                conn.execute(delete, {"cut": cuts[table]})
            log.info(
                "%s: %s %d rows before %s",
                table,
                "would delete" if dry_run else "deleted",
                out[table],
                cuts[table],
                extra={"event": "rows_pruned", "table": table, "rows": out[table]},
            )
    return out


def run_retention(
    cfg: SubscriberConfig,
    conninfo: dict[str, Any],
    now: datetime,
    *,
    dry_run: bool = False,
    defaults: dict[str, tuple[int, int]] | None = None,
    pruned: dict[str, int] | None = None,
) -> dict[str, list[str]]:
    """Drop expired partitions (or list them with ``dry_run``); returns names by table.

    ``defaults``, when given, receives for each table's ``<table>_default`` partition (rows,
    rows before the cut-off, which are deleted): such rows are rare since the subscriber stores
    an implausible agent time as the arrival time (``clock``), but older data may hold some.
    ``pruned``, when given, receives the rows deleted from the small tables (``prune_rows``)."""
    out: dict[str, list[str]] = {}
    if not dry_run:  # closed days become blocks first (the rows' partitions are then empty)
        compact(conninfo, now, cfg.retention.hot_days)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        for table, cutoff in cutoffs(cfg, now).items():
            rows, expired = partitions.default_rows(conn, table, cutoff)
            if defaults is not None:
                defaults[f"{table}_default"] = (rows, expired)
            if rows:
                log.info(
                    "%s_default holds %d rows, %d before %s (%s)",
                    table,
                    rows,
                    expired,
                    cutoff,
                    "would delete" if dry_run else "deleted",
                    extra={"event": "default_partition", "rows": rows, "expired": expired},
                )
            if dry_run:
                out[table] = partitions.droppable(partitions.existing(conn, table), table, cutoff)
                for name in out[table]:
                    log.info("would drop %s", name, extra={"event": "partition_would_drop"})
            else:
                out[table] = partitions.drop_before(conn, table, cutoff)
        rollups = history.expire_rollups(conn, rollup_cutoffs(cfg, now), dry_run=dry_run)
        for table, rows in rollups.items():
            if rows:
                log.info(
                    "%s %d rows of %s",
                    "would delete" if dry_run else "deleted",
                    rows,
                    table,
                    extra={"event": "rollup_expired", "table": table, "rows": rows},
                )
        if not dry_run:
            partitions.ensure_ahead(conn, partitions.day_of(now), cfg.retention.future_days)
        cut = cutoffs(cfg, now)
        blocks = drop_blocks_before(
            conn, cut["raw_advertisements"], cut["sensor_readings_hot"], dry_run=dry_run
        )
        log.info(
            "%s blocks before the cut-off: %s",
            "would delete" if dry_run else "deleted",
            blocks,
            extra={"event": "blocks_expired", "blocks": blocks},
        )
        rows_pruned = prune_rows(conn, cfg, now, dry_run=dry_run)
        if pruned is not None:
            pruned.update(rows_pruned)
    total = sum(len(v) for v in out.values())
    log.info(
        "retention: %s %d partitions",
        "would drop" if dry_run else "dropped",
        total,
        extra={"event": "retention_done", "dropped": out},
    )
    return out
