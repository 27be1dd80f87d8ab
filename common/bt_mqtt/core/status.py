"""The scanner status message (``{prefix}/scanner/{id}/status``): one model, one encoder, one
lenient decoder.  See docs/mqtt-schema.md, "Status (heartbeat)".

A status is ``online`` (a heartbeat, with its ``Figures``) or ``offline`` (the last will, bare,
or a clean stop, with the final heartbeat's figures and a ``reason``).  Version 1 carries
``"v": 1``; agents before the field existed sent the same fields without it.

``encode`` writes what the agent publishes.  ``decode`` reads any JSON object a broker hands
over, from agents of any version or from anyone who can publish: every field is optional, a
value of the wrong type reads as absent, unknown fields are ignored, and it never raises.
Whether a status is acceptable at all (``status`` online/offline, the topic's scanner id) is
for the reader to decide.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from attrs import define, field

__all__ = [
    "DROP_COUNTERS",
    "OFFLINE",
    "ONLINE",
    "STATUSES",
    "VERSION",
    "Adapter",
    "Figures",
    "Spool",
    "Status",
    "decode",
    "encode",
    "to_object",
]

VERSION: Final = 1
ONLINE: Final = "online"
OFFLINE: Final = "offline"
STATUSES: Final = frozenset({ONLINE, OFFLINE})
# the counters of adverts the agent lost or could not read (the console's "Drops")
DROP_COUNTERS: Final = ("dropped_offline", "dropped_backlog", "dropped_invalid", "bluez_errors")
# names older or other publishers used for a field (the decoder reads them too)
INTERVAL_KEYS: Final = ("interval_s", "heartbeat_interval_s")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@define(frozen=True, slots=True)
class Adapter:
    """The radio: ``name`` (hci0, replay…), ``address``, ``powered``/``discovering`` (None:
    unknown) and ``scan_mode`` (passive, active, replay…)."""

    name: str | None = None
    address: str | None = None
    powered: bool | None = None
    discovering: bool | None = None
    scan_mode: str | None = None


@define(frozen=True, slots=True)
class Spool:
    """The agent's spool now: messages and payload bytes waiting, the peak depth since start,
    messages written but not acknowledged, and the configured bounds.  None: not reported."""

    depth: int | None = None
    bytes: int | None = None
    peak_depth: int | None = None
    inflight: int | None = None
    max_depth: int | None = None
    max_bytes: int | None = None


@define(frozen=True, slots=True)
class Figures:
    """What a heartbeat measures.  Rates, ages and CPU are None when not (yet) known.

    ``interval_s`` is the configured heartbeat interval (from ``interval_s`` or the older
    ``heartbeat_interval_s``): a positive number, ``inf`` for an integer beyond a double, or
    None when missing or not positive.  ``counters`` are integers since start, by name; readers
    ignore names they do not know.
    """

    version: str | None = None
    uptime_s: float | None = None
    interval_s: float | None = None
    adapter: Adapter | None = None
    counters: Mapping[str, int] = field(factory=dict)
    last_seq: int | None = None
    spool: Spool | None = None
    received_per_s: float | None = None
    published_per_s: float | None = None
    last_advert_age_s: float | None = None
    devices_seen: int | None = None
    devices_tracked: int | None = None
    cpu_pct: float | None = None
    rss_mb: float | None = None

    def drops(self) -> int | None:
        """Adverts lost or unreadable (the ``DROP_COUNTERS``), None if none is reported."""
        found = [self.counters[k] for k in DROP_COUNTERS if k in self.counters]
        return sum(found) if found else None


@define(frozen=True, slots=True)
class Status:
    """One status message.  ``figures`` is None for the bare last will; ``reason`` is set on
    an offline status (``connection lost``, ``shutdown``, ``source ended``…)."""

    status: str
    scanner_id: str | None = None
    boot: str | None = None
    ts: str | None = None
    hostname: str | None = None
    reason: str | None = None
    figures: Figures | None = None
    v: int | None = VERSION


def to_object(status: Status) -> dict[str, Any]:
    """The JSON object of ``status`` (version 1), in the order the agent has always used."""
    obj: dict[str, Any] = {"v": VERSION, "status": status.status}
    obj["scanner_id"] = status.scanner_id
    obj["boot"] = status.boot
    f = status.figures
    if f is not None:
        obj["version"] = f.version
    if status.ts is not None:
        obj["ts"] = status.ts
    obj["hostname"] = status.hostname
    if f is not None:
        adapter = f.adapter or Adapter()
        spool = f.spool or Spool()
        obj.update(
            uptime_s=f.uptime_s,
            interval_s=f.interval_s,
            adapter={
                "name": adapter.name,
                "address": adapter.address,
                "powered": adapter.powered,
                "discovering": adapter.discovering,
                "scan_mode": adapter.scan_mode,
            },
            counters=dict(f.counters),
            last_seq=f.last_seq,
            spool={k: v for k in _SPOOL_KEYS if (v := getattr(spool, k)) is not None},
            received_per_s=f.received_per_s,
            published_per_s=f.published_per_s,
            last_advert_age_s=f.last_advert_age_s,
            devices_seen=f.devices_seen,
            devices_tracked=f.devices_tracked,
            cpu_pct=f.cpu_pct,
            rss_mb=f.rss_mb,
        )
    if status.reason is not None:
        obj["reason"] = status.reason
    return obj


def encode(status: Status) -> bytes:
    """The payload the agent publishes: compact UTF-8 JSON of ``to_object``."""
    return _dumps(to_object(status)).encode()


_SPOOL_KEYS: Final = ("depth", "bytes", "peak_depth", "inflight", "max_depth", "max_bytes")


def decode(obj: Mapping[str, Any]) -> Status:
    """Read a status object leniently (see the module docstring); never raises.

    ``status`` is the text of the field (empty when it is not a string); ``figures`` is None
    only when the object has none of a heartbeat's figures (a bare last will)."""
    raw_status = obj.get("status")
    rates = obj.get("rates")  # an early agent nested the rates
    rates = rates if isinstance(rates, Mapping) else {}

    def rate(key: str) -> float | None:
        value = _finite(rates.get(key))
        return value if value is not None else _finite(obj.get(key))

    figures: Figures | None = None
    if any(k in obj for k in _FIGURE_KEYS) or rates:
        figures = Figures(
            version=_text(obj.get("version")),
            uptime_s=_finite(obj.get("uptime_s")),
            interval_s=_interval(obj),
            adapter=_adapter(obj.get("adapter")),
            counters=_counters(obj.get("counters")),
            last_seq=_int(obj.get("last_seq")),
            spool=_spool(obj.get("spool")),
            received_per_s=rate("received_per_s"),
            published_per_s=rate("published_per_s"),
            last_advert_age_s=_finite(obj.get("last_advert_age_s")),
            devices_seen=_int(obj.get("devices_seen")),
            devices_tracked=_int(obj.get("devices_tracked")),
            cpu_pct=_finite(obj.get("cpu_pct")),
            rss_mb=_finite(obj.get("rss_mb")),
        )
    v = obj.get("v")
    return Status(
        status=raw_status if isinstance(raw_status, str) else "",
        scanner_id=_text(obj.get("scanner_id")),
        boot=_text(obj.get("boot")),
        ts=_text(obj.get("ts")) or _text(obj.get("time")),
        hostname=_text(obj.get("hostname")),
        reason=_text(obj.get("reason")),
        figures=figures,
        v=v if isinstance(v, int) and not isinstance(v, bool) else None,
    )


_FIGURE_KEYS: Final = (
    "version",
    "uptime_s",
    *INTERVAL_KEYS,
    "adapter",
    "counters",
    "last_seq",
    "spool",
    "received_per_s",
    "published_per_s",
    "last_advert_age_s",
    "devices_seen",
    "devices_tracked",
    "cpu_pct",
    "rss_mb",
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    """A JSON number as a float (an integer beyond a double is ``±inf``), else None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _finite(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and math.isfinite(number) else None


def _interval(obj: Mapping[str, Any]) -> float | None:
    for key in INTERVAL_KEYS:
        number = _number(obj.get(key))
        if number is not None and number > 0:  # NaN compares false: skipped
            return number
    return None


def _adapter(value: Any) -> Adapter | None:
    if not isinstance(value, Mapping):
        return None
    return Adapter(
        name=_text(value.get("name")),
        address=_text(value.get("address")),
        powered=_flag(value.get("powered")),
        discovering=_flag(value.get("discovering")),
        scan_mode=_text(value.get("scan_mode")),
    )


def _counters(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and _int(v) is not None}


def _spool(value: Any) -> Spool | None:
    if not isinstance(value, Mapping):
        return None
    return Spool(**{k: _int(value.get(k)) for k in _SPOOL_KEYS})
