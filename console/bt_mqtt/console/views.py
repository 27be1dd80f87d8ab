"""Pure view logic: filtering, sorting and formatting the state into table rows.

A ``Row`` is a key (what the cursor remembers), cell texts, and a row class (``""``, ``"unknown"``,
``"offline"``, ``"silent"``, ``"error"`` ...) that the widgets map to styles from the ``.tcss``.
Nothing here draws or reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final, overload

from attrs import define, field

from bt_mqtt.console.fmt import Row, fmt_age, fmt_rate, fmt_value, short_uuid
from bt_mqtt.console.health import Thresholds, scanner_health
from bt_mqtt.console.rates import sparkline
from bt_mqtt.console.safe import clean
from bt_mqtt.console.state import ConsoleState, DeviceState

log = logging.getLogger(__name__)

# A few assigned company identifiers (Bluetooth SIG assigned numbers) so unknown groups read well.
COMPANIES: Final[dict[int, str]] = {
    0x0006: "Microsoft",
    0x004C: "Apple",
    0x0059: "Nordic",
    0x0075: "Samsung",
    0x0087: "Garmin",
    0x00E0: "Google",
    0x0157: "Huami",
    0x0171: "Amazon",
    0x038F: "Xiaomi",
    0x0499: "Ruuvi",
    0x0822: "adafruit",
    0x0969: "Woan (SwitchBot)",
    0xEC88: "Govee",
}

SORT_KEYS: Final = ("seen", "rssi", "rate", "name", "mac", "parser", "count")


@define(frozen=True)
class DeviceFilter:
    """A parsed filter: free words (AND, substring of mac/name/parser) and field terms."""

    words: tuple[str, ...] = ()
    parsers: tuple[str, ...] = ()
    scanners: tuple[str, ...] = ()
    known: bool | None = None

    @classmethod
    def parse(cls, text: str) -> DeviceFilter:
        """``temp parser:bthome scanner:kitchen is:unknown`` -> a filter (case-insensitive)."""
        words: list[str] = []
        parsers: list[str] = []
        scanners: list[str] = []
        known: bool | None = None
        for token in text.lower().split():
            name, sep, value = token.partition(":")
            if sep and name in ("parser", "p") and value:
                parsers.append(value)
            elif sep and name in ("scanner", "s") and value:
                scanners.append(value)
            elif sep and name == "is" and value in ("known", "unknown"):
                known = value == "known"
            else:
                words.append(token)
        return cls(tuple(words), tuple(parsers), tuple(scanners), known)

    def matches(self, dev: DeviceState) -> bool:
        if self.known is not None and (dev.parser is not None) != self.known:
            return False
        parser = (dev.parser or "unknown").lower()
        if self.parsers and not any(p in parser for p in self.parsers):
            return False
        # Names and scanner ids are matched as drawn (escaped), so what is seen can be typed.
        if self.scanners and not any(
            s in clean(sid).lower() for s in self.scanners for sid in dev.scanners
        ):
            return False
        if self.words:
            hay = f"{dev.mac.lower()} {clean(dev.name or '').lower()} {parser}"
            return all(w in hay for w in self.words)
        return True

    def describe(self) -> str:
        parts = list(self.words)
        parts += [f"parser:{p}" for p in self.parsers]
        parts += [f"scanner:{s}" for s in self.scanners]
        if self.known is not None:
            parts.append("is:known" if self.known else "is:unknown")
        return " ".join(parts)


def _sort_key(key: str, now: float) -> Any:
    if key == "seen":
        return lambda d: -d.last_seen
    if key == "rssi":
        return lambda d: -d.best().rssi
    if key == "rate":
        return lambda d: -d.rate.per_s(now)
    if key == "name":
        return lambda d: ((d.name or "\uffff").lower(), d.mac)
    if key == "parser":
        return lambda d: (d.parser or "\uffff", d.mac)
    if key == "count":
        return lambda d: -d.count
    return lambda d: d.mac


def select_devices(
    devices: Iterable[DeviceState], flt: DeviceFilter, sort: str, reverse: bool, now: float
) -> list[DeviceState]:
    """The devices passing ``flt``, ordered by ``sort`` (ties by MAC; newest first by default)."""
    chosen = [d for d in devices if flt.matches(d)]
    chosen.sort(key=lambda d: d.mac)
    chosen.sort(key=_sort_key(sort, now), reverse=reverse)
    return chosen


# -- formatting ---------------------------------------------------------------------------------


__all__ = ["Row", "Thresholds", "fmt_age", "fmt_rate", "fmt_value", "scanner_health", "short_uuid"]


_UNITS: Final = (
    ("temperature_c", "", "°C", 1),
    ("humidity_pct", "", "%RH", 0),
    ("battery_pct", "bat ", "%", 0),
    ("voltage_v", "", "V", 2),
    ("pressure_hpa", "", "hPa", 0),
    ("illuminance_lux", "", "lx", 0),
    ("co2_ppm", "", "ppm CO2", 0),
    ("moisture_pct", "moist ", "%", 0),
)


def fmt_readings(readings: dict[str, float]) -> str:
    """Readings as a compact line, well-known metrics first: ``21.3°C 45%RH bat 87%``."""
    out: list[str] = []
    seen: set[str] = set()
    for metric, prefix, unit, digits in _UNITS:
        if metric in readings:
            out.append(f"{prefix}{readings[metric]:.{digits}f}{unit}")
            seen.add(metric)
    out.extend(f"{m}={fmt_value(v)}" for m, v in sorted(readings.items()) if m not in seen)
    return " ".join(out)


def fmt_rssi(dev: DeviceState) -> str:
    best = dev.best()
    trend = best.trend()
    return f"{best.rssi}{'↑' if trend > 0 else '↓' if trend < 0 else ' '}"


def company_label(key: str) -> str:
    try:
        return COMPANIES.get(int(key, 16), "")
    except ValueError:
        return ""


# -- rows per screen ----------------------------------------------------------------------------

LIVE_COLUMNS: Final = ("MAC", "Name", "Parser", "Values", "RSSI", "/s", "Seen", "Scanners")


class LazyRows(Sequence[Row]):
    """Live rows formatted only when a table reads them (it reads the visible ones)."""

    def __init__(self, devices: list[DeviceState], now: float) -> None:
        self.devices = devices
        self.now = now
        self._cache: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self.devices)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self.devices)
        row = self._cache.get(index)
        if row is None:
            row = live_rows([self.devices[index]], self.now)[0]
            self._cache[index] = row
        return row


def live_rows(devices: list[DeviceState], now: float) -> list[Row]:
    rows = []
    for d in devices:
        scanners = sorted(d.scanners)
        heard = scanners[0] if len(scanners) == 1 else f"{len(scanners)}:" + ",".join(scanners)
        rows.append(
            Row(
                d.mac,
                (
                    d.mac,
                    d.name or "",
                    d.parser or "unknown",
                    fmt_readings(d.readings),
                    fmt_rssi(d),
                    fmt_rate(d.rate.per_s(now)),
                    fmt_age(now - d.last_seen),
                    heard,
                ),
                "" if d.parser else "unknown",
            )
        )
    return rows


PARSER_COLUMNS: Final = ("Parser", "Hits", "/s", "Devices", "Errors", "DB 24h", "Last 10 min")
UNKNOWN_COLUMNS: Final = ("Kind", "Key", "Label", "Adverts", "Devices", "Example")


def parser_rows(
    state: ConsoleState,
    now: float,
    spark_width: int = 30,
    errors: dict[str, int] | None = None,
    stored: dict[str, int] | None = None,
) -> list[Row]:
    """One row per parser with hits (plus ``(unknown)``); ``stored`` are the database's totals."""

    def db(name: str) -> str:
        return "-" if stored is None else str(stored.get(name, 0))

    per_parser: dict[str, int] = {}
    for d in state.devices.values():
        if d.parser:
            per_parser[d.parser] = per_parser.get(d.parser, 0) + 1
    rows = []
    for ps in sorted(state.parsers.values(), key=lambda p: (-p.hits, p.name)):
        rows.append(
            Row(
                ps.name,
                (
                    ps.name,
                    str(ps.hits),
                    fmt_rate(ps.rate.per_s(now)),
                    str(per_parser.get(ps.name, 0)),
                    str((errors or {}).get(ps.name, 0)),
                    db(ps.name),
                    sparkline(ps.series.values(now), spark_width, zero_based=True),
                ),
            )
        )
    unknown = state.counters["unknown"]
    unknown_devs = sum(1 for d in state.devices.values() if d.parser is None)
    rows.append(
        Row(
            "(unknown)",
            ("(unknown)", str(unknown), "", str(unknown_devs), "", db("(unknown)"), ""),
            "unknown",
        )
    )
    return rows


def unknown_rows(state: ConsoleState, cap: int) -> list[Row]:
    groups = sorted(state.unknown.values(), key=lambda g: (-len(g.macs), -g.adverts, g.key))
    rows = []
    for g in groups:
        label = company_label(g.key) if g.kind == "company" else ""
        key = short_uuid(g.key) if g.kind in ("service", "uuid") else g.key
        devices = f"{len(g.macs)}+" if len(g.macs) >= cap else str(len(g.macs))
        rows.append(
            Row(
                f"{g.kind}:{g.key}",
                (g.kind, key, label, str(g.adverts), devices, g.example_name or ""),
            )
        )
    return rows


TAIL_COLUMNS: Final = ("Received", "Topic", "Message")


def tail_rows(state: ConsoleState, now: float, limit: int) -> list[Row]:
    """The newest ``limit`` messages, newest first."""
    rows = []
    entries = list(state.tail)[-limit:]
    for i, e in enumerate(reversed(entries)):
        age = fmt_age(now - e.at)
        if e.message is not None:
            a = e.message.advert
            parts = [a.mac, f"rssi={a.rssi}"]
            if a.name:
                parts.append(f"name={a.name!r}")
            parts += [f"mfr[0x{k:04X}]={v.hex()}" for k, v in a.manufacturer_data.items()]
            parts += [f"svc[{short_uuid(k)}]={v.hex()}" for k, v in a.service_data.items()]
            text = " ".join(parts)
        else:
            text = e.text if e.error is None else f"REJECTED {e.error}: {e.text}"
        cls = "error" if e.error else ("status" if e.message is None else "")
        mac = e.message.advert.mac if e.message is not None else ""
        rows.append(Row(f"{i}:{mac}", (age, e.topic, text), cls))
    return rows


@define
class Summary:
    """The status line's figures."""

    devices: int = 0
    rate: float = 0.0
    scanners: int = 0
    problems: int = 0
    rejected: int = 0
    extra: dict[str, int] = field(factory=dict)


def summary(state: ConsoleState, now: float, th: Thresholds) -> Summary:
    problems = sum(
        1 for sc in state.scanners.values() if scanner_health(sc, now, th)[0] != "online"
    )
    rejected = sum(v for k, v in state.counters.items() if k.startswith("rejected:"))
    return Summary(
        len(state.devices), state.total_rate.per_s(now), len(state.scanners), problems, rejected
    )
