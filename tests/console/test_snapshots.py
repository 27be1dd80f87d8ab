"""SVG snapshots of every screen at 80x24, fed through a real Mosquitto with fixed data and a
fixed clock.  Update after an intended change with ``pytest tests/console --snapshot-update``
and look at the report before accepting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.console import helpers
from tests.fixtures.mosquitto import Broker

Snap = Callable[..., bool]


def _loader(broker: Broker, app: Any) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await helpers.feed_fixed_data(app, broker)
        await pilot.pause()

    return run_before


def _snap(snap_compare: Snap, broker: Broker, press: tuple[str, ...], **kw: Any) -> bool:
    app = helpers.make_app(broker, **kw)
    return snap_compare(app, press=press, terminal_size=(80, 24), run_before=_loader(broker, app))


def test_live_screen(snap_compare: Snap, mosquitto: Broker) -> None:
    assert _snap(snap_compare, mosquitto, ())


@pytest.mark.slow
def test_live_screen_filtered_16_colours(snap_compare: Snap, mosquitto: Broker) -> None:
    press = ("slash", *"parser:bthome", "enter", "r")
    assert _snap(snap_compare, mosquitto, press, ansi=True)


@pytest.mark.slow
def test_scanners_screen(snap_compare: Snap, mosquitto: Broker) -> None:
    assert _snap(snap_compare, mosquitto, ("2", "down"))


def test_parsers_screen(snap_compare: Snap, mosquitto: Broker) -> None:
    assert _snap(snap_compare, mosquitto, ("3",))


def test_tail_screen(snap_compare: Snap, mosquitto: Broker) -> None:
    assert _snap(snap_compare, mosquitto, ("4",))


@pytest.mark.slow
def test_device_detail_screen(snap_compare: Snap, mosquitto: Broker) -> None:
    press = ("slash", *"C7:3A:00:00:00:02", "enter", "enter")
    assert _snap(snap_compare, mosquitto, press)
