"""The pure core of ingest: a list of MQTT messages in, the rows to write out.

``plan_batch`` routes each message by topic, validates it with the wire codec, runs the parser
registry and produces the rows the store copies into PostgreSQL.  No I/O and no clock: the
received time comes with each message.  Every message ends up in exactly one place: an advert
row, a heartbeat, a rejection, or a counted duplicate/ignored message.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.mqttconfig import SCANNER_ID_RE
from bt_mqtt.core.wire import WireError, decode
from bt_mqtt.parsers.api import ParseContext, ParseResult

log = logging.getLogger(__name__)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
HEARTBEAT_STATUSES: Final = frozenset({"online", "offline"})
INTERVAL_KEYS: Final = ("interval_s", "heartbeat_interval_s")


class Parses(Protocol):
    """What ``plan_batch`` needs of the parser registry."""

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
    """The rows of one batch.

    ``adverts`` rows match the store's staging table: (k, time, received_at, scanner_id, boot,
    seq, mac, rssi, address_type, name, parser, clock_skew, facts, readings, payload) where
    ``facts`` and ``readings`` (metric -> number) are JSON text and ``payload`` is the message
    text as received.  ``readings`` counts the readings of all rows.
    """

    adverts: list[tuple[Any, ...]] = field(factory=list)
    readings: int = 0
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

    def __attrs_post_init__(self) -> None:
        self._raw = f"{self.prefix}/raw/"
        self._scanner = f"{self.prefix}/scanner/"

    def classify(self, topic: str) -> tuple[str, str] | None:
        """("raw", id) or ("status", id), or None for a topic we do not handle."""
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


def _readings(result: ParseResult, plan: BatchPlan) -> str:
    """The finite numeric readings as a JSON object; anything else is counted and dropped."""
    good: dict[str, float] = {}
    for metric, value in result.readings.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            plan.bad_readings += 1
        elif math.isfinite(value):
            good[metric] = value
        else:
            plan.bad_readings += 1
    plan.readings += len(good)
    return _dumps(good) if good else "{}"


def plan_batch(
    messages: Sequence[Incoming],
    topics: Topics,
    registry: Parses,
    ctx: ParseContext,
    *,
    max_bytes: int,
    skew_s: float,
) -> BatchPlan:
    """Turn messages into rows; see the module docstring."""
    plan = BatchPlan()
    seen: set[tuple[str, str, int]] = set()
    adverts = plan.adverts
    for msg in messages:
        route = topics.classify(msg.topic)
        if route is None:
            plan.rejected.append(
                Rejected(msg.received_at, msg.topic, msg.payload, "bad_topic", "unexpected topic")
            )
            continue
        kind, sid = route
        if kind == "status":
            if not msg.payload:  # a retained status being cleared
                plan.ignored += 1
                continue
            hb = parse_heartbeat(msg, sid, max_bytes)
            if isinstance(hb, Rejected):
                plan.rejected.append(hb)
            else:
                plan.heartbeats.append(hb)
            continue
        try:
            wm = decode(msg.payload, sid, max_bytes)
        except WireError as exc:
            plan.rejected.append(
                Rejected(msg.received_at, msg.topic, msg.payload, exc.reason, exc.detail)
            )
            continue
        except RecursionError:
            plan.rejected.append(
                Rejected(
                    msg.received_at, msg.topic, msg.payload, "invalid_json", "nested too deeply"
                )
            )
            continue
        except Exception as exc:  # a bug must not turn one message into a crash loop
            log.exception("unexpected error decoding a message on %s", msg.topic)
            plan.rejected.append(
                Rejected(msg.received_at, msg.topic, msg.payload, "internal_error", repr(exc))
            )
            continue
        ident = (wm.scanner_id, wm.boot, wm.seq)
        if ident in seen:
            plan.duplicates += 1
            continue
        seen.add(ident)
        skewed = abs((msg.received_at - wm.time).total_seconds()) > skew_s
        if skewed:
            plan.skewed += 1
        adv = wm.advert
        try:
            result = registry.parse(adv, ctx)
        except Exception:  # the registry promises not to raise; keep the advert regardless
            log.exception("parser registry raised for %s", adv.mac)
            result = None
        k = len(adverts)
        parser: str | None = None
        facts = readings = "{}"
        if result is not None:
            parser = result.parser
            plan.parsed[parser] += 1
            if result.facts:
                try:
                    facts = _dumps(result.facts)
                except (TypeError, ValueError):
                    plan.bad_readings += 1
            readings = _readings(result, plan)
        adverts.append(
            (
                k,
                wm.time,
                msg.received_at,
                wm.scanner_id,
                wm.boot,
                wm.seq,
                adv.mac,
                max(-32768, min(32767, adv.rssi)),
                adv.address_type,
                adv.name,
                parser,
                skewed,
                facts,
                readings,
                msg.payload.decode(),
            )
        )
    return plan
