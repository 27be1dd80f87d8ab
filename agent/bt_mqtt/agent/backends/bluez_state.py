"""The BlueZ adapter's scan state as a pure state machine: events in, actions out.

No D-Bus and no clock (``now`` is passed in), like ``watchdog.Watchdog``.  ``feed(event, now)``
returns the actions the asyncio shell (``bluez_scan.BluezScanControl``) must carry out;
``poll(now)`` those due by time (a failed setup is retried ``retry_s`` later, unless an event
asks for a setup sooner).  The shell reports what it finds and what BlueZ signals as events;
the watchdog and, later, remote commands ask for ``RESTART_SCAN`` and ``POWER_CYCLE`` the same
way.  ``state.value`` is what the heartbeat publishes as ``adapter.scan_mode``
(docs/mqtt-schema.md).  Counters go to the ``BackendStats`` given.
"""

from __future__ import annotations

import enum
from typing import Final

from bt_mqtt.agent.backends.base import BackendStats

RETRY_S: Final = 5.0


class ScanState(enum.Enum):
    """Where the adapter's scanning stands; the value is the heartbeat's ``scan_mode``."""

    STARTING = "starting"  # not set up yet
    BLUETOOTHD_ABSENT = "bluetoothd-absent"  # org.bluez is not on the bus
    NO_ADAPTER = "no-adapter"  # bluetoothd runs, the configured adapter is not there
    POWERED_OFF = "powered-off"
    PASSIVE = "passive"  # scanning through an AdvertisementMonitor
    ACTIVE = "active"  # scanning through discovery
    ERROR = "error"  # the last setup failed; retried after ``retry_s``


SCANNING: Final = frozenset({ScanState.PASSIVE, ScanState.ACTIVE})


class Event(enum.Enum):
    """What happened: found by the shell, signalled by BlueZ, or asked for."""

    CONNECTED = "connected"  # a (new) connection to the system bus
    BLUETOOTHD_APPEARED = "bluetoothd_appeared"  # NameOwnerChanged: org.bluez has an owner
    BLUETOOTHD_LEFT = "bluetoothd_left"  # NameOwnerChanged: org.bluez lost its owner
    BLUETOOTHD_ABSENT = "bluetoothd_absent"  # setup: org.bluez is not on the bus
    ADAPTER_MISSING = "adapter_missing"  # setup: the adapter is not among BlueZ's objects
    ADAPTER_ADDED = "adapter_added"  # InterfacesAdded: an adapter appeared
    ADAPTER_REMOVED = "adapter_removed"  # InterfacesRemoved: our adapter went away
    FOUND_POWERED_OFF = "found_powered_off"  # setup: the adapter is there, unpowered
    FOUND_POWERED_ON = "found_powered_on"  # setup: the adapter is there and powered
    SETUP_FAILED = "setup_failed"  # a D-Bus call of setup or scan start failed
    SCANNING_PASSIVE = "scanning_passive"  # the monitor is active
    SCANNING_ACTIVE = "scanning_active"  # discovery runs
    POWERED_ON = "powered_on"  # Adapter1.Powered changed to true
    POWERED_OFF = "powered_off"  # Adapter1.Powered changed to false
    DISCOVERY_ON = "discovery_on"  # Adapter1.Discovering is true
    DISCOVERY_OFF = "discovery_off"  # Adapter1.Discovering is false
    RESTART_SCAN = "restart_scan"  # asked for: stop and start scanning (watchdog step 1)
    POWER_CYCLE = "power_cycle"  # asked for: power the adapter off and on (watchdog step 2)
    SHUTDOWN = "shutdown"  # the backend stops


class Action(enum.Enum):
    """What the shell must do next."""

    SET_UP = "set_up"  # find the adapter (GetManagedObjects) and feed what was found
    FORGET = "forget"  # drop the cached devices and our monitor: BlueZ's objects are gone
    START_SCAN = "start_scan"  # monitor (passive) or discovery; feed SCANNING_* or SETUP_FAILED
    RESTART_SCAN = "restart_scan"  # stop scanning, then START_SCAN
    POWER_CYCLE = "power_cycle"  # Powered false then true; scanning returns with POWERED_ON
    STOP_SCAN = "stop_scan"  # unregister the monitor or stop discovery


class ScanMachine:
    """One adapter's scan state.  ``powered``/``discovering``: as last known (None: unknown);
    ``scanning``: a monitor or discovery session of ours is believed to run."""

    def __init__(self, stats: BackendStats | None = None, retry_s: float = RETRY_S) -> None:
        self.stats = stats if stats is not None else BackendStats()
        self.retry_s = retry_s
        self.state = ScanState.STARTING
        self.powered: bool | None = None
        self.discovering: bool | None = None
        self.scanning = False
        self.adapter_known = False
        self.retry_at: float | None = None

    def feed(self, event: Event, now: float) -> list[Action]:
        """Take one event; the actions to carry out, in order."""
        if event in _GONE:
            self.state = _GONE[event]
            self.adapter_known = False
            self.powered = self.discovering = None
            self.scanning = False
            if event is Event.BLUETOOTHD_LEFT:
                self.stats.bluez_errors += 1
            return [Action.FORGET]
        if event is Event.CONNECTED:
            self.scanning = False  # registrations died with the old connection
            return self._set_up()
        if event is Event.BLUETOOTHD_APPEARED:
            return self._set_up()
        if event is Event.ADAPTER_ADDED:
            return [] if self.adapter_known else self._set_up()
        if event is Event.FOUND_POWERED_OFF:
            self.adapter_known = True
            self._power_lost()
            return []
        if event is Event.FOUND_POWERED_ON:
            self.adapter_known = True
            self.powered = True
            return [] if self.scanning else [Action.START_SCAN]
        if event in _ADAPTER_EVENTS and not self.adapter_known:
            return []  # about an adapter we do not have (any more): nothing to do
        if event is Event.SETUP_FAILED:
            self.stats.bluez_errors += 1
            self.state = ScanState.ERROR
            self.scanning = False
            self.retry_at = now + self.retry_s
            return []
        if event is Event.SCANNING_PASSIVE or event is Event.SCANNING_ACTIVE:
            self.scanning = True
            self.state = ScanState.PASSIVE if event is Event.SCANNING_PASSIVE else ScanState.ACTIVE
            return []
        if event is Event.POWERED_OFF:
            self._power_lost()
            return []
        if event is Event.POWERED_ON:
            was, self.powered = self.powered, True
            if was is False:
                self.stats.adapter_resets += 1
                self.scanning = False
                return self._set_up()
            return []
        if event is Event.DISCOVERY_ON:
            self.discovering = True
            return []
        if event is Event.DISCOVERY_OFF:
            self.discovering = False
            if self.state is ScanState.ACTIVE and self.scanning and self.powered:
                self.stats.discovery_restarts += 1  # bluetoothd ended our discovery
                self.scanning = False
                return self._set_up()
            return []
        if event is Event.RESTART_SCAN:
            self.stats.discovery_restarts += 1
            self.scanning = False
            return [Action.RESTART_SCAN]
        if event is Event.POWER_CYCLE:
            self.stats.adapter_resets += 1
            self.scanning = False  # the radio goes off: scanning again once it is back on
            return [Action.POWER_CYCLE]
        if event is Event.SHUTDOWN:
            was, self.scanning = self.scanning, False
            return [Action.STOP_SCAN] if was else []
        raise ValueError(f"unknown scan event {event!r}")

    def poll(self, now: float) -> list[Action]:
        """The actions due by ``now`` (the retry of a failed setup)."""
        if self.retry_at is not None and now >= self.retry_at:
            return self._set_up()
        return []

    def wait_s(self, now: float, idle_s: float) -> float:
        """How long the shell may sleep before ``poll`` has something (at most ``idle_s``)."""
        if self.retry_at is None:
            return idle_s
        return max(0.0, min(idle_s, self.retry_at - now))

    def _set_up(self) -> list[Action]:
        self.retry_at = None  # a setup now replaces the pending retry
        return [Action.SET_UP]

    def _power_lost(self) -> None:
        self.powered = False
        self.scanning = False
        self.state = ScanState.POWERED_OFF


# Reports about our adapter, meaningless before it is found or after it is forgotten.
_ADAPTER_EVENTS: Final = frozenset(
    {
        Event.SCANNING_PASSIVE,
        Event.SCANNING_ACTIVE,
        Event.POWERED_ON,
        Event.POWERED_OFF,
        Event.DISCOVERY_ON,
        Event.DISCOVERY_OFF,
        Event.RESTART_SCAN,
        Event.POWER_CYCLE,
    }
)
_GONE: Final = {
    Event.BLUETOOTHD_LEFT: ScanState.BLUETOOTHD_ABSENT,
    Event.BLUETOOTHD_ABSENT: ScanState.BLUETOOTHD_ABSENT,
    Event.ADAPTER_MISSING: ScanState.NO_ADAPTER,
    Event.ADAPTER_REMOVED: ScanState.NO_ADAPTER,
}
