"""The status (heartbeat) model: one encoder, one lenient decoder."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bt_mqtt.core import status
from bt_mqtt.core.status import Adapter, Figures, Spool, Status

FIGURES = Figures(
    version="1.2.3",
    uptime_s=60.0,
    interval_s=30,
    adapter=Adapter("hci0", "00:11:22:33:44:55", True, False, "passive"),
    counters={"received": 10, "published": 7, "dropped_offline": 2, "bluez_errors": 1},
    last_seq=7,
    spool=Spool(depth=1, bytes=200, peak_depth=3, inflight=0, max_depth=20000, max_bytes=8),
    received_per_s=1.5,
    published_per_s=None,
    last_advert_age_s=0.25,
    devices_seen=4,
    devices_tracked=5,
    cpu_pct=None,
    rss_mb=30.5,
)
ONLINE = Status("online", "pi", "b00t", "2026-12-04T08:00:00.000Z", "host", None, FIGURES)


def test_online_status_wire_form() -> None:
    obj = json.loads(status.encode(ONLINE))
    assert obj == {
        "v": 1,
        "status": "online",
        "scanner_id": "pi",
        "boot": "b00t",
        "version": "1.2.3",
        "ts": "2026-12-04T08:00:00.000Z",
        "hostname": "host",
        "uptime_s": 60.0,
        "interval_s": 30,
        "adapter": {
            "name": "hci0",
            "address": "00:11:22:33:44:55",
            "powered": True,
            "discovering": False,
            "scan_mode": "passive",
        },
        "counters": {"received": 10, "published": 7, "dropped_offline": 2, "bluez_errors": 1},
        "last_seq": 7,
        "spool": {
            "depth": 1,
            "bytes": 200,
            "peak_depth": 3,
            "inflight": 0,
            "max_depth": 20000,
            "max_bytes": 8,
        },
        "received_per_s": 1.5,
        "published_per_s": None,
        "last_advert_age_s": 0.25,
        "devices_seen": 4,
        "devices_tracked": 5,
        "cpu_pct": None,
        "rss_mb": 30.5,
    }
    assert status.decode(obj) == ONLINE
    assert status.decode(obj).figures.drops() == 3  # type: ignore[union-attr]


def test_last_will_is_bare_and_round_trips() -> None:
    will = Status("offline", "pi", "b00t", hostname="host", reason="connection lost")
    obj = json.loads(status.encode(will))
    assert obj == {
        "v": 1,
        "status": "offline",
        "scanner_id": "pi",
        "boot": "b00t",
        "hostname": "host",
        "reason": "connection lost",
    }
    assert status.decode(obj) == will and status.decode(obj).figures is None


def test_shutdown_status_keeps_the_final_figures() -> None:
    final = Status("offline", "pi", "b00t", ONLINE.ts, "host", "shutdown", FIGURES)
    obj = json.loads(status.encode(final))
    assert obj["status"] == "offline" and obj["reason"] == "shutdown"
    assert obj["last_seq"] == 7 and obj["spool"]["depth"] == 1
    assert status.decode(obj) == final


def test_earlier_agents_and_older_field_names_are_read() -> None:
    old: dict[str, Any] = {
        "status": "online",
        "time": "2026-01-01T00:00:00Z",
        "heartbeat_interval_s": 15,
        "rates": {"received_per_s": 2.0},
        "published_per_s": 1.0,
        "counters": {"received": 1},
    }
    got = status.decode(old)
    assert got.v is None and got.ts == "2026-01-01T00:00:00Z"
    assert got.figures is not None
    assert got.figures.interval_s == 15.0
    assert (got.figures.received_per_s, got.figures.published_per_s) == (2.0, 1.0)
    assert got.figures.spool is None and got.figures.last_seq is None
    assert got.figures.drops() is None  # no drop counter reported: unknown, not zero


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("interval_s", 10**400, math.inf),  # beyond a double: the reader clamps it
        ("interval_s", -5, None),
        ("interval_s", 0, None),
        ("interval_s", True, None),
        ("interval_s", "60", None),
        ("cpu_pct", float("nan"), None),
        ("rss_mb", 10**400, None),
        ("last_advert_age_s", float("-inf"), None),
        ("last_seq", 7.5, None),
        ("devices_seen", False, None),
        ("version", 3, None),
    ],
)
def test_odd_values_read_as_absent(field: str, value: Any, read: Any) -> None:
    got = status.decode({"status": "online", field: value}).figures
    assert got is not None and getattr(got, field) == read


def test_odd_shapes_never_raise() -> None:
    got = status.decode(
        {
            "status": ["online"],
            "scanner_id": 5,
            "v": True,
            "adapter": {"name": [1], "powered": "yes", "scan_mode": {}},
            "counters": {"received": True, "dropped_backlog": 4, "x": "1", "y": 2.0},
            "spool": [1, 2],
            "rates": "fast",
        }
    )
    assert got.status == "" and got.scanner_id is None and got.v is None
    assert got.figures is not None
    assert got.figures.adapter == Adapter()
    assert got.figures.counters == {"dropped_backlog": 4}
    assert got.figures.spool is None
    assert status.decode({}) == Status("", v=None)
