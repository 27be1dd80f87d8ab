"""The console's model of the live stream: a pure core with bounded memory.

``ConsoleState`` ingests raw MQTT payloads (``ingest_raw`` for ``{prefix}/raw/+``,
``ingest_status`` for ``{prefix}/scanner/+/status``) with the time of arrival passed in, decodes
them with the wire codec and the injected parser ``Decoder``, and keeps:

- one ``DeviceState`` per address, in least-recently-seen order, at most ``Limits.max_devices``
  (the stalest are evicted) and none older than ``Limits.device_ttl_s`` after ``expire``;
- one ``ScannerState`` per scanner (heartbeat payload plus adverts seen from it);
- hits per parser (total, rate, a bucketed series) and unknown adverts grouped by company id and
  service-data UUID (at most ``Limits.max_unknown_groups`` groups);
- a ring buffer of the last ``Limits.tail_size`` messages, rejected ones included.

The subscriber's `devices:` settings apply as in the database: a configured name wins over the
advertised one, offsets are added to readings, an ignored device shows no readings.

Nothing is dropped silently: rejected payloads are counted by reason in ``counters`` and kept
in the tail (escaped: see ``core.safetext``).  No payload can stop the console: one that makes
decoding fail in a way nobody foresaw is rejected as ``internal_error``.
``version`` increases on every change so views can skip redrawing an unchanged state.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import define, field

from bt_mqtt.console.rates import BucketSeries, WindowRate
from bt_mqtt.core.advert import Advert, WireMessage
from bt_mqtt.core.safetext import escape, escape_bytes
from bt_mqtt.core.status import Status
from bt_mqtt.core.status import decode as decode_status
from bt_mqtt.core.wire import DEFAULT_MAX_BYTES, WireError, decode
from bt_mqtt.parsers.api import ParseResult
from bt_mqtt.subscriber.devicesettings import Devices

log = logging.getLogger(__name__)

Decoder = Callable[[Advert], ParseResult | None]

TAIL_TEXT_LIMIT = 300  # characters of a rejected payload or heartbeat kept in the tail
MAX_STATUS_DEPTH = 32  # a heartbeat nested deeper is rejected (real ones nest 2 levels)


@define(frozen=True)
class Limits:
    """Memory bounds and averaging windows of the state."""

    max_devices: int = 10_000
    device_ttl_s: float = 3600.0
    tail_size: int = 500
    max_unknown_groups: int = 500
    unknown_macs_cap: int = 1000
    rate_window_s: float = 10.0
    bucket_s: float = 10.0
    buckets: int = 60
    rssi_history: int = 32


@define(slots=True)
class Sighting:
    """One scanner hearing one device: last RSSI, when, and fast/slow RSSI averages."""

    rssi: int
    at: float
    fast: float
    slow: float

    def add(self, rssi: int, at: float) -> None:
        self.rssi = rssi
        self.at = at
        self.fast += 0.5 * (rssi - self.fast)
        self.slow += 0.1 * (rssi - self.slow)

    def trend(self) -> int:
        """+1 when the signal is getting stronger, -1 weaker, 0 steady (2 dB hysteresis)."""
        diff = self.fast - self.slow
        return 1 if diff > 2.0 else -1 if diff < -2.0 else 0


@define(slots=True)
class DeviceState:
    """Everything the console knows about one address."""

    mac: str
    first_seen: float
    last_seen: float
    last: WireMessage
    rate: WindowRate
    rssi_hist: deque[int]
    name: str | None = None
    parser: str | None = None
    readings: dict[str, float] = field(factory=dict)
    facts: dict[str, Any] = field(factory=dict)
    count: int = 0
    parse_errors: int = 0
    scanners: dict[str, Sighting] = field(factory=dict)

    def best(self, within_s: float = 120.0) -> Sighting:
        """The strongest recent sighting (scanners silent for ``within_s`` before the last
        advert do not count), so RSSI and its trend follow the nearest scanner."""
        cutoff = self.last_seen - within_s
        best: Sighting | None = None
        for s in self.scanners.values():
            if s.at >= cutoff and (best is None or s.rssi > best.rssi):
                best = s
        assert best is not None  # the last advert's own sighting is always recent
        return best

    @property
    def rssi(self) -> int:
        return self.best().rssi

    def trend(self) -> int:
        return self.best().trend()


@define(slots=True)
class ScannerState:
    """One scanner: its last heartbeat (if any) and the adverts the console saw from it.

    ``status`` is the heartbeat as published (for showing every field), ``heartbeat`` the same
    read by ``core.status.decode`` (for the figures)."""

    scanner_id: str
    rate: WindowRate
    status: dict[str, Any] | None = None
    heartbeat: Status | None = None
    status_at: float | None = None
    status_time: float | None = None
    adverts: int = 0
    last_advert_at: float | None = None


@define(slots=True)
class ParserStats:
    """Hits of one parser."""

    name: str
    rate: WindowRate
    series: BucketSeries
    hits: int = 0


@define(slots=True)
class UnknownGroup:
    """Adverts no parser claimed that share a company id or service-data UUID."""

    kind: str
    key: str
    adverts: int = 0
    macs: set[str] = field(factory=set)
    example_name: str | None = None
    last_seen: float = 0.0


@define(slots=True)
class TailEntry:
    """One received message: decoded (``message``) or rejected/status (``text``, ``error``)."""

    at: float
    topic: str
    message: WireMessage | None = None
    text: str = ""
    error: str | None = None


def _status_time(status: Status) -> float | None:
    ts = status.ts
    if ts is None:
        return None
    try:
        return datetime.fromisoformat(ts).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests containers deeper than ``limit`` (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _parse_status(payload: bytes) -> dict[str, Any] | str:
    """The heartbeat as a dict, or why it is not one."""
    if len(payload) > DEFAULT_MAX_BYTES:
        return f"payload is {len(payload)} bytes, limit {DEFAULT_MAX_BYTES}"
    try:
        status = json.loads(payload)
    except (ValueError, RecursionError):
        return "status is not a JSON object"
    if not isinstance(status, dict):
        return "status is not a JSON object"
    if _depth_exceeds(status, MAX_STATUS_DEPTH):
        return f"status is nested deeper than {MAX_STATUS_DEPTH} levels"
    return status


def _check_numbers(adv: Advert) -> None:
    """RSSI and TX power are signed bytes over the air; anything else cannot be a reading."""
    for name, value in (("rssi", adv.rssi), ("tx_power", adv.tx_power)):
        if value is not None and not -128 <= value <= 127:
            shown = value if -(10**12) < value < 10**12 else "(out of range)"
            raise WireError("bad_value", f"field {name!r} is {shown}, not within -128..127")


class ConsoleState:
    """The live model; see the module docstring."""

    def __init__(
        self, decoder: Decoder, limits: Limits | None = None, devices: Devices | None = None
    ) -> None:
        self.decoder = decoder
        self.settings = devices or Devices()  # the subscriber's devices: (names, offsets, ignore)
        self.limits = limits or Limits()
        self.devices: OrderedDict[str, DeviceState] = OrderedDict()
        self.scanners: dict[str, ScannerState] = {}
        self.parsers: dict[str, ParserStats] = {}
        self.unknown: dict[tuple[str, str], UnknownGroup] = {}
        self.tail: deque[TailEntry] = deque(maxlen=self.limits.tail_size)
        self.counters: Counter[str] = Counter()
        self.alerts: dict[str, str] = {}  # "KIND/SUBJECT" -> message, the firing ones
        self.total_rate = WindowRate(self.limits.rate_window_s)
        self.total_series = BucketSeries(self.limits.bucket_s, self.limits.buckets)
        self.version = 0

    # -- ingest -------------------------------------------------------------------------------

    def ingest_raw(self, topic: str, scanner_id: str, payload: bytes, now: float) -> None:
        """One payload from ``{prefix}/raw/{scanner_id}``, received at ``now``.

        Whatever the payload holds, it either becomes an advert or is rejected, counted and
        kept in the tail: a failure nobody foresaw rejects that one message as
        ``internal_error`` and never stops the console."""
        self.version += 1
        try:
            msg = decode(payload, scanner_id)
            _check_numbers(msg.advert)
        except WireError as exc:
            self._reject(topic, payload, exc.reason, exc.detail, now)
            return
        except Exception as exc:  # unforeseen: quarantine the message, keep going
            log.debug("raw payload on %r failed unexpectedly", topic, exc_info=True)
            self._reject(topic, payload, "internal_error", f"{type(exc).__name__}: {exc}", now)
            return
        self.counters["adverts"] += 1
        self.tail.append(TailEntry(now, topic, message=msg))
        self.total_rate.add(now)
        self.total_series.add(now)
        self._scanner(scanner_id).rate.add(now)
        sc = self.scanners[scanner_id]
        sc.adverts += 1
        sc.last_advert_at = now
        try:
            result = self.decoder(msg.advert)
        except Exception as exc:  # a parser bug must not stop the console; it is counted
            self.counters["parse_exceptions"] += 1
            log.debug("parser raised on %s: %s", msg.advert.mac, exc)
            result = None
        self._device(msg, result, now)
        if result is None:
            self._unknown(msg.advert, now)
        else:
            self._hit(result.parser, now)

    def ingest_status(self, topic: str, scanner_id: str, payload: bytes, now: float) -> None:
        """One (usually retained) heartbeat from ``{prefix}/scanner/{scanner_id}/status``.

        A heartbeat must be a JSON object of at most ``DEFAULT_MAX_BYTES`` nested at most
        ``MAX_STATUS_DEPTH`` deep; anything else is rejected (``bad_status``) and kept."""
        self.version += 1
        if not payload:  # a cleared retained message: the scanner was decommissioned
            self.scanners.pop(scanner_id, None)
            self.counters["status_cleared"] += 1
            return
        status = _parse_status(payload)
        if isinstance(status, str):
            self._reject(topic, payload, "bad_status", status, now)
            return
        self.counters["heartbeats"] += 1
        self.tail.append(TailEntry(now, topic, text=escape_bytes(payload, TAIL_TEXT_LIMIT)))
        sc = self._scanner(scanner_id)
        sc.status = status
        sc.heartbeat = decode_status(status)
        sc.status_at = now
        sc.status_time = _status_time(sc.heartbeat)

    def ingest_alert(self, topic: str, key: str, payload: bytes, now: float) -> None:
        """The retained state of one alert (``{prefix}/alert/KIND/SUBJECT``, key
        ``KIND/SUBJECT``): kept in ``alerts`` while firing, forgotten once resolved or cleared.
        Anything but a JSON object with ``state`` firing/resolved is rejected (``bad_alert``)."""
        self.version += 1
        if not payload:
            self.alerts.pop(key, None)
            return
        body = _parse_status(payload)
        if isinstance(body, str) or body.get("state") not in ("firing", "resolved"):
            self._reject(topic, payload, "bad_alert", "not an alert message", now)
            return
        self.counters["alerts"] += 1
        if body["state"] == "resolved":
            self.alerts.pop(key, None)
            return
        message = body.get("message")
        # kept as published (bounded); drawn only through ``safe`` (control characters visible)
        self.alerts[key] = (message if isinstance(message, str) else key)[:TAIL_TEXT_LIMIT]

    def _reject(self, topic: str, payload: bytes, reason: str, detail: str, now: float) -> None:
        """Count a rejected payload by ``reason`` and keep its start (escaped) in the tail."""
        self.counters[f"rejected:{reason}"] += 1
        text = escape_bytes(payload, TAIL_TEXT_LIMIT)
        error = escape(f"{reason}: {detail}", TAIL_TEXT_LIMIT)
        self.tail.append(TailEntry(now, topic, text=text, error=error))

    def expire(self, now: float) -> int:
        """Forget devices not seen for ``device_ttl_s``; returns how many were dropped."""
        cutoff = now - self.limits.device_ttl_s
        dropped = 0
        while self.devices:
            mac, dev = next(iter(self.devices.items()))
            if dev.last_seen >= cutoff:
                break
            del self.devices[mac]
            dropped += 1
        if dropped:
            self.counters["devices_expired"] += dropped
            self.version += 1
        return dropped

    # -- helpers ------------------------------------------------------------------------------

    def _scanner(self, scanner_id: str) -> ScannerState:
        sc = self.scanners.get(scanner_id)
        if sc is None:
            sc = ScannerState(scanner_id, WindowRate(self.limits.rate_window_s))
            self.scanners[scanner_id] = sc
        return sc

    def _device(self, msg: WireMessage, result: ParseResult | None, now: float) -> None:
        adv = msg.advert
        dev = self.devices.get(adv.mac)
        if dev is None:
            dev = DeviceState(
                mac=adv.mac,
                first_seen=now,
                last_seen=now,
                last=msg,
                rate=WindowRate(self.limits.rate_window_s),
                rssi_hist=deque(maxlen=self.limits.rssi_history),
            )
            self.devices[adv.mac] = dev
            if len(self.devices) > self.limits.max_devices:
                self.devices.popitem(last=False)
                self.counters["devices_evicted"] += 1
        else:
            self.devices.move_to_end(adv.mac)
        dev.last = msg
        dev.last_seen = now
        dev.count += 1
        dev.rate.add(now)
        configured = self.settings.name(adv.mac)
        if configured or adv.name:
            dev.name = configured or adv.name
        dev.rssi_hist.append(adv.rssi)
        sighting = dev.scanners.get(msg.scanner_id)
        if sighting is None:
            dev.scanners[msg.scanner_id] = Sighting(adv.rssi, now, adv.rssi, adv.rssi)
        else:
            sighting.add(adv.rssi, now)
        if result is not None:
            dev.parser = result.parser
            dev.readings.update(self.settings.readings(adv.mac, result.readings))
            if result.facts:
                dev.facts.update(result.facts)

    def _hit(self, parser: str, now: float) -> None:
        ps = self.parsers.get(parser)
        if ps is None:
            lim = self.limits
            ps = ParserStats(
                parser, WindowRate(lim.rate_window_s), BucketSeries(lim.bucket_s, lim.buckets)
            )
            self.parsers[parser] = ps
        ps.hits += 1
        ps.rate.add(now)
        ps.series.add(now)

    def _unknown(self, adv: Advert, now: float) -> None:
        self.counters["unknown"] += 1
        keys: list[tuple[str, str]] = [("company", f"0x{cid:04X}") for cid in adv.manufacturer_data]
        keys.extend(("service", uuid) for uuid in adv.service_data)
        if not keys:
            keys.append(("uuid", adv.service_uuids[0]) if adv.service_uuids else ("none", "-"))
        for key in keys:
            group = self.unknown.get(key)
            if group is None:
                if len(self.unknown) >= self.limits.max_unknown_groups:
                    smallest = min(self.unknown, key=lambda k: self.unknown[k].adverts)
                    del self.unknown[smallest]
                    self.counters["unknown_groups_evicted"] += 1
                group = UnknownGroup(key[0], key[1])
                self.unknown[key] = group
            group.adverts += 1
            group.last_seen = now
            if len(group.macs) < self.limits.unknown_macs_cap:
                group.macs.add(adv.mac)
            if adv.name and group.example_name is None:
                group.example_name = adv.name
