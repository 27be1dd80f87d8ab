"""The pure core of ingest: a list of MQTT messages in, the rows to write out.

``plan_chunk`` routes each message by topic, validates it with the wire codec, runs the parser
registry and encodes the rows the store copies into PostgreSQL, already in COPY text format (so
the process that writes to the database only forwards bytes).  No I/O and no clock: the received
time comes with each message.  Every message ends up in exactly one place: an advert row, a
heartbeat, a rejection, or a counted duplicate/ignored/privacy-dropped message.

Everything done with one message runs under one guard: whatever it raises, that message
becomes an ``internal_error`` rejection (kept byte for byte) and the rest of the chunk goes on.
Rows are only added once the message is fully planned, so a failure leaves no half of it.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Final, Protocol

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import RAW, STATUS, Topics
from bt_mqtt.core.wire import WireError, decode
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.subscriber import parsestatus
from bt_mqtt.subscriber.clock import TimeTrust
from bt_mqtt.subscriber.copytext import NULL, esc, fmt_bool, fmt_float, fmt_time, fmt_ts
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.heard import Heard
from bt_mqtt.subscriber.heartbeat import Heartbeat, parse_heartbeat
from bt_mqtt.subscriber.privacy import DROP, KEEP, Privacy
from bt_mqtt.subscriber.rejected import Rejected, reject
from bt_mqtt.subscriber.rows import raw_line, reading_line
from bt_mqtt.subscriber.storable import has_unstorable, storable, storable_tree

__all__ = ["BatchPlan", "Heartbeat", "Incoming", "Parses", "Rejected", "plan_chunk"]

log = logging.getLogger(__name__)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
CACHE_MAX: Final = 4096
DETAIL_MAX: Final = 500
DAY_S: Final = 86400


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
class BatchPlan:
    """The rows of one batch, as COPY text.

    ``raw`` holds one line per advert for the store's ``stage_raw`` table and
    ``readings_rows`` one per reading for ``stage_readings``, in the layout of ``rows``
    (``k`` is the message's index in the chunk; ``agent_time`` false when the advert is stored
    at its arrival time, ``parse_status`` as ``parsestatus`` says).  ``readings`` counts those
    lines, ``days`` are the UTC days of the adverts' times.  ``escaped`` counts adverts stored
    with text made storable (see ``storable``), ``pseudonymised`` those stored under a pseudonym and
    ``privacy_dropped`` (by scanner) those not stored by the privacy policy; ``seen`` holds
    their identities (they count as received in the seq ledger).  ``untrusted`` counts adverts
    stored at their arrival time because the agent's clock was implausible (see ``clock``);
    ``parse_failed`` counts adverts a parser claimed and failed on, by (parser, status).
    ``heard`` is the batch in short for the HA bridge (only when asked for; see ``heard``).
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
    escaped: int = 0
    pseudonymised: int = 0
    privacy_dropped: Counter[str] = field(factory=Counter)
    parsed: Counter[str] = field(factory=Counter)
    seen: list[tuple[str, str, int]] = field(factory=list)
    untrusted: int = 0
    parse_failed: Counter[tuple[str, str]] = field(factory=Counter)
    heard: Heard | None = None


_KEYS: dict[str, tuple[str, str]] = {}  # metric -> (JSON key, COPY text), both escaped


def _key(metric: str) -> tuple[str, str] | None:
    try:
        return _KEYS[metric]
    except KeyError:
        if not isinstance(metric, str) or has_unstorable(metric):
            return None
        if len(_KEYS) >= CACHE_MAX:
            _KEYS.clear()
        keys = _KEYS[metric] = (esc(json.dumps(metric, ensure_ascii=False)), esc(metric))
        return keys


def _readings(
    k: int,
    readings: Mapping[str, object],
    plan: BatchPlan,
    out: list[str],
    values: dict[str, float] | None,
) -> str:
    """Append the finite numeric readings as (k, metric, value) lines (and to ``values``);
    return them as a JSON object in COPY text (NULL when none).  Anything else is counted and
    dropped."""
    parts: list[str] = []
    for metric, value in readings.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            plan.bad_readings += 1
            continue
        try:
            number = float(value)
        except OverflowError:
            plan.bad_readings += 1
            continue
        keys = _key(metric)
        if keys is not None and math.isfinite(number):
            json_key, text_key = keys
            shown = float.__repr__(value) if isinstance(value, float) else int.__repr__(value)
            parts.append(f"{json_key}:{shown}")
            out.append(reading_line(k, text_key, fmt_float(number)))
            if values is not None:
                values[metric] = number
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
    privacy: Privacy | None = None,
    trust: TimeTrust | None = None,
    devices: Devices | None = None,
    heard: Heard | None = None,
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
        privacy=privacy,
        trust=trust,
        devices=devices,
        heard=heard,
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
    privacy: Privacy | None = None,
    oversize: Mapping[int, tuple[int, bytes]] | None = None,
    trust: TimeTrust | None = None,
    devices: Devices | None = None,
    heard: Heard | None = None,
) -> BatchPlan:
    """Turn messages (topic, payload, received time as Unix seconds) into rows; see above.

    ``oversize`` maps the index of a message that arrived larger than ``max_bytes`` (and was
    cut to its first ``max_bytes`` bytes) to its (size, SHA-256).  ``privacy`` is applied to
    adverts no parser claims (None: all kept).  ``trust`` decides when the agent's ``ts`` is
    the stored time (see ``clock``; None: the defaults).  ``devices`` are the per-device
    settings (offsets added to the readings; an ignored device's adverts are archived without
    readings).  ``heard``: the summary for the HA bridge to add this batch's decoded devices to
    (see ``heard``; the caller decides when to hand it over as ``plan.heard``)."""
    plan = BatchPlan()
    summary = heard
    trust = trust or TimeTrust()
    seen: set[tuple[str, str, int]] = set()
    lines: list[bytes] = []
    reading_lines: list[str] = []
    recv_text: dict[int, str] = {}  # by millisecond
    parser_text: dict[str, str] = {}
    days = plan.days
    rejected = plan.rejected
    guard_privacy = privacy is not None and privacy.active
    for k, topic in enumerate(topic_list):
        payload = payloads[k]
        t_recv = received[k]
        mark = len(reading_lines)
        try:
            if oversize and k in oversize:
                whole = oversize[k]
                detail = (
                    f"payload is {whole[0]} bytes, limit {max_bytes}; "
                    f"the first {len(payload)} bytes are kept"
                )
                rejected.append(reject(_dt(t_recv), topic, payload, "too_large", detail, whole))
                continue
            route = topics.classify(topic)
            if route is None or route.kind not in (RAW, STATUS) or route.scanner_id is None:
                rejected.append(
                    reject(_dt(t_recv), topic, payload, "bad_topic", "unexpected topic")
                )
                continue
            sid = route.scanner_id
            if route.kind == STATUS:
                if not payload:  # a retained status being cleared
                    plan.ignored += 1
                    continue
                hb = parse_heartbeat(topic, payload, _dt(t_recv), sid, max_bytes)
                if isinstance(hb, Rejected):
                    rejected.append(hb)
                else:
                    plan.heartbeats.append(hb)
                continue
            try:
                wm = decode(payload, sid, max_bytes)
            except WireError as exc:
                rejected.append(reject(_dt(t_recv), topic, payload, exc.reason, exc.detail))
                continue
            ident = (wm.scanner_id, wm.boot, wm.seq)
            if ident in seen:
                plan.duplicates += 1
                continue
            when = wm.time  # aware UTC (see wire.parse_ts)
            t_agent = when.timestamp()
            skewed = abs(t_recv - t_agent) > skew_s
            trusted = trust.trusted(t_agent, t_recv)
            adv = wm.advert
            failed_before = parsestatus.failures(registry)
            try:
                result = registry.parse(adv, ctx)
            except Exception:  # the registry promises not to raise; keep the advert regardless
                log.exception("parser registry raised for %s", adv.mac)
                result = None
            failed = (
                None
                if result is not None
                else parsestatus.failed_parser(registry, adv, ctx, failed_before)
            )
            mac, name, text = adv.mac, adv.name, None
            pseudonymised = False
            if result is None and failed is None and guard_privacy:
                assert privacy is not None
                action = privacy.action(adv.address_type)
                if action == DROP:
                    seen.add(ident)
                    plan.privacy_dropped[sid] += 1
                    plan.seen.append(ident)
                    continue
                if action != KEEP:
                    mac = privacy.pseudonym(mac, int(t_recv // DAY_S))
                    quoted, text = f'"{adv.mac}"', payload.decode()
                    if name is None and quoted in text:  # the usual case: edit the text
                        text = text.replace(quoted, f'"{mac}"')  # every copy of the address
                    else:
                        text = _dumps(dict(wm.raw, mac=mac, name=None))
                    name = None
                    pseudonymised = True
            if text is None:
                text = payload.decode()
            parser = status = NULL
            facts = readings = NULL
            values: dict[str, float] | None = None
            if failed is not None:
                parser = esc(storable(failed[0]))
                status = failed[1]
            if result is not None:
                status = parsestatus.OK
                parser = parser_text.get(result.parser) or parser_text.setdefault(
                    result.parser, esc(storable(result.parser))
                )
                if result.facts:
                    try:
                        facts = esc(_dumps(result.facts))
                    except (TypeError, ValueError):
                        plan.bad_readings += 1
                values = {} if summary is not None else None
                found = (
                    result.readings if devices is None else devices.readings(mac, result.readings)
                )
                readings = _readings(k, found, plan, reading_lines, values)
            ms = int(t_recv * 1000)
            rt = recv_text.get(ms)
            if rt is None:
                rt = recv_text[ms] = fmt_time(_dt(ms / 1000))
            ts = fmt_ts(wm.ts, when) if trusted else rt
            boot = esc(wm.boot)
            rssi = max(-32768, min(32767, adv.rssi))
            address_type, skew = adv.address_type or NULL, fmt_bool(skewed)
            # every column but the three the careful path below may have to re-escape
            row = partial(
                raw_line,
                k=k,
                time=ts,
                received_at=rt,
                scanner_id=sid,
                boot=boot,
                seq=wm.seq,
                mac=mac,
                rssi=rssi,
                address_type=address_type,
                parser=parser,
                clock_skew=skew,
                agent_time=fmt_bool(trusted),
                parse_status=status,
                readings=readings,
            )
            line = row(name=NULL if name is None else esc(name), facts=facts, payload=esc(text))
            escaped = False
            try:
                encoded = line.encode()
                clean = "\x00" not in line and "\\u" not in text and "\\u0000" not in facts
            except UnicodeEncodeError:
                clean = False
            if not clean:  # rare: a NUL or lone surrogate somewhere; escape it, keep the rest
                if name is not None:
                    name = storable(name)
                if facts is not NULL and result is not None:
                    facts = esc(_dumps(storable_tree(result.facts)))
                obj = wm.raw if not pseudonymised else dict(wm.raw, mac=mac, name=None)
                clean_obj = storable_tree(obj)
                if clean_obj != obj:
                    text = _dumps(clean_obj)
                fixed = row(
                    name=NULL if name is None else esc(name), facts=facts, payload=esc(text)
                )
                encoded = fixed.encode()
                escaped = fixed != line
        except Exception as exc:  # a failure nobody foresaw: quarantine this message only
            del reading_lines[mark:]
            log.exception("unexpected error planning a message on %s", topic[:200])
            detail = f"{type(exc).__name__}: {exc}"[:DETAIL_MAX]
            rejected.append(reject(_dt(t_recv), topic, payload, "internal_error", detail))
            continue
        seen.add(ident)
        if values:
            assert summary is not None and result is not None
            summary.device(
                mac, adv.address_type, adv.name, result.parser, result.facts, values, sid, rssi,
                t_recv,
            )  # fmt: skip
        if result is not None:
            plan.parsed[result.parser] += 1
        if skewed:
            plan.skewed += 1
        if failed is not None:
            plan.parse_failed[failed] += 1
        if not trusted:
            plan.untrusted += 1
        if pseudonymised:
            plan.pseudonymised += 1
        if escaped:
            plan.escaped += 1
        lines.append(encoded)
        days.add(when.date() if trusted else _dt(t_recv).date())
    plan.adverts = len(lines)
    plan.raw = b"".join(lines)
    plan.readings = len(reading_lines)
    plan.readings_rows = "".join(reading_lines).encode()
    return plan


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
