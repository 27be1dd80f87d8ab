"""``retention`` prunes the alerts' tables: ``scanner_activity`` older than
``retention.activity_days`` and alerts resolved more than ``retention.alerts_days`` ago with
their events (firing alerts and recent rows stay); ``--dry-run`` lists and deletes nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.migrate import migrate
from bt_mqtt.subscriber.retention import run_retention


def _q(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def _fill(url: str, now: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for days in (1, 34, 36, 400):  # activity of 1, 34, 36 and 400 days ago
            conn.execute(
                "INSERT INTO scanner_activity (scanner_id, bucket, adverts, devices) "
                "VALUES ('garden', %s, 10, 2)",
                (now - timedelta(days=days),),
            )
        for kind, fired, resolved in (
            ("old", 500, 400),  # resolved 400 days ago: goes
            ("recent", 500, 10),  # resolved 10 days ago: stays
            ("still", 500, None),  # firing for 500 days: stays
        ):
            row = conn.execute(
                "INSERT INTO alerts (kind, subject, state, fired_at, resolved_at, message) "
                "VALUES (%s, 's', %s, %s, %s, 'm') RETURNING id",
                (
                    kind,
                    "firing" if resolved is None else "resolved",
                    now - timedelta(days=fired),
                    None if resolved is None else now - timedelta(days=resolved),
                ),
            ).fetchone()
            assert row is not None
            events: list[tuple[str, int | None]] = [("fired", fired), ("resolved", resolved)]
            for event, ago in events:
                if ago is not None:
                    conn.execute(
                        "INSERT INTO alert_events (alert_id, time, event) VALUES (%s, %s, %s)",
                        (row[0], now - timedelta(days=ago), event),
                    )


def test_retention_prunes_activity_and_old_resolved_alerts(
    pg_database: str, tmp_path: Path
) -> None:
    migrate({"conninfo": pg_database})
    now = datetime.now(UTC)
    _fill(pg_database, now)
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text(f"database: {{url: '{pg_database}'}}\n")
    argv = [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg_file)]
    out = subprocess.run(
        [*argv, "retention", "--dry-run"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "scanner_activity: would delete 2 rows" in out  # 36 and 400 days (default 35)
    assert "alerts: would delete 1 rows" in out
    assert "alert_events: would delete 2 rows" in out
    assert _q(pg_database, "SELECT count(*) FROM scanner_activity") == [(4,)]  # a dry run
    assert _q(pg_database, "SELECT count(*) FROM alert_events") == [(5,)]

    pruned: dict[str, int] = {}
    cfg_file.write_text(
        f"database: {{url: '{pg_database}'}}\nretention: {{activity_days: 30, alerts_days: 5}}\n"
    )
    run_retention(load_config(cfg_file, env={}), {"conninfo": pg_database}, now, pruned=pruned)
    assert pruned == {"scanner_activity": 3, "alert_events": 4, "alerts": 2, "scanner_commands": 0}
    assert _q(pg_database, "SELECT count(*) FROM scanner_activity") == [(1,)]
    assert _q(pg_database, "SELECT kind FROM alerts") == [("still",)]
    assert _q(pg_database, "SELECT event FROM alert_events") == [("fired",)]


def test_activity_days_must_cover_the_baselines(tmp_path: Path) -> None:
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text("retention: {activity_days: 3}\n")
    with pytest.raises(ConfigError, match=r"retention\.activity_days: 3 must be >= 8"):
        load_config(cfg_file, env={})


def test_retention_prunes_scanner_commands_by_their_newest_time(pg_database: str) -> None:
    """A command asked long ago but answered lately is kept; one asked and never answered, or a
    reply alone, is deleted once past ``retention.commands_days``."""
    migrate({"conninfo": pg_database})
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=400), now - timedelta(days=2)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for rid, asked, answered in (
            ("unanswered", old, None),
            ("answered-lately", old, recent),
            ("reply-alone", None, old),
            ("fresh", recent, recent),
        ):
            conn.execute(
                "INSERT INTO scanner_commands (request_id, scanner_id, verb, requested_at, "
                "replied_at) VALUES (%s, 'pi-1', 'status', %s, %s)",
                (rid, asked, answered),
            )
    pruned: dict[str, int] = {}
    run_retention(load_config(None, env={}), {"conninfo": pg_database}, now, pruned=pruned)
    assert pruned["scanner_commands"] == 2
    kept = _q(pg_database, "SELECT request_id FROM scanner_commands ORDER BY request_id")
    assert kept == [("answered-lately",), ("fresh",)]
