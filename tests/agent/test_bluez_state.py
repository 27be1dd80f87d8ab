"""The BlueZ scan state machine alone: events in, actions out, no bus, no clock."""

from __future__ import annotations

import pytest

from bt_mqtt.agent.backends.base import BackendStats
from bt_mqtt.agent.backends.bluez_state import Action, Event, ScanMachine, ScanState

E = Event
A = Action


def scanning(mode: Event = E.SCANNING_ACTIVE) -> ScanMachine:
    """A machine that connected, found its adapter powered and started scanning."""
    m = ScanMachine(BackendStats(), retry_s=5.0)
    assert m.feed(E.CONNECTED, 0) == [A.SET_UP]
    assert m.feed(E.FOUND_POWERED_ON, 0) == [A.START_SCAN]
    assert m.feed(E.DISCOVERY_OFF, 0) == []
    assert m.feed(mode, 0) == []
    assert m.scanning and m.powered is True
    return m


def test_heartbeat_strings_are_the_documented_scan_modes() -> None:
    assert {s.value for s in ScanState} == {
        "starting",
        "bluetoothd-absent",
        "no-adapter",
        "powered-off",
        "passive",
        "active",
        "error",
    }


def test_start_up_to_scanning() -> None:
    m = ScanMachine()
    assert m.state is ScanState.STARTING and m.powered is None
    m = scanning(E.SCANNING_PASSIVE)
    assert m.state is ScanState.PASSIVE
    assert m.stats == BackendStats()  # nothing counted on the way


def test_found_unpowered_waits_for_power_then_sets_up_again() -> None:
    m = ScanMachine()
    m.feed(E.CONNECTED, 0)
    assert m.feed(E.POWERED_ON, 0) == []  # no adapter yet: not about ours
    assert m.feed(E.FOUND_POWERED_OFF, 0) == []
    assert (m.state, m.powered, m.scanning) == (ScanState.POWERED_OFF, False, False)
    assert m.feed(E.POWERED_ON, 1) == [A.SET_UP]
    assert m.stats.adapter_resets == 1
    assert m.feed(E.FOUND_POWERED_ON, 1) == [A.START_SCAN]


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (E.BLUETOOTHD_LEFT, ScanState.BLUETOOTHD_ABSENT),
        (E.BLUETOOTHD_ABSENT, ScanState.BLUETOOTHD_ABSENT),
        (E.ADAPTER_MISSING, ScanState.NO_ADAPTER),
        (E.ADAPTER_REMOVED, ScanState.NO_ADAPTER),
    ],
)
def test_bluez_or_adapter_gone_forgets_everything(event: Event, state: ScanState) -> None:
    m = scanning()
    assert m.feed(event, 0) == [A.FORGET]
    assert (m.state, m.powered, m.discovering, m.scanning) == (state, None, None, False)
    assert m.stats.bluez_errors == (1 if event is E.BLUETOOTHD_LEFT else 0)
    # nothing to restart or power-cycle until an adapter is found again
    assert m.feed(E.RESTART_SCAN, 0) == [] and m.feed(E.POWER_CYCLE, 0) == []
    assert m.stats.discovery_restarts == m.stats.adapter_resets == 0


def test_bluetoothd_or_an_adapter_coming_back_sets_up() -> None:
    m = scanning()
    m.feed(E.BLUETOOTHD_LEFT, 0)
    assert m.feed(E.BLUETOOTHD_APPEARED, 1) == [A.SET_UP]
    m.feed(E.ADAPTER_MISSING, 1)
    assert m.feed(E.ADAPTER_ADDED, 2) == [A.SET_UP]
    m.feed(E.FOUND_POWERED_ON, 2)
    assert m.feed(E.ADAPTER_ADDED, 3) == []  # another adapter: ours is there already


def test_failed_setup_is_retried_after_the_injected_delay() -> None:
    m = ScanMachine(retry_s=0.25)
    m.feed(E.CONNECTED, 10.0)
    assert m.feed(E.SETUP_FAILED, 10.0) == []
    assert m.state is ScanState.ERROR and m.stats.bluez_errors == 1
    assert m.wait_s(10.0, 5.0) == pytest.approx(0.25)
    assert m.poll(10.2) == []
    assert m.poll(10.25) == [A.SET_UP]
    assert m.poll(20.0) == []  # once
    assert m.wait_s(20.0, 5.0) == 5.0


def test_an_event_asking_for_setup_replaces_the_pending_retry() -> None:
    m = ScanMachine(retry_s=5.0)
    m.feed(E.SETUP_FAILED, 0.0)
    assert m.feed(E.BLUETOOTHD_APPEARED, 1.0) == [A.SET_UP]
    assert m.poll(6.0) == []


def test_power_loss_and_return() -> None:
    m = scanning()
    assert m.feed(E.POWERED_OFF, 0) == []
    assert (m.state, m.powered, m.scanning) == (ScanState.POWERED_OFF, False, False)
    assert m.feed(E.DISCOVERY_OFF, 0) == []  # not ours to restart: the radio is off
    assert m.feed(E.POWERED_ON, 1) == [A.SET_UP]
    assert m.stats.adapter_resets == 1 and m.stats.discovery_restarts == 0
    assert m.feed(E.POWERED_ON, 1) == []  # already on: nothing


def test_discovery_ended_by_bluetoothd_is_restarted_in_active_mode_only() -> None:
    m = scanning(E.SCANNING_ACTIVE)
    assert m.feed(E.DISCOVERY_ON, 0) == []
    assert m.discovering is True
    assert m.feed(E.DISCOVERY_OFF, 1) == [A.SET_UP]
    assert m.stats.discovery_restarts == 1 and not m.scanning
    assert m.feed(E.FOUND_POWERED_ON, 1) == [A.START_SCAN]
    passive = scanning(E.SCANNING_PASSIVE)
    assert passive.feed(E.DISCOVERY_OFF, 1) == []  # a monitor needs no discovery session
    assert passive.stats.discovery_restarts == 0


def test_requested_restart_and_power_cycle() -> None:
    """What the watchdog (and a remote command) feeds: one action each, counted."""
    m = scanning(E.SCANNING_ACTIVE)
    assert m.feed(E.RESTART_SCAN, 0) == [A.RESTART_SCAN]
    assert m.stats.discovery_restarts == 1
    assert m.feed(E.DISCOVERY_OFF, 0) == []  # our own StopDiscovery: not restarted again
    assert m.feed(E.SCANNING_ACTIVE, 0) == []
    assert m.feed(E.POWER_CYCLE, 1) == [A.POWER_CYCLE]
    assert m.stats.adapter_resets == 1 and not m.scanning  # until it is back
    assert m.feed(E.POWERED_OFF, 1) == []
    assert m.feed(E.POWERED_ON, 1) == [A.SET_UP]
    assert m.stats.adapter_resets == 2  # the power cycle and the power return, as before


def test_new_connection_starts_scanning_afresh() -> None:
    m = scanning()
    assert m.feed(E.CONNECTED, 0) == [A.SET_UP]
    assert m.feed(E.FOUND_POWERED_ON, 0) == [A.START_SCAN]


def test_shutdown_stops_only_what_runs() -> None:
    assert scanning().feed(E.SHUTDOWN, 0) == [A.STOP_SCAN]
    assert ScanMachine().feed(E.SHUTDOWN, 0) == []


def test_every_event_is_handled_in_every_state() -> None:
    """No event raises or leaves the machine inconsistent, whatever came before."""
    for first in Event:
        for second in Event:
            m = scanning()
            m.feed(first, 0)
            m.feed(second, 0)
            if m.scanning:
                assert m.state in (ScanState.PASSIVE, ScanState.ACTIVE) and m.adapter_known
            if not m.adapter_known:  # nothing known about a radio we do not have
                assert not m.scanning and m.powered is None and m.discovering is None
