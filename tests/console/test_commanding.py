"""Sending scanner commands from the Scanners screen: a real agent (replay backend, commands
on) on a real Mosquitto, the console's real commander; disruptive commands need a "y"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bt_mqtt.console.commanding import ConfirmScreen, mqtt_commander, parse_line
from bt_mqtt.core.mqttconfig import MqttConfig
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
