"""Validating a scanner's status message (``<prefix>/scanner/<id>/status``).

A heartbeat is a JSON object (standard JSON: no ``NaN``/``Infinity``) with ``status`` online or
offline, read by ``core.status.decode``.  Its interval (``interval_s``, or
``heartbeat_interval_s``) decides when the offline
sweep gives up on the scanner; a number outside 1 s .. 1 day is clamped into that range (a
scanner claiming 1e300 s would otherwise break the sweep's date arithmetic), and a missing,
non-numeric or non-positive one means the default.  Text PostgreSQL cannot store is escaped
(see ``storable``); everything else is kept as published.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from attrs import define

from bt_mqtt.core import status
from bt_mqtt.core.wire import loads
from bt_mqtt.subscriber.rejected import Rejected, reject
from bt_mqtt.subscriber.storable import storable_tree

MIN_INTERVAL_S: Final = 1.0
MAX_INTERVAL_S: Final = 86400.0
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


@define(slots=True)
class Heartbeat:
    """A valid status message of one scanner; ``text`` is the JSON stored as its last
    heartbeat (the payload itself unless text had to be escaped)."""

    scanner_id: str
    received_at: datetime
    status: str
    interval_s: float | None
    body: dict[str, Any]
    text: str


def interval_of(decoded: status.Status) -> float | None:
    """The scanner's heartbeat interval in seconds, clamped to 1 s .. 1 day (None: default)."""
    interval = decoded.figures.interval_s if decoded.figures is not None else None
    if interval is None:
        return None
    return min(max(interval, MIN_INTERVAL_S), MAX_INTERVAL_S)


def parse_heartbeat(
    topic: str, payload: bytes, received_at: datetime, scanner_id: str, max_bytes: int
) -> Heartbeat | Rejected:
    """Validate a status message: a JSON object with ``status`` online/offline."""

    def bad(reason: str, detail: str) -> Rejected:
        return reject(received_at, topic, payload, reason, detail)

    if len(payload) > max_bytes:
        return bad("too_large", f"payload is {len(payload)} bytes, limit {max_bytes}")
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        return bad("invalid_utf8", f"payload is not UTF-8 at byte {exc.start}")
    try:
        body = loads(text)
    except ValueError as exc:
        return bad("invalid_json", f"payload is not JSON: {exc}")
    except RecursionError:
        return bad("invalid_json", "payload is nested too deeply")
    if not isinstance(body, dict):
        return bad("not_object", f"payload is a JSON {type(body).__name__}, not an object")
    decoded = status.decode(body)
    if decoded.status not in status.STATUSES:
        return bad("bad_heartbeat", f"field 'status' is {str(body.get('status'))[:40]!r}")
    sid = body.get("scanner_id")
    if sid is not None and sid != scanner_id:
        return bad("scanner_mismatch", f"payload scanner_id {str(sid)[:64]!r} differs")
    if "\\u" in text:  # only a JSON escape can bring a NUL or a lone surrogate
        clean = storable_tree(body)
        if clean != body:
            body, text = clean, _dumps(clean)
    return Heartbeat(scanner_id, received_at, decoded.status, interval_of(decoded), body, text)
