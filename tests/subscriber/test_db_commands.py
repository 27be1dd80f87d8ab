"""migrate, retention and reprocess against a real PostgreSQL; the CLI's exit codes."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from bt_mqtt.subscriber import partitions
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.devicesettings import DeviceSettings
from bt_mqtt.subscriber.migrate import MigrationError, load_migrations, migrate, pending
from bt_mqtt.subscriber.reprocess import progress_line, reprocess
from bt_mqtt.subscriber.retention import run_retention

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _ci(url: str) -> dict[str, object]:
    return {"conninfo": url}


def _names() -> list[str]:
    return [m.filename for m in load_migrations()]


def test_migrate_applies_once_and_records_checksums(pg_database: str) -> None:
    assert _names()[:2] == ["0001_initial.sql", "0002_hostile_input.sql"]
    assert pending(_ci(pg_database)) == _names()
    assert migrate(_ci(pg_database)) == _names()
    assert migrate(_ci(pg_database)) == []
    assert pending(_ci(pg_database)) == []
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT checksum FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.checksum for m in load_migrations()]


def test_concurrent_migrate_applies_each_file_once(pg_database: str) -> None:
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(migrate(_ci(pg_database)))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, len(_names())]


def test_edited_applied_migration_is_refused(pg_database: str, tmp_path: Path) -> None:
    folder = tmp_path / "migs"
    folder.mkdir()
    (folder / "0001_initial.sql").write_text((MIGRATIONS / "0001_initial.sql").read_text())
    migrate(_ci(pg_database), folder)
    (folder / "0001_initial.sql").write_text(
        (MIGRATIONS / "0001_initial.sql").read_text() + "\n-- edited\n"
    )
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(_ci(pg_database), folder)
    (folder / "0001_initial.sql").write_text((MIGRATIONS / "0001_initial.sql").read_text())
    (folder / "0002_more.sql").write_text("CREATE TABLE extra (x int);")
    assert migrate(_ci(pg_database), folder) == ["0002_more.sql"]
    (folder / "0002_more.sql").unlink()
    with pytest.raises(MigrationError, match="newer than this program"):
        migrate(_ci(pg_database), folder)


def test_run_refuses_out_of_date_schema(pg_database: str, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {pg_database}\nlog:\n  format: text\n")
    res = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert f"{', '.join(_names())} pending" in res.stderr


def _insert_raw(conn: psycopg.Connection[Any], when: datetime, seq: int) -> None:
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    payload = (
        f'{{"v":1,"scanner_id":"s1","boot":"b","seq":{seq},"ts":"{ts}",'
        '"mac":"A4:C1:38:00:00:01","rssi":-50,"service_data":'
        f'{{"0000fcd2-0000-1000-8000-00805f9b34fb":"4000{seq:02x}016402ca09"}}}}'
    )
    conn.execute(
        "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, payload)"
        " VALUES (%s, %s, 's1', 'b', %s, 'A4:C1:38:00:00:01', %s::jsonb)",
        (when, when, seq, payload),
    )


def test_retention_drops_whole_partitions_and_creates_ahead(pg_database: str) -> None:
    migrate(_ci(pg_database))
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    old = now - timedelta(days=100)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        partitions.ensure(conn, "raw_advertisements", [old.date(), now.date()])
        _insert_raw(conn, old, 1)
        _insert_raw(conn, now, 2)
        # a far-off clock lands in the default partition and moves when its day is created
        later = now + timedelta(days=3)
        _insert_raw(conn, later, 3)
        assert partitions.ensure(conn, "raw_advertisements", [later.date()]) == [later.date()]
        n_default = conn.execute("SELECT count(*) FROM raw_advertisements_default").fetchone()
        assert n_default == (0,)
    cfg = load_config(None, env={})
    plan = run_retention(cfg, _ci(pg_database), now, dry_run=True)
    assert plan["raw_advertisements"] == ["raw_advertisements_" + old.strftime("%Y%m%d")]
    run_retention(cfg, _ci(pg_database), now)
    with psycopg.connect(pg_database) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM raw_advertisements ORDER BY seq")]
        assert seqs == [2, 3]
        days = partitions.existing_days(conn, "sensor_readings")
    assert {now.date() + timedelta(days=d) for d in range(-1, 8)} <= days


def test_reprocess_replaces_readings_idempotently(pg_database: str) -> None:
    migrate(_ci(pg_database))
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        partitions.ensure(conn, "raw_advertisements", [now.date()])
        partitions.ensure(conn, "sensor_readings", [now.date()])
        for seq in range(1, 11):  # seq starts at 1 (wire v1)
            _insert_raw(conn, now + timedelta(seconds=seq), seq)
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen) "
            "VALUES ('A4:C1:38:00:00:01', now(), now())"
        )
    cfg = load_config(None, env={})
    since, until = now - timedelta(minutes=1), now + timedelta(minutes=1)
    out = io.StringIO()
    counts = reprocess(cfg, _ci(pg_database), since, until, out=out)
    assert counts["adverts"] == 10 and counts["touched"] == 10
    assert "10/10" in out.getvalue() and "adverts/s" in out.getvalue()
    with psycopg.connect(pg_database) as conn:
        first = conn.execute(
            "SELECT advert_id, metric, value FROM sensor_readings ORDER BY 1, 2"
        ).fetchall()
    assert len(first) == 20  # battery + temperature per advert
    reprocess(cfg, _ci(pg_database), since, until, out=io.StringIO())
    reprocess(
        cfg,
        _ci(pg_database),
        since,
        until,
        mac="A4:C1:38:00:00:01",
        parser="bthome",
        out=io.StringIO(),
    )
    with psycopg.connect(pg_database) as conn:
        again = conn.execute(
            "SELECT advert_id, metric, value FROM sensor_readings ORDER BY 1, 2"
        ).fetchall()
        parsers = conn.execute("SELECT DISTINCT parser FROM raw_advertisements").fetchall()
        dev = conn.execute("SELECT parser FROM devices").fetchone()
    assert again == first
    assert parsers == [("bthome",)]
    assert dev == ("bthome",)
    none = reprocess(cfg, _ci(pg_database), since, until, parser="ruuvi", out=io.StringIO())
    assert none["touched"] == 0


def test_reprocess_applies_the_current_device_settings(pg_database: str) -> None:
    migrate(_ci(pg_database))
    now = datetime.now(UTC).replace(microsecond=0)
    mac = "A4:C1:38:00:00:01"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        partitions.ensure(conn, "raw_advertisements", [now.date()])
        partitions.ensure(conn, "sensor_readings", [now.date()])
        for seq in (1, 2):
            _insert_raw(conn, now + timedelta(seconds=seq), seq)
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen) VALUES (%s, now(), now())", (mac,)
        )
    since, until = now - timedelta(minutes=1), now + timedelta(minutes=1)

    def state() -> tuple[list[tuple[Any, ...]], Any, int]:
        with psycopg.connect(pg_database) as conn:
            values = conn.execute(
                "SELECT metric, value FROM sensor_readings ORDER BY advert_id, metric"
            ).fetchall()
            last = conn.execute("SELECT last_readings FROM devices").fetchone()
            raw = conn.execute("SELECT count(*) FROM raw_advertisements").fetchone()
        return values, last[0] if last else None, int(raw[0]) if raw else 0

    corrected = attrs.evolve(
        load_config(None, env={}), devices={mac: DeviceSettings(offsets={"temperature_c": 1.5})}
    )
    reprocess(corrected, _ci(pg_database), since, until, out=io.StringIO())
    values, last, raw = state()
    expect = [("battery_pct", 100.0), ("temperature_c", pytest.approx(26.56))] * 2  # 25.06+1.5
    assert values == expect
    assert last["temperature_c"] == pytest.approx(26.56) and raw == 2
    ignored = attrs.evolve(corrected, devices={mac: DeviceSettings(ignore=True)})
    counts = reprocess(ignored, _ci(pg_database), since, until, out=io.StringIO())
    values, _, raw = state()
    assert values == [] and raw == 2 and counts["readings"] == 0  # archived, no readings
    reprocess(load_config(None, env={}), _ci(pg_database), since, until, out=io.StringIO())
    values, last, _ = state()
    assert values[1] == ("temperature_c", pytest.approx(25.06))
    assert last["temperature_c"] == pytest.approx(25.06)


def test_progress_line() -> None:
    line = progress_line(500, 1000, 2.0)
    assert "500/1000" in line and " 50.0%" in line and "250 adverts/s" in line
    assert "ETA 0m02s" in line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ingest:\n  batch_size: many\n", "ingest.batch_size"),
        ("mqtt:\n  share_group: 'a b'\n", "share_group"),
        ("databse:\n  url: x\n", "databse"),
        ("parsers:\n  bindkeys: {'AA:BB:CC:DD:EE:FF': 'zz'}\n", "parsers.bindkeys"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    res = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert key in res.stderr


def test_env_overrides_database_url(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("database:\n  url: postgresql://nowhere/x\n")
    got = load_config(cfg, env={"BT_MQTT_DATABASE_URL": "postgresql://h/db"})
    assert got.database.url == "postgresql://h/db"
    bad = tmp_path / "d.yaml"
    bad.write_text("")
    with pytest.raises(Exception, match="BT_MQTT_DATABASE_URL"):
        load_config(bad, env={"BT_MQTT_DATABASE_URL": "mysql://h/db"})


def test_cli_help_version_and_usage() -> None:
    run = [sys.executable, "-m", "bt_mqtt.subscriber.main"]
    res = subprocess.run([*run, "--help"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "reprocess" in res.stdout
    res = subprocess.run([*run, "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "bt-mqtt-subscriber" in res.stdout
    res = subprocess.run(
        [*run, "reprocess", "--since", "yesterday"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2


def test_partition_arithmetic() -> None:
    today = date(2026, 3, 10)
    lo, hi = partitions.window(today, 90, 7)
    assert (lo, hi) == (date(2025, 12, 10), date(2026, 3, 17))
    assert partitions.needed([date(2026, 3, 11), date(1970, 1, 1)], lo, hi, set()) == [
        date(2026, 3, 11)
    ]
    names = [
        "raw_advertisements_20251209",
        "raw_advertisements_20251210",
        "raw_advertisements_default",
    ]
    assert partitions.droppable(names, "raw_advertisements", lo) == ["raw_advertisements_20251209"]
