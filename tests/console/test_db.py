"""The console's read-only database access against a real PostgreSQL with the real schema."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import psycopg
import pytest

from bt_mqtt.console.db import HistoryDb
from bt_mqtt.console.widgets import RowTable
from bt_mqtt.subscriber import partitions
from bt_mqtt.subscriber.compact import compact
from bt_mqtt.subscriber.migrate import migrate
from tests.console import helpers
from tests.console.test_screens import text_of
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

MAC = "A4:C1:38:00:00:01"


def _seed(url: str) -> None:
    migrate({"conninfo": url})
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(12):
            t = now - timedelta(hours=2 * i + 0.5)
            conn.execute(
                "INSERT INTO sensor_readings_hot (time, mac, scanner_id, parser, metric, value, "
                "advert_id) VALUES (%s, %s, 'kitchen', 'bthome', 'temperature_c', %s, %s)",
                (t, MAC, 20.0 + i, i),
            )
            conn.execute(
                "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, "
                "rssi, parser, payload) VALUES (%s, %s, 'kitchen', 'b', %s, %s, -60, %s, '{}')",
                (t, t, i, MAC, "bthome" if i % 3 else None),
            )
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen, name, parser, advert_count, facts) "
            "VALUES (%s, %s, %s, 'DIY-sensor', 'bthome', 12, %s)",
            (MAC, now - timedelta(days=1), now, json.dumps({"model": "x"})),
        )
        # kitchen published 1..12 in boot b and 1..3 in boot c; 5, 6, 11, 12 never arrived
        conn.execute(
            "INSERT INTO seq_ledger (scanner_id, boot, seqs, last_seq) VALUES "
            "('kitchen', 'b', '{[1,5),[7,11)}', 12), ('kitchen', 'c', '{[1,4)}', 2)"
        )


def test_history_registry_and_parser_totals(pg_database: str) -> None:
    _seed(pg_database)

    async def main() -> None:
        db = HistoryDb({"conninfo": pg_database})
        try:
            hist = await db.history(MAC, 24, 12)
            assert list(hist) == ["temperature_c"]
            series = hist["temperature_c"]
            assert len(series) == 12
            assert series[-1] == 20.0  # newest bucket holds the newest reading
            assert series[0] == 31.0  # oldest: 22.5 h ago
            assert await db.history("00:00:00:00:00:00", 24, 12) == {}
            dev = await db.device(MAC)
            assert dev is not None
            assert dev["name"] == "DIY-sensor"
            assert dev["advert_count"] == 12
            assert await db.device("00:00:00:00:00:00") is None
            totals = await db.parser_totals(48)
            assert totals == {"bthome": 8, "(unknown)": 4}
            # The session refuses writes even though this user could write.
            conn = await db._connection()
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await conn.execute("DELETE FROM devices")
        finally:
            await db.close()

    asyncio.run(main())


def test_history_reads_compacted_days_from_the_archive_blocks(pg_database: str) -> None:
    """The same chart once the days are compacted: the hot rows are gone, the blocks of the
    window's days hold the readings."""
    migrate({"conninfo": pg_database})
    today = datetime.now(UTC).date()
    with psycopg.connect(pg_database, autocommit=True) as conn:  # daily partitions get compacted
        for table in ("raw_advertisements", "sensor_readings_hot"):
            partitions.ensure(conn, table, [today - timedelta(days=d) for d in range(3)])
    _seed(pg_database)

    async def chart() -> dict[str, list[float]]:
        db = HistoryDb({"conninfo": pg_database})
        try:
            return await db.history(MAC, 24, 12)
        finally:
            await db.close()

    before = asyncio.run(chart())
    compact({"conninfo": pg_database}, datetime.now(UTC) + timedelta(days=4), 2)
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM sensor_readings_hot").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM reading_blocks").fetchone() != (0,)
    assert asyncio.run(chart()) == before and before["temperature_c"][-1] == 20.0


def test_documented_read_only_role_can_read_and_not_write(pg_database: str) -> None:
    _seed(pg_database)
    sql = resources.files("bt_mqtt.console").joinpath("readonly_role.sql").read_text()
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql.encode())
        conn.execute("ALTER ROLE btmqtt_console PASSWORD 'console-test'")
    url = pg_database.replace("postgres@", "btmqtt_console:console-test@", 1)

    async def main() -> None:
        db = HistoryDb({"conninfo": url})
        try:
            assert (await db.device(MAC) or {}).get("parser") == "bthome"
            assert await db.scanner_loss() == {"kitchen": 4}
        finally:
            await db.close()

    asyncio.run(main())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # even then: no privilege
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM devices")


def test_detail_and_parsers_screens_show_stored_history(
    pg_database: str, mosquitto: Broker
) -> None:
    _seed(pg_database)

    async def main() -> None:
        app = helpers.make_app(mosquitto, db=HistoryDb({"conninfo": pg_database}))
        async with app.run_test(size=(100, 40)) as pilot:
            await helpers.feed_fixed_data(app, mosquitto)
            app.open_device(MAC)
            await until(lambda: "History, last 24 h" in text_of(app.screen, "#history"), "history")
            shown = text_of(app.screen, "#history")
            assert "temperature_c" in shown
            assert "20..31" in shown
            assert "name=DIY-sensor" in shown
            await pilot.press("escape", "3")
            parsers = app.screen.query_one("#parsers", RowTable)
            await until(
                lambda: {r.key: r.cells[5] for r in parsers.rows}.get("bthome") == "8",
                "stored totals",
            )
            await until(lambda: "B/advert" in text_of(app.screen, "#storage"), "storage budget")
            assert "rollups" in text_of(app.screen, "#storage")
            await pilot.press("2")  # Scanners: adverts lost on the way, from the database
            scanners = app.screen.query_one(RowTable)
            await until(
                lambda: {r.key: r.cells[7] for r in scanners.rows}.get("kitchen") == "4",
                "lost adverts",
            )
            await pilot.pause()

    asyncio.run(main())
