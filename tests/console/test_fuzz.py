"""Fuzzing the console's edge (issue 11): whatever arrives on MQTT — raw adverts, heartbeats
(retained or not), anything under the prefix, and over-the-air content (names, manufacturer and
service data, hence decoded facts) — the console lives, shows good data beside the bad, counts
every rejection, and draws nothing from outside as a control sequence or as markup.

Three layers, from many cheap examples to a few end-to-end ones: the pure state core and its
views; every screen drawn by Pilot from that core; and the same through a real Mosquitto."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from textual.pilot import Pilot

from bt_mqtt.console import health, views
from bt_mqtt.console.app import ConsoleApp
from bt_mqtt.console.decoding import RegistryDecoder
from bt_mqtt.console.detail import DeviceScreen, advert_table, readings_table, scanners_table
from bt_mqtt.console.feed import MqttFeed
from bt_mqtt.console.state import ConsoleState
from bt_mqtt.console.views import Thresholds
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.safetext import is_safe
from tests.console import helpers, hostile
from tests.console.terminal import (
    RecordingDriver,
    recorded,
    screen_problems,
    screen_text,
    terminal_problems,
)
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

CLOCK = helpers.CLOCK
GOOD_MAC = "A4:C1:38:00:00:01"
GOOD = [
    helpers.advert_messages()[0],  # a BTHome thermometer heard by the kitchen scanner
    (f"{helpers.PREFIX}/scanner/kitchen/status", json.dumps(helpers.heartbeat("kitchen")).encode()),
]
DEVICE_SCREENS = 6  # opened per example (each costs a quarter of a second)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


def good_data_shown(state: ConsoleState) -> None:
    dev = state.devices[GOOD_MAC]
    assert dev.readings["temperature_c"] == 21.5
    assert state.scanners["kitchen"].status is not None


def accounted(state: ConsoleState) -> int:
    c = state.counters
    rejected = sum(v for k, v in c.items() if k.startswith("rejected:"))
    return c["adverts"] + c["heartbeats"] + c["status_cleared"] + rejected


def drawn_problems(renderable: Any) -> list[str]:
    """Control characters, hyperlinks or actions in ``renderable`` as Rich draws it."""
    console = Console(width=120, file=io.StringIO(), record=True, color_system="truecolor")
    console.print(renderable)
    problems = []
    for seg in console._record_buffer:
        if not is_safe(seg.text.replace("\n", "")):
            problems.append(f"unsafe {seg.text!r}")
        if seg.style is not None and (seg.style.link or seg.style.meta):
            problems.append(f"link or action {seg.style!r}")
    return problems


# -- the pure core ------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(hostile.messages(max_size=12))
def test_the_state_takes_anything_and_its_views_draw_it(batch: list[tuple[str, bytes]]) -> None:
    app = ConsoleApp(ConsoleState(RegistryDecoder()), None, clock=lambda: CLOCK)
    app.ingest(batch, CLOCK - 1)
    app.ingest(GOOD, CLOCK)
    state = app.state
    good_data_shown(state)
    # Every message is taken in or rejected and counted (empty retained heartbeats: cleared).
    assert accounted(state) == len(batch) + 2
    for row in [
        *views.live_rows(list(state.devices.values()), CLOCK),
        *views.parser_rows(state, CLOCK),
        *views.unknown_rows(state, 1000),
        *views.tail_rows(state, CLOCK, 500),
        *health.scanner_rows(state, CLOCK, Thresholds()),
    ]:
        assert all(isinstance(cell, str) for cell in row.cells)
    for dev in state.devices.values():
        for table in (advert_table(dev), readings_table(dev), scanners_table(dev, CLOCK)):
            assert drawn_problems(table) == []
    for sc in state.scanners.values():
        assert drawn_problems(health.scanner_detail(sc)) == []
    for entry in state.tail:  # what is kept of rejected payloads is escaped and bounded
        assert is_safe(entry.text) and (entry.error is None or is_safe(entry.error))


def test_every_message_is_routed_or_counted() -> None:
    app = ConsoleApp(ConsoleState(RegistryDecoder()), None, clock=lambda: CLOCK)
    app.ingest([("bt-mqtt/raw/a/b", b"{}"), ("other/raw/a", b"{}")], CLOCK)
    assert app.state.counters["rejected:bad_topic"] == 2
    # a scanner id the subscriber refuses is refused here too (one topic module)
    odd = ["bt-mqtt/raw/BAD ID", "bt-mqtt/scanner/\u202e/status", "bt-mqtt/raw/", "bt-mqtt/raw/+"]
    odd += ["bt-mqtt/command/s1", "bt-mqtt/scanner/s1/reply", "bt-mqtt/alert/BAD KIND/s1"]
    alert = "bt-mqtt/alert/scanner_offline/s1"  # an alert topic, with a payload that is not one
    app.ingest([(t, b'{"status":"online"}') for t in [*odd, alert]], CLOCK)
    assert app.state.counters["rejected:bad_topic"] == 2 + len(odd)
    assert app.state.counters["rejected:bad_alert"] == 1 and app.state.alerts == {}
    assert app.state.scanners == {} and app.state.counters["heartbeats"] == 0


# -- every screen, drawn ------------------------------------------------------------------------


async def check(app: ConsoleApp, pilot: Pilot[None], *keys: str) -> str:
    if keys:
        await pilot.press(*keys)
    app.redraw()
    await pilot.pause()
    assert screen_problems(app) == []
    assert terminal_problems(recorded(app)) == []
    return screen_text(app)


async def visit_every_screen(app: ConsoleApp, pilot: Pilot[None]) -> None:
    """Live, Tail, Parsers, Scanners (each scanner's heartbeat selected in turn), the device
    screens of the newest hostile devices, and the command palette listing them: each drawn
    and checked."""
    live = await check(app, pilot, "1")
    assert GOOD_MAC in live  # the newest device is on top
    await check(app, pilot, "4")
    await check(app, pilot, "3")
    await check(app, pilot, "tab")
    await check(app, pilot, "2", "home")
    for _ in range(len(app.state.scanners)):
        await check(app, pilot, "down")
    assert "kitchen" in screen_text(app)
    await check(app, pilot, "1")
    hostile_macs = [mac for mac in app.state.devices if mac != GOOD_MAC]
    for mac in hostile_macs[-DEVICE_SCREENS:]:
        app.open_device(mac)
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)
        await check(app, pilot)
        app.pop_screen()
    await check(app, pilot, "ctrl+p", *"Dev")
    await pilot.pause(0.2)
    await check(app, pilot)
    await check(app, pilot, "escape")


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=SLOW)
@given(hostile.messages(max_size=14))
def test_every_screen_draws_anything_safely(batch: list[tuple[str, bytes]]) -> None:
    async def main() -> None:
        app = ConsoleApp(ConsoleState(RegistryDecoder()), None, clock=lambda: CLOCK, fps=2)
        app.driver_class = RecordingDriver
        async with app.run_test(size=(120, 40), headless=False) as pilot:
            app.ingest(batch, CLOCK - 1)
            app.ingest(GOOD, CLOCK)
            good_data_shown(app.state)
            await visit_every_screen(app, pilot)
            assert app.is_running

    asyncio.run(main())


# -- through a real broker ----------------------------------------------------------------------

# What Mosquitto accepts in a topic: no control characters, surrogates or non-characters; a
# level holds no "/", "+" or "#".
topic_text = st.one_of(
    st.sampled_from(["kitchen", "[/]", "[@click=app.quit]", "evil\u202etxt", "\u2066\u200b"]),
    st.text(
        st.characters(
            codec="utf-8",
            exclude_categories=("Cc", "Cs"),
            exclude_characters="+#/\ufffe\uffff",
        ).filter(lambda c: not 0xFDD0 <= ord(c) <= 0xFDEF and (ord(c) & 0xFFFE) != 0xFFFE),
        min_size=1,
        max_size=24,
    ),
)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
@given(
    batch=hostile.messages(prefix="PREFIX", topic_text=topic_text, max_size=14),
    retained=hostile.messages(prefix="PREFIX", topic_text=topic_text, max_size=4),
)
def test_through_a_real_broker(
    mosquitto: Broker, batch: list[tuple[str, bytes]], retained: list[tuple[str, bytes]]
) -> None:
    prefix = f"fz{uuid.uuid4().hex[:8]}"  # a fresh tree: nothing retained from other examples

    def here(messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [(t.replace("PREFIX", prefix, 1), p) for t, p in messages]

    good = [(t.replace(helpers.PREFIX, prefix, 1), p) for t, p in GOOD]

    async def main() -> None:
        await helpers.publish(mosquitto, here(retained), retain=True)  # there at start-up
        cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=prefix)
        source = MqttFeed(cfg)
        app = ConsoleApp(ConsoleState(RegistryDecoder()), source, clock=lambda: CLOCK, fps=2)
        app.driver_class = RecordingDriver
        async with app.run_test(size=(120, 40), headless=False) as pilot:
            await until(lambda: app.connected, "the console to connect")
            probe = (f"{prefix}/raw/probe", b"probe")
            while not any(e.topic == probe[0] for e in app.state.tail):
                await helpers.publish(mosquitto, [probe])
                await asyncio.sleep(0.05)
            await helpers.publish(mosquitto, here(batch))
            await helpers.publish(mosquitto, good)  # after the bad, in order
            await until(lambda: GOOD_MAC in app.state.devices, "the good advert")
            await until(lambda: "kitchen" in app.state.scanners, "good heartbeat")
            good_data_shown(app.state)
            await visit_every_screen(app, pilot)
            assert app.is_running

    asyncio.run(main())
