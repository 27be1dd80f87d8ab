"""Alerts in the console: the retained alert topics become a banner in every screen's status
line while firing; resolved or cleared alerts leave it; bad alert messages are rejected and
kept; outside text in an alert is drawn literally."""

from __future__ import annotations

import asyncio
import json

from bt_mqtt.console.decoding import RegistryDecoder
from bt_mqtt.console.feed import route
from bt_mqtt.console.screens import ScannersScreen
from bt_mqtt.console.state import ConsoleState, Limits
from bt_mqtt.subscriber.alertdeliver import alert_topic
from tests.console import helpers
from tests.console.test_screens import text_of
from tests.fixtures.mosquitto import Broker

PREFIX = helpers.PREFIX


def alert(state: str, message: str) -> bytes:
    return json.dumps(
        {"state": state, "since": "2026-01-05T09:00:00.000Z", "message": message}
    ).encode()


def test_route_knows_the_alert_topics_the_subscriber_builds() -> None:
    topic = alert_topic(PREFIX, "battery_low", "A4:C1:38:00:00:01")
    assert route(PREFIX, topic) == ("alert", "battery_low/A4:C1:38:00:00:01")
    assert route(PREFIX, f"{PREFIX}/alert/kind") is None
    assert route(PREFIX, f"{PREFIX}/alert/kind/a/b") is None


def test_state_keeps_firing_alerts_only() -> None:
    st = ConsoleState(RegistryDecoder(), Limits())
    st.ingest_alert("t", "scanner_offline/garden", alert("firing", "garden offline"), 1.0)
    st.ingest_alert("t", "battery_low/X", alert("firing", "battery 5 %"), 1.0)
    assert st.alerts == {"scanner_offline/garden": "garden offline", "battery_low/X": "battery 5 %"}
    st.ingest_alert("t", "scanner_offline/garden", alert("resolved", "garden back"), 2.0)
    st.ingest_alert("t", "battery_low/X", b"", 2.0)  # a retained message cleared
    assert st.alerts == {}
    st.ingest_alert("t", "x/y", b'{"state": "on fire"}', 3.0)
    st.ingest_alert("t", "x/y", b"[1]", 3.0)
    assert st.counters["rejected:bad_alert"] == 2 and st.alerts == {}


def test_banner_on_every_screen(mosquitto: Broker) -> None:
    async def main() -> None:
        app = helpers.make_app(mosquitto)
        async with app.run_test(size=(140, 30)) as pilot:
            await helpers.feed_fixed_data(app, mosquitto)
            assert "ALERT" not in text_of(app.screen, "#status")
            hostile = "garden offline \x1b[2J[bold]boom[/bold]"
            await helpers.publish(
                mosquitto,
                [(alert_topic(PREFIX, "scanner_offline", "garden"), alert("firing", hostile))],
                retain=True,
            )
            await helpers.wait_until(lambda: bool(app.state.alerts), "the alert")
            await pilot.pause(0.2)
            status = text_of(app.screen, "#status")
            assert "1 ALERT garden offline" in status
            assert "\x1b" not in status and "[bold]boom[/bold]" in status  # literally
            await app.switch_mode("scanners")
            await pilot.pause(0.2)
            assert isinstance(app.screen, ScannersScreen)
            assert "1 ALERT" in text_of(app.screen, "#status")
            await helpers.publish(
                mosquitto,
                [(alert_topic(PREFIX, "scanner_offline", "garden"), alert("resolved", "back"))],
                retain=True,
            )
            await helpers.wait_until(lambda: not app.state.alerts, "the alert resolved")
            await pilot.pause(0.2)
            assert "ALERT" not in text_of(app.screen, "#status")

    asyncio.run(main())
