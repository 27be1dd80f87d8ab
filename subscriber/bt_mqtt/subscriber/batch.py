"""The pure core of ingest: a list of MQTT messages in, the rows to write out.

``plan_chunk`` routes each message by topic, validates it with the wire codec, runs the parser
registry and encodes the rows the store copies into PostgreSQL, already in COPY text format (so
the process that writes to the database only forwards bytes).  No I/O and no clock: the received
time comes with each message.  Every message ends up in exactly one place: an advert row, a
heartbeat, a rejection, or a counted duplicate/ignored message.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.mqttconfig import SCANNER_ID_RE
from bt_mqtt.core.wire import WireError, decode
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.subscriber.copytext import NULL, esc, fmt_bool, fmt_float, fmt_time, fmt_ts

log = logging.getLogger(__name__)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
HEARTBEAT_STATUSES: Final = frozenset({"online", "offline"})
INTERVAL_KEYS: Final = ("interval_s", "heartbeat_interval_s")
UNSTORABLE: Final = "db_rejected"  # text PostgreSQL refuses (NUL, lone surrogates)
CACHE_MAX: Final = 4096


class Parses(Protocol):
    """What ``plan_chunk`` needs of the parser registry."""

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None: ...


@define(slots=True)
class Incoming:
    """One MQTT message as received."""

    topic: str
    payload: bytes
    received_at: datetime


@define(slots=True)
class Heartbeat:
    """A valid status message of one scanner."""

    scanner_id: str
    received_at: datetime
    status: str
    interval_s: float | None
    body: dict[str, Any]
    text: str


@define(slots=True)
class Rejected:
    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    detail: str


@define(slots=True)
class BatchPlan:
    """The rows of one batch, as COPY text.

    ``raw`` holds one line per advert for the store's ``stage_raw`` table: (k, time,
    received_at, scanner_id, boot, seq, mac, rssi, address_type, name, parser, clock_skew,
    facts, readings, payload), where ``k`` is the message's index in the chunk, ``facts`` and
    ``readings`` are JSON object text (NULL when empty) and ``payload`` the message as received.
    ``readings_rows`` holds (k, metric, value) lines.  ``readings`` counts those lines, ``days``
    are the UTC days of the adverts' times.
    """

    raw: bytes = b""
    readings_rows: bytes = b""
    adverts: int = 0
    readings: int = 0
    days: set[date] = field(factory=set)
    heartbeats: list[Heartbeat] = field(factory=list)
    rejected: list[Rejected] = field(factory=list)
    duplicates: int = 0
    ignored: int = 0
    skewed: int = 0
    bad_readings: int = 0
    parsed: Counter[str] = field(factory=Counter)


@define(slots=True)
class Topics:
    """Splits topics under a prefix into (kind, scanner id)."""

    prefix: str
    _raw: str = field(init=False)
    _scanner: str = field(init=False)
    _seen: dict[str, tuple[str, str] | None] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._raw = f"{self.prefix}/raw/"
        self._scanner = f"{self.prefix}/scanner/"

    def classify(self, topic: str) -> tuple[str, str] | None:
        """("raw", id) or ("status", id), or None for a topic we do not handle."""
        try:
            return self._seen[topic]
        except KeyError:
            if len(self._seen) >= CACHE_MAX:
                self._seen.clear()
            route = self._seen[topic] = self._classify(topic)
            return route

    def _classify(self, topic: str) -> tuple[str, str] | None:
        if topic.startswith(self._raw):
            sid = topic[len(self._raw) :]
            kind = "raw"
        elif topic.startswith(self._scanner) and topic.endswith("/status"):
            sid = topic[len(self._scanner) : -len("/status")]
            kind = "status"
        else:
            return None
        if not SCANNER_ID_RE.fullmatch(sid):
            return None
        return kind, sid


def parse_heartbeat(msg: Incoming, scanner_id: str, max_bytes: int) -> Heartbeat | Rejected:
    """Validate a status message: a JSON object with ``status`` online/offline."""

    def reject(reason: str, detail: str) -> Rejected:
        return Rejected(msg.received_at, msg.topic, msg.payload, reason, detail)

    if len(msg.payload) > max_bytes:
        return reject("too_large", f"payload is {len(msg.payload)} bytes, limit {max_bytes}")
    try:
        text = msg.payload.decode()
    except UnicodeDecodeError as exc:
        return reject("invalid_utf8", f"payload is not UTF-8 at byte {exc.start}")
    try:
        body = json.loads(text)
    except ValueError as exc:
        return reject("invalid_json", f"payload is not JSON: {exc}")
    except RecursionError:
        return reject("invalid_json", "nested too deeply")
    if not isinstance(body, dict):
        return reject("not_object", f"payload is a JSON {type(body).__name__}, not an object")
    status = body.get("status")
    if status not in HEARTBEAT_STATUSES:
        return reject("bad_heartbeat", f"field 'status' is {str(status)[:40]!r}")
    sid = body.get("scanner_id")
    if sid is not None and sid != scanner_id:
        return reject("scanner_mismatch", f"payload scanner_id {str(sid)[:64]!r} differs")
    interval: float | None = None
    for key in INTERVAL_KEYS:
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            interval = float(value)
            break
    return Heartbeat(scanner_id, msg.received_at, str(status), interval, body, text)


_KEYS: dict[str, tuple[str, str]] = {}  # metric -> (JSON key, COPY text), both escaped


def _key(metric: str) -> tuple[str, str]:
    try:
        return _KEYS[metric]
    except KeyError:
        if len(_KEYS) >= CACHE_MAX:
            _KEYS.clear()
        keys = _KEYS[metric] = (esc(json.dumps(metric, ensure_ascii=False)), esc(metric))
        return keys


def _readings(k: int, result: ParseResult, plan: BatchPlan, out: list[str]) -> str:
    """Append the finite numeric readings as (k, metric, value) lines; return them as a JSON
    object in COPY text (NULL when none).  Anything else is counted and dropped."""
    parts: list[str] = []
    for metric, value in result.readings.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            plan.bad_readings += 1
            continue
        try:
            number = float(value)
        except OverflowError:
            plan.bad_readings += 1
            continue
        if math.isfinite(number):
            json_key, text_key = _key(metric)
            shown = float.__repr__(value) if isinstance(value, float) else int.__repr__(value)
            parts.append(f"{json_key}:{shown}")
            out.append(f"{k}\t{text_key}\t{fmt_float(number)}\n")
        else:
            plan.bad_readings += 1
    return "{" + ",".join(parts) + "}" if parts else NULL


def plan_batch(
    messages: Sequence[Incoming],
    topics: Topics,
    registry: Parses,
    ctx: ParseContext,
    *,
    max_bytes: int,
    skew_s: float,
) -> BatchPlan:
    """``plan_chunk`` for a list of ``Incoming``."""
    return plan_chunk(
        [m.topic for m in messages],
        [m.payload for m in messages],
        [m.received_at.timestamp() for m in messages],
        topics,
        registry,
        ctx,
        max_bytes=max_bytes,
        skew_s=skew_s,
    )


def plan_chunk(
    topic_list: Sequence[str],
    payloads: Sequence[bytes],
    received: Sequence[float],
    topics: Topics,
    registry: Parses,
    ctx: ParseContext,
    *,
    max_bytes: int,
    skew_s: float,
) -> BatchPlan:
    """Turn messages (topic, payload, received time as Unix seconds) into rows; see above."""
    plan = BatchPlan()
    seen: set[tuple[str, str, int]] = set()
    lines: list[bytes] = []
    reading_lines: list[str] = []
    recv_text: dict[int, str] = {}  # by millisecond
    parser_text: dict[str, str] = {}
    days = plan.days
    for k, topic in enumerate(topic_list):
        payload = payloads[k]
        t_recv = received[k]
        route = topics.classify(topic)
        if route is None:
            plan.rejected.append(
                Rejected(_dt(t_recv), topic, payload, "bad_topic", "unexpected topic")
            )
            continue
        kind, sid = route
        if kind == "status":
            if not payload:  # a retained status being cleared
                plan.ignored += 1
                continue
            hb = parse_heartbeat(Incoming(topic, payload, _dt(t_recv)), sid, max_bytes)
            if isinstance(hb, Rejected):
                plan.rejected.append(hb)
            else:
                plan.heartbeats.append(hb)
            continue
        try:
            wm = decode(payload, sid, max_bytes)
        except WireError as exc:
            plan.rejected.append(Rejected(_dt(t_recv), topic, payload, exc.reason, exc.detail))
            continue
        except RecursionError:
            plan.rejected.append(
                Rejected(_dt(t_recv), topic, payload, "invalid_json", "nested too deeply")
            )
            continue
        except Exception as exc:  # a bug must not turn one message into a crash loop
            log.exception("unexpected error decoding a message on %s", topic)
            plan.rejected.append(Rejected(_dt(t_recv), topic, payload, "internal_error", repr(exc)))
            continue
        ident = (wm.scanner_id, wm.boot, wm.seq)
        if ident in seen:
            plan.duplicates += 1
            continue
        seen.add(ident)
        when = wm.time
        skewed = abs(t_recv - when.timestamp()) > skew_s
        adv = wm.advert
        try:
            result = registry.parse(adv, ctx)
        except Exception:  # the registry promises not to raise; keep the advert regardless
            log.exception("parser registry raised for %s", adv.mac)
            result = None
        parser = NULL
        facts = readings = NULL
        mark = len(reading_lines)
        if result is not None:
            parser = parser_text.get(result.parser) or parser_text.setdefault(
                result.parser, esc(result.parser)
            )
            if result.facts:
                try:
                    facts = esc(_dumps(result.facts))
                except (TypeError, ValueError):
                    plan.bad_readings += 1
            readings = _readings(k, result, plan, reading_lines)
        ms = int(t_recv * 1000)
        rt = recv_text.get(ms)
        if rt is None:
            rt = recv_text[ms] = fmt_time(_dt(ms / 1000))
        text = payload.decode()
        line = (
            f"{k}\t{fmt_ts(wm.ts, when)}\t{rt}\t{sid}\t{esc(wm.boot)}\t{wm.seq}\t{adv.mac}\t"
            f"{max(-32768, min(32767, adv.rssi))}\t{adv.address_type or NULL}\t"
            f"{NULL if adv.name is None else esc(adv.name)}\t{parser}\t{fmt_bool(skewed)}\t"
            f"{facts}\t{readings}\t{esc(text)}\n"
        )
        try:
            if "\x00" in line or "\\u0000" in text:
                raise ValueError("NUL characters")
            encoded = line.encode()
        except (UnicodeEncodeError, ValueError) as exc:
            del reading_lines[mark:]
            why = "NUL characters" if isinstance(exc, ValueError) else "an unpaired surrogate"
            plan.rejected.append(
                Rejected(_dt(t_recv), topic, payload, UNSTORABLE, f"PostgreSQL cannot store {why}")
            )
            continue
        if result is not None:
            plan.parsed[result.parser] += 1
        if skewed:
            plan.skewed += 1
        lines.append(encoded)
        days.add(when.astimezone(UTC).date())
    plan.adverts = len(lines)
    plan.raw = b"".join(lines)
    plan.readings = len(reading_lines)
    plan.readings_rows = "".join(reading_lines).encode()
    return plan


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
