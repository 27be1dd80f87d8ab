"""Hostile input through a real Mosquitto: one message never stops the console, and nothing
from outside reaches the terminal as a control sequence or as markup (issue 11).

Each screen is checked as drawn (``terminal.screen_problems``: no control or format character,
no hyperlink, no click action in any segment) and as written to the driver
(``terminal.terminal_problems``: no escape sequence Textual did not write itself)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from bt_mqtt.console.app import ConsoleApp
from bt_mqtt.console.detail import DeviceScreen
from bt_mqtt.console.feed import MqttFeed
from bt_mqtt.console.screens import LiveScreen, ScannersScreen, TailScreen
from bt_mqtt.console.state import ConsoleState
from bt_mqtt.console.widgets import RowTable
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.safetext import escape
from tests.console import helpers
from tests.console.hostile import (
    BTHOME,
    NASTY,
    OSC_TITLE,
    advert_obj,
    bthome_text,
    raw,
    status,
)
from tests.console.terminal import (
    RecordingDriver,
    recorded,
    screen_problems,
    screen_text,
    terminal_problems,
)
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

Body = Callable[[ConsoleApp, Pilot[None]], Awaitable[None]]
SIZE = (160, 45)


def accounted(state: ConsoleState) -> int:
    """Messages the state took in or rejected (each is one or the other)."""
    c = state.counters
    rejected = sum(v for k, v in c.items() if k.startswith("rejected:"))
    return c["adverts"] + c["heartbeats"] + c["status_cleared"] + rejected


def run(
    broker: Broker,
    hostile: list[tuple[str, bytes]],
    body: Body,
    *,
    retained: list[tuple[str, bytes]] | None = None,
) -> None:
    """Start a console on ``broker`` (after publishing ``retained``), feed the fixed good data,
    then ``hostile``, and run ``body`` once every hostile message is accounted for."""

    async def main() -> None:
        if retained:
            await helpers.publish(broker, retained, retain=True)
        app = helpers.make_app(broker, fps=2)  # each check redraws; no need for more
        app.driver_class = RecordingDriver
        async with app.run_test(size=SIZE, headless=False) as pilot:
            await helpers.feed_fixed_data(app, broker)
            base = accounted(app.state)
            await helpers.publish(broker, hostile)
            await until(
                lambda: accounted(app.state) >= base + len(hostile), "hostile messages counted"
            )
            app.redraw()
            await pilot.pause()
            await body(app, pilot)
            assert app.is_running
        assert not app.return_code  # an error inside the app would also be raised here

    asyncio.run(main())


async def show(app: ConsoleApp, pilot: Pilot[None], *keys: str) -> str:
    """Press ``keys``, redraw, check the screen and the terminal output; the screen's text."""
    if keys:
        await pilot.press(*keys)
    app.redraw()
    await pilot.pause()
    assert screen_problems(app) == []
    assert terminal_problems(recorded(app)) == []
    return screen_text(app)


async def open_device(app: ConsoleApp, pilot: Pilot[None], mac: str) -> str:
    app.open_device(mac)
    await pilot.pause()
    assert isinstance(app.screen, DeviceScreen)
    text = await show(app, pilot)
    app.pop_screen()
    await pilot.pause()
    return text


# -- one message never stops the console --------------------------------------------------------

GOOD_MAC = "A4:C1:38:00:00:01"  # from the fixed data: a BTHome thermometer


@pytest.mark.parametrize(
    ("hostile", "keys", "mac"),
    [
        pytest.param([("bt-mqtt/raw/kitchen", b"[" * 5000)], ("4",), None, id="nested-raw"),
        pytest.param(
            [raw(advert_obj("AA:BB:CC:DD:EE:01", mfr={"²": "00"}))], ("4",), None, id="key-²"
        ),
        pytest.param(
            [status("attic", helpers.heartbeat("attic", hostname="x[/]"))],
            ("2", "home"),
            None,
            id="heartbeat-x[/]",
        ),
        pytest.param(
            [raw(advert_obj("AA:BB:CC:DD:EE:02", name="[/]"))],
            (),
            "AA:BB:CC:DD:EE:02",
            id="name-[/]-opened",
        ),
        pytest.param(
            [raw(advert_obj("AA:BB:CC:DD:EE:03", name="[link=http://e.vil]x"))],
            (),
            "AA:BB:CC:DD:EE:03",
            id="name-link-opened",
        ),
        pytest.param(
            [raw(advert_obj("AA:BB:CC:DD:EE:04", svc={BTHOME: bthome_text(b"[/]")}))],
            (),
            "AA:BB:CC:DD:EE:04",
            id="bthome-text-[/]",
        ),
        pytest.param(
            [raw(advert_obj("AA:BB:CC:DD:EE:05", seq=n, rssi=10**400)) for n in (1, 2)],
            ("4",),
            None,
            id="rssi-10^400-twice",
        ),
    ],
)
def test_one_message_does_not_stop_the_console(
    mosquitto: Broker, hostile: list[tuple[str, bytes]], keys: tuple[str, ...], mac: str | None
) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await show(app, pilot, *keys)
        if mac is not None:
            await open_device(app, pilot, mac)
        # Good data beside the bad is still there, and new data still arrives.
        await show(app, pilot, "1")
        assert GOOD_MAC in screen_text(app)
        extra = json.loads(helpers.advert_messages()[0][1])
        extra.update(mac="DE:AD:BE:EF:00:01", seq=1000)
        await helpers.publish(mosquitto, [raw(extra)])
        await until(lambda: "DE:AD:BE:EF:00:01" in app.state.devices, "new advert")

    run(mosquitto, hostile, body)


def test_a_retained_hostile_status_does_not_stop_the_console_at_start_up(
    mosquitto: Broker,
) -> None:
    retained = [status("garden", b"[" * 5000), status("porch", b'{"x": "[/]' + b"[" * 5000)]

    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        assert app.state.counters["rejected:bad_status"] == 2
        tail = await show(app, pilot, "4")
        assert "REJECTED bad_status" in tail
        rows = app.screen.query_one(RowTable).rows
        assert any(r.cells[1] == "bt-mqtt/scanner/garden/status" for r in rows)
        scanners = await show(app, pilot, "2")
        assert "kitchen" in scanners  # the good heartbeats are shown

    run(mosquitto, [], body, retained=retained)


def test_too_large_and_too_deep_heartbeats_are_rejected_and_kept(mosquitto: Broker) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    hostile = [status("attic", {"status": "online", "x": "y" * 20_000}), status("shed", deep)]

    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        assert app.state.counters["rejected:bad_status"] == 2
        tail = await show(app, pilot, "4")
        assert "REJECTED bad_status: payload is 20" in tail
        assert "REJECTED bad_status: status is nested deeper than 32 levels" in tail

    run(mosquitto, hostile, body)


# -- nothing from outside reaches the terminal --------------------------------------------------


def _nasty_adverts() -> list[tuple[str, bytes]]:
    """Two adverts per nasty string: one (66:...) with it as the name and as a BTHome text
    object (decoded into facts), one (55:...) with it as the name and manufacturer data under
    its own company id, so that it heads an unknown group on the Parsers screen."""
    out = []
    for i, nasty in enumerate(NASTY):
        text = bthome_text(nasty.encode("utf-8", "surrogatepass")[:24])
        mac = f"66:00:00:00:00:{i:02X}"
        out.append(raw(advert_obj(mac, seq=100 + i, name=nasty, svc={BTHOME: text})))
        mac = f"55:00:00:00:00:{i:02X}"
        out.append(raw(advert_obj(mac, seq=200 + i, name=nasty, mfr={str(0x1000 + i): "0102"})))
    return out


@pytest.mark.slow
def test_names_and_decoded_facts_are_escaped_and_literal_on_every_screen(
    mosquitto: Broker,
) -> None:
    hostile = _nasty_adverts()

    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        live = await show(app, pilot, "1")
        assert isinstance(app.screen, LiveScreen)
        assert "66:00:00:00:00:00" in live
        good = await show(app, pilot, "slash", *"A4:C1", "enter")
        assert GOOD_MAC in good and "21.5°C" in good  # good data beside the bad
        await show(app, pilot, "escape")
        await show(app, pilot, "s", "s", "s")  # sorted by name: other rows on screen
        await show(app, pilot, "3")  # Parsers: unknown groups show example names
        tail = await show(app, pilot, "4")
        assert "name='\\x1b]0;PWN\\x07'" in tail
        await show(app, pilot, "ctrl+p", *"Device 66")  # the palette lists names
        await pilot.pause(0.3)
        await show(app, pilot)
        await show(app, pilot, "escape")
        for i, nasty in enumerate(NASTY):
            device = await open_device(app, pilot, f"66:00:00:00:00:{i:02X}")
            # The name in the status line and in the advert, the text object in the facts.
            assert device.count(escape(nasty)[:40]) >= 2, (nasty, device)
            text = nasty.encode("utf-8", "surrogatepass")[:24].decode("utf-8", "replace")
            assert "Decoded by bthome" in device
            assert escape(text)[:30] in device, (nasty, device)
        assert app.state.counters["adverts"] >= len(hostile)

    run(mosquitto, hostile, body)


def test_heartbeats_and_rejected_payloads_are_escaped_and_literal(mosquitto: Broker) -> None:
    beat: dict[str, Any] = {
        "hostname": OSC_TITLE,
        "note": "[reverse]x[/] \u202eevil",
        "adapter": {"name": "[@click=app.quit]hci0", "scan_mode": "\x1b[2J", "powered": True},
    }  # first, so the detail pane shows them
    beat.update((k, v) for k, v in helpers.heartbeat("attic").items() if k not in beat)
    rejected = [
        ("bt-mqtt/raw/kitchen", b"\x1b]52;c;cm0gLXJmIH4=\x07 \xff\xfe [link=http://e.vil]x"),
        ("bt-mqtt/raw/kitchen", b'{"v": 1, "scanner_id": "kitchen", "x": "\x1b]0;PWN\x07"}'),
        status("porch", b"\x1b[2J not json"),
    ]

    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        scanners = await show(app, pilot, "2", "home")
        assert isinstance(app.screen, ScannersScreen)
        assert "[@click=app.quit]hci0" in scanners  # literal, not an action
        assert "hostname=\\x1b]0;PWN\\x07" in scanners
        assert "note=[reverse]x[/] \\u202eevil" in scanners
        await show(app, pilot, "4")
        assert isinstance(app.screen, TailScreen)
        messages = [r.cells[2] for r in app.screen.query_one(RowTable).rows]
        assert any(
            m.startswith("REJECTED invalid_utf8")
            and m.endswith("\\x1b]52;c;cm0gLXJmIH4=\\x07 \\xff\\xfe [link=http://e.vil]x")
            for m in messages
        ), messages
        assert any(m.endswith(": \\x1b[2J not json") for m in messages), messages

    run(mosquitto, [status("attic", beat), *rejected], body)


def test_a_click_on_hostile_markup_does_nothing(mosquitto: Broker) -> None:
    mac = "66:00:00:00:00:AA"
    hostile = [raw(advert_obj(mac, name="[@click=app.quit]" + "Q" * 80))]

    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        app.open_device(mac)
        await pilot.pause()
        text = await show(app, pilot)
        row = next(i for i, line in enumerate(text.splitlines()) if "QQQQ" in line)
        await pilot.click(offset=(60, row))
        await pilot.click(offset=(60, 0))  # the status line shows the name too
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)

    run(mosquitto, hostile, body)


def test_the_backlog_is_bounded_in_bytes(mosquitto: Broker) -> None:
    """Huge payloads while the app is not draining: kept up to the byte bound, the rest
    counted as dropped."""

    async def main() -> None:
        cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=helpers.PREFIX)
        feed = MqttFeed(cfg, max_backlog_bytes=3_000_000)
        await feed.start()
        try:
            await until(lambda: feed.connected, "the feed to connect")
            await helpers.publish(mosquitto, [("bt-mqtt/raw/probe", b"x")])  # subscribed?
            await until(lambda: feed.received == 1, "the probe")
            big = [("bt-mqtt/raw/kitchen", bytes([i]) * 1_000_000) for i in range(8)]
            await helpers.publish(mosquitto, big)
            await until(lambda: feed.received == 9, "the big messages")
            assert feed.pending_bytes <= 3_000_000
            assert len(feed.pending) == 3  # the probe and two megabytes
            assert feed.dropped == 6
            feed.drain()
            assert feed.pending_bytes == 0
        finally:
            await feed.stop()

    asyncio.run(main())
