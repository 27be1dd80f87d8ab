"""The storage budget: the pure arithmetic, a real database, the CLI and the metrics."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bt_mqtt.subscriber import budget
from bt_mqtt.subscriber.compact import compact
from bt_mqtt.subscriber.metrics import Metrics, render
from bt_mqtt.subscriber.migrate import migrate
from tests.subscriber.historyload import ingest, stream


def test_compute_divides_by_adverts_and_days_held() -> None:
    rows = [
        ("raw_advertisements", "raw_advertisements_20260301", 3000, 10),
        ("raw_advertisements", "raw_advertisements_20260302", 5000, 30),
        ("raw_advertisements", "raw_advertisements_20260303", 800, -1),  # never analysed
        ("raw_advertisements", "raw_advertisements_default", 800, 0),
        ("sensor_readings", "sensor_readings_20260301", 2000, 20),
        ("devices", "devices", 400, 2),
    ]
    b = budget.compute(rows)
    assert (b.adverts, b.days, b.total) == (40, 2, 12000)
    by = {t.table: t for t in b.tables}
    assert by["raw_advertisements"].bytes == 9600
    assert by["raw_advertisements"].per_advert == 240.0
    assert by["raw_advertisements"].per_day == 4800.0
    assert by["devices"].per_advert == 10.0 and by["devices"].rows == 2
    assert by["sensor_readings"].per_day == 1000.0
    text = budget.render(b)
    assert "40 adverts over 2 days" in text and "240.0" in text


def test_compute_counts_the_compact_archives_adverts_and_days() -> None:
    """Compacted days hold no rows in raw_advertisements: their adverts come from raw_blocks'
    per-day counts, and a day with both (a late advert after compaction) counts once."""
    b = budget.compute(
        [
            ("raw_advertisements", "raw_advertisements_20260303", 1000, 10),
            ("raw_advertisements", "raw_advertisements_20260301", 100, 1),
            ("raw_blocks", "raw_blocks", 600, 4),
            ("raw_blocks", "raw_blocks/2026-03-01", 0, 500),
            ("raw_blocks", "raw_blocks/2026-03-02", 0, 489),
        ]
    )
    assert (b.adverts, b.days, b.total) == (1000, 3, 1700)
    by = {t.table: t for t in b.tables}
    assert by["raw_blocks"].rows == 4 and by["raw_blocks"].per_advert == 0.6


def test_compute_of_an_empty_database_divides_by_nothing() -> None:
    b = budget.compute([("devices", "devices", 8192, 0)])
    assert b.tables[0].per_advert == 0.0 and b.tables[0].per_day == 0.0


def _budget(url: str) -> budget.Budget:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        return budget.measure(conn)


def test_measure_on_a_real_database(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    ingest(pg_database, stream(300, step_s=600))  # Mar 1 22:50 .. Mar 4 00:40
    b = _budget(pg_database)
    with psycopg.connect(pg_database) as conn:
        size = conn.execute(
            "SELECT sum(pg_total_relation_size(inhrelid))::bigint FROM pg_inherits "
            "WHERE inhparent = 'sensor_readings_hot'::regclass"
        ).fetchone()
    assert b.adverts == 600 and b.days == 4
    assert size is not None
    by = {t.table: t for t in b.tables}
    assert by["sensor_readings_hot"].bytes == size[0]
    assert by["sensor_readings_hot"].per_advert == pytest.approx(size[0] / 600)
    assert by["sensor_readings_hot"].per_day == pytest.approx(size[0] / 4)
    assert {"readings_1m", "readings_1h", "readings_1d", "rollup_marks"} <= set(by)
    assert "latest_readings" not in by and "sensor_readings" not in by  # views: no bytes
    # compacted into the archive's blocks, the same adverts and days are held
    compact({"conninfo": pg_database}, datetime(2026, 3, 10, tzinfo=UTC), 2)
    after = _budget(pg_database)
    assert (after.adverts, after.days) == (600, 4)
    blocks = {t.table: t for t in after.tables}
    assert blocks["raw_blocks"].bytes > 0 and blocks["reading_blocks"].bytes > 0


def test_retention_dry_run_prints_the_budget(pg_database: str, tmp_path: Path) -> None:
    migrate({"conninfo": pg_database})
    ingest(pg_database, stream(50))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("ANALYZE")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {pg_database}\n")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bt_mqtt.subscriber.main",
            "--config",
            str(cfg),
            "retention",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "100 adverts over 1 days held" in res.stdout
    assert "bytes/advert" in res.stdout and "readings_1m" in res.stdout


def test_metrics_show_the_budget() -> None:
    m = Metrics()
    assert "table_bytes" not in render(m)
    m.storage = budget.compute([("raw_advertisements", "raw_advertisements_20260301", 1500, 10)])
    text = render(m)
    assert 'btmqtt_subscriber_table_bytes{table="raw_advertisements"} 1500.0' in text
    assert 'btmqtt_subscriber_table_bytes_per_advert{table="raw_advertisements"} 150.0' in text
    assert 'btmqtt_subscriber_table_bytes_per_day{table="raw_advertisements"} 1500.0' in text
    assert "btmqtt_subscriber_archive_adverts 10" in text


def test_summary_groups_archive_readings_and_rollups() -> None:
    b = budget.compute(
        [
            ("raw_advertisements", "raw_advertisements_20260301", 2048, 4),
            ("sensor_readings_hot", "sensor_readings_hot_20260301", 1024, 8),
            ("readings_1m", "readings_1m", 512, 3),
            ("readings_1h", "readings_1h", 512, 1),
        ]
    )
    line = budget.summary(b)
    assert line.startswith("Storage 4.0 kB: 4 adverts over 1 days, 1,024 B/advert, 4.0 kB/day")
    assert "archive 2.0 kB, readings 1.0 kB, rollups 1.0 kB" in line
