"""Sending scanner commands from the Scanners screen: a real agent (replay backend, commands
on) on a real Mosquitto, the console's real commander; disruptive commands need a "y"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from bt_mqtt.console.commanding import ConfirmScreen, mqtt_commander, parse_line, recent_text
from bt_mqtt.console.db import HistoryDb
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.subscriber.migrate import migrate
from tests.agent.helpers import agent_config, start_agent, write_config, write_replay
from tests.console import helpers
from tests.console.test_screens import text_of, type_text
from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import stop_process
from tests.fixtures.waiting import until

SID = "cons-pi"


def test_parse_line() -> None:
    assert parse_line("set-dedup window_s=5 max_entries=10") == (
        "set-dedup",
        {"window_s": 5, "max_entries": 10},
    )
    assert parse_line("""set-filters '{"min_rssi": -80}'""") == ("set-filters", {"min_rssi": -80})
    for bad, why in (("", "type a command"), ("fly", "not one of"), ("status x", "key=value")):
        with pytest.raises(ValueError, match=why):
            parse_line(bad)


def test_the_scanners_screen_sends_commands_and_confirms_disruptive_ones(
    tmp_path: Path, mosquitto: Broker
) -> None:
    replay = write_replay(tmp_path / "replay.jsonl", [{"mac": "C0:FF:EE:00:00:01", "rssi": -60}])
    conf = agent_config(mosquitto, replay, SID, commands={"enabled": True})
    conf["bluetooth"]["replay"]["loop"] = True
    agent = start_agent(write_config(tmp_path / "agent.yaml", conf), tmp_path / "agent.log")
    commander = mqtt_commander(MqttConfig(host=mosquitto.host, port=mosquitto.port), None, 10)

    async def main() -> None:
        app = helpers.make_app(mosquitto, commander=commander)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(lambda: SID in app.state.scanners, "the agent's heartbeat", 30)
            await pilot.press("2")
            await pilot.pause()
            await pilot.press("c")
            await type_text(pilot, "set-dedup window_s=3")
            await pilot.press("enter")
            await until(lambda: "set-dedup: ok" in text_of(app.screen, "#detail"), "the reply", 15)
            await pilot.press("c")
            await type_text(pilot, "restart-agent")
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("n")
            await until(lambda: "not sent" in text_of(app.screen, "#detail"), "cancelled")
            assert agent.poll() is None
            await pilot.press("c")
            await type_text(pilot, "restart-agent")
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y")
            await until(
                lambda: "restart-agent: ok" in text_of(app.screen, "#detail"), "the reply", 15
            )

    try:
        asyncio.run(main())
        assert agent.wait(20) == 4
    finally:
        stop_process(agent)


def test_recent_commands_from_the_database(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for i, (ok, error) in enumerate(((True, None), (False, "bad\x1b[31m"), (None, None))):
            conn.execute(
                "INSERT INTO scanner_commands (request_id, scanner_id, verb, requested_at, ok,"
                " error, requested_by) VALUES (%s, %s, 'status', now(), %s, %s, 'ops@srv')",
                (f"r{i}", SID, ok, error),
            )
        conn.execute("INSERT INTO scanner_commands (request_id, scanner_id) VALUES ('o', 'other')")

    async def main() -> list[dict[str, object]]:
        db = HistoryDb({"conninfo": pg_database})
        try:
            return await db.recent_commands(SID, 2)
        finally:
            await db.close()

    rows = asyncio.run(main())
    assert [(r["ok"], r["by"]) for r in rows] == [(None, "ops@srv"), (False, "ops@srv")]
    text = recent_text(rows).plain
    assert "status pending by ops@srv" in text and "failed: bad" in text
    assert "\x1b" not in text
