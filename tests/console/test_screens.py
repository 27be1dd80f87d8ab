"""Pilot-driven behaviour of each screen, fed through a real Mosquitto."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rich.console import Console
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Static

from bt_mqtt.console.app import ConsoleApp
from bt_mqtt.console.detail import DeviceScreen
from bt_mqtt.console.screens import LiveScreen, ParsersScreen, ScannersScreen, TailScreen
from bt_mqtt.console.widgets import RowTable
from tests.console import helpers
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

Body = Callable[[ConsoleApp, Pilot[None]], Awaitable[None]]


def run(broker: Broker, body: Body, size: tuple[int, int] = (100, 30), **kw: Any) -> None:
    async def main() -> None:
        app = helpers.make_app(broker, **kw)
        async with app.run_test(size=size) as pilot:
            await helpers.feed_fixed_data(app, broker)
            await pilot.pause()
            await body(app, pilot)

    asyncio.run(main())


def table(app: ConsoleApp, selector: str = "RowTable") -> RowTable:
    return app.screen.query_one(selector, RowTable)


def macs(app: ConsoleApp) -> list[str]:
    return [r.key for r in table(app).rows]


def text_of(screen: Any, selector: str) -> str:
    """The plain text a Static shows (Rich renderables rendered at 100 columns); "" if absent."""
    try:
        content = screen.query_one(selector, Static).content
    except NoMatches:
        return ""
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


def test_live_lists_every_device_with_decoded_values(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        assert isinstance(app.screen, LiveScreen)
        rows = {r.key: r for r in table(app).rows}
        assert len(rows) == 10
        bthome = rows["A4:C1:38:00:00:01"]
        assert bthome.cells[2] == "bthome"
        assert "21.5°C" in bthome.cells[3]
        assert bthome.cells[7] == "2:attic,kitchen"  # heard by two scanners
        assert bthome.cells[4].startswith("-59")  # the strongest scanner's RSSI
        assert rows["6E:11:22:33:44:01"].cells[2] == "unknown"
        assert rows["6E:11:22:33:44:01"].cls == "unknown"

    run(mosquitto, body)


@pytest.mark.slow
def test_live_filter_by_text_parser_scanner_and_known(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("slash")
        await type_text(pilot, "ruuvi")
        await pilot.press("enter")
        assert macs(app) == ["C7:3A:00:00:00:02", "C7:3A:00:00:00:03"]
        await pilot.press("escape")
        assert len(macs(app)) == 10
        await pilot.press("slash")
        await type_text(pilot, "scanner:garage")
        await pilot.press("enter")
        assert sorted(macs(app)) == ["00:1A:7D:DA:71:05", "A4:C1:38:00:00:05"]
        await pilot.press("escape", "u")  # cycle: known only
        assert len(macs(app)) == 5
        assert all(r.cls == "" for r in table(app).rows)
        await pilot.press("u")  # unknown only
        assert len(macs(app)) == 5
        assert all(r.cells[2] == "unknown" for r in table(app).rows)
        await pilot.press("u")  # all again
        assert len(macs(app)) == 10
        assert "10 shown" in text_of(app.screen, "#status")

    run(mosquitto, body)


def test_live_sorting_cycles_and_reverses(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        live = app.screen
        assert isinstance(live, LiveScreen)
        await pilot.press("s")  # seen -> rssi
        assert live.sort == "rssi"
        rssis = [int(r.cells[4][:3]) for r in table(app).rows]
        assert rssis == sorted(rssis, reverse=True)
        assert macs(app)[0] == "6E:11:22:33:44:01"  # -50 dBm
        await pilot.press("r")
        assert macs(app)[0] == "00:1A:7D:DA:71:05"  # -91 dBm
        await pilot.press("s", "s", "r")  # rate, name
        assert live.sort == "name"
        names = [r.cells[1] for r in table(app).rows if r.cells[1]]
        assert names == sorted(names, key=str.lower)

    run(mosquitto, body)


def test_live_pause_freezes_the_table(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("p")
        assert app.paused
        extra = helpers.advert_messages()[:1]
        topic, payload = extra[0]
        msg = json.loads(payload)
        msg["mac"], msg["seq"] = "DE:AD:BE:EF:00:01", 999
        await helpers.publish(mosquitto, [(topic, json.dumps(msg).encode())])
        await until(lambda: "DE:AD:BE:EF:00:01" in app.state.devices, "ingest")
        await pilot.pause(0.2)
        assert "DE:AD:BE:EF:00:01" not in macs(app)  # still ingested, not drawn
        assert "PAUSED" in text_of(app.screen, "#status")
        await pilot.press("p")
        assert "DE:AD:BE:EF:00:01" in macs(app)

    run(mosquitto, body)


@pytest.mark.slow
def test_live_drill_down_to_device_detail_and_back(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("slash")
        await type_text(pilot, "C7:3A:00:00:00:02")
        await pilot.press("enter", "enter")
        screen = app.screen
        assert isinstance(screen, DeviceScreen)
        assert screen.mac == "C7:3A:00:00:00:02"
        await pilot.pause()
        advert = text_of(screen, "#advert")
        assert "mfr 0x0499" in advert
        assert "05 " in advert  # data format 5, byte by byte
        readings = text_of(screen, "#readings")
        assert "Decoded by ruuvi" in readings
        assert "temperature_c" in readings
        assert "pressure_hpa" in readings
        assert "kitchen" in text_of(screen, "#scanners")
        assert "no database configured" in text_of(screen, "#history")
        await pilot.press("escape")
        assert isinstance(app.screen, LiveScreen)

    run(mosquitto, body)


@pytest.mark.slow
def test_scanners_show_health_and_highlight_problems(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("2")
        assert isinstance(app.screen, ScannersScreen)
        rows = {r.key: r for r in table(app).rows}
        assert {k: r.cells[1] for k, r in rows.items()} == {
            "attic": "online",
            "garage": "offline",
            "kitchen": "online",
            "porch": "silent",
            "shed": "stale",
        }
        assert {k: r.cls for k, r in rows.items()} == {
            "attic": "",
            "garage": "offline",
            "kitchen": "",
            "porch": "silent",
            "shed": "stale",
        }
        assert rows["kitchen"].cells[3] == "12.5"  # received/s from the heartbeat
        assert rows["shed"].cells[9] == "93.0"  # CPU
        # The offline row is drawn in the offline style, not the plain one.
        tbl = table(app)
        offline_style = tbl.get_component_rich_style("rowtable--offline", partial=True)
        index = [r.key for r in tbl.rows].index("garage")
        strip = tbl.render_line(index + 1)
        assert any(seg.style and seg.style.color == offline_style.color for seg in strip)
        # The scanner going offline (its last will) is picked up live.
        offline = json.dumps(helpers.heartbeat("kitchen", status="offline")).encode()
        await helpers.publish(mosquitto, [("bt-mqtt/scanner/kitchen/status", offline)], True)
        await until(
            lambda: {r.key: r.cells[1] for r in table(app).rows}["kitchen"] == "offline",
            "kitchen shown offline",
        )
        # Enter on a scanner shows its devices on the Live screen.
        await pilot.press("end", "enter")  # shed: no adverts
        assert isinstance(app.screen, LiveScreen)
        assert macs(app) == []
        assert app.screen.filter.scanners == ("shed",)

    run(mosquitto, body)


def test_parsers_count_hits_and_group_unknown(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("3")
        assert isinstance(app.screen, ParsersScreen)
        hits = {r.key: r.cells[1] for r in table(app, "#parsers").rows}
        assert hits == {"bthome": "4", "ruuvi": "2", "ibeacon": "1", "(unknown)": "5"}
        unknown = {r.key: r for r in table(app, "#unknown").rows}
        assert unknown["company:0x004C"].cells[2:5] == ("Apple", "2", "2")
        assert unknown["company:0x0006"].cells[3] == "1"
        assert unknown["service:0000fe2c-0000-1000-8000-00805f9b34fb"].cells[1] == "0xFE2C"
        assert table(app, "#unknown").rows[0].key == "company:0x004C"  # most devices first
        await pilot.press("enter")  # bthome -> Live filtered by parser
        assert isinstance(app.screen, LiveScreen)
        assert sorted(macs(app)) == ["A4:C1:38:00:00:01", "A4:C1:38:00:00:05"]

    run(mosquitto, body)


@pytest.mark.slow
def test_tail_shows_newest_first_including_rejected(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await helpers.publish(mosquitto, [("bt-mqtt/raw/kitchen", b'{"v": 1}')])
        await until(lambda: app.state.counters["rejected:missing_field"] == 1, "rejection counted")
        await pilot.press("4")
        assert isinstance(app.screen, TailScreen)
        await pilot.pause()
        first = table(app).rows[0]
        assert first.cls == "error"
        assert "REJECTED missing_field" in first.cells[2]
        assert "1 rej" in text_of(app.screen, "#status")
        advert = table(app).rows[1]
        assert advert.cells[2].startswith("00:1A:7D:DA:71:05")
        await pilot.press("down", "enter")
        assert isinstance(app.screen, DeviceScreen)
        assert app.screen.mac == "00:1A:7D:DA:71:05"

    run(mosquitto, body)


@pytest.mark.slow
def test_command_palette_opens_a_device(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+p")
        await type_text(pilot, "Ruuvi 0003")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, DeviceScreen), "device screen")
        assert isinstance(app.screen, DeviceScreen)
        assert app.screen.mac == "C7:3A:00:00:00:03"

    run(mosquitto, body)


def test_usable_at_80x24(mosquitto: Broker) -> None:
    async def body(app: ConsoleApp, pilot: Pilot[None]) -> None:
        tbl = table(app)
        assert tbl.size.height >= 20  # status, filter and footer take one line each
        header = tbl.render_line(0).text
        for title in ("MAC", "Parser", "Values", "RSSI", "Seen"):
            assert title in header
        assert len(header) == 80

    run(mosquitto, body, size=(80, 24))
