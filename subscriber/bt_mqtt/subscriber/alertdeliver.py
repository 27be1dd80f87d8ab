"""Delivering alerts: the MQTT topic and message, and a webhook (JSON POST with retries).

``alert_topic`` maps an alert's kind and subject onto the topic ``bt_mqtt.core.topics`` builds
(the one home of every topic).  The message, retained, is the latest state of the alert:

    {"state": "firing"|"resolved", "since": <RFC 3339>, "kind": ..., "subject": ...,
     "message": ..., "value": <number|null>, "fired_at": <RFC 3339>,
     "resolved_at": <RFC 3339|null>, "id": <alerts.id>, "detail": {...}}

The webhook receives the same object.  ``post_json`` is a minimal HTTP/1.1 client (http and
https, one request per connection): the standard library has no asyncio one.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from bt_mqtt.core.topics import Topics
from bt_mqtt.subscriber.alertcore import RESOLVED, Transition

_NOT_KIND: Final = re.compile(r"[^a-z0-9_]")
_NOT_SUBJECT: Final = re.compile(r"[^A-Za-z0-9_.:-]")


def alert_topic(prefix: str, kind: str, subject: str) -> str:
    """``<prefix>/alert/<kind>/<subject>`` (``Topics.alert``); characters the topic rules do not
    allow in a kind or subject become ``_``, and each is cut to 64 characters."""
    kind = _NOT_KIND.sub("_", kind)[:64] or "_"
    subject = _NOT_SUBJECT.sub("_", subject)[:64] or "_"
    return Topics(prefix).alert(kind, subject)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_message(t: Transition, alert_id: int) -> dict[str, Any]:
    """The MQTT and webhook body of one transition (see the module docstring)."""
    resolved = t.state == RESOLVED
    return {
        "state": t.state,
        "since": rfc3339(t.at),
        "kind": t.kind,
        "subject": t.subject,
        "message": t.message,
        "value": t.value,
        "fired_at": rfc3339(t.since),
        "resolved_at": rfc3339(t.at) if resolved else None,
        "id": alert_id,
        "detail": t.detail,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str, allow_nan=False).encode()


class HttpError(Exception):
    """The webhook could not be reached or did not answer 2xx."""


async def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` as JSON; the status code (raises ``HttpError`` unless 2xx).  ``tls``: the
    context for https (default: the system's CAs)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc.rsplit('@', 1)[-1]}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "User-Agent: bt-mqtt-subscriber",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def exchange() -> int:
        ctx = (tls or ssl.create_default_context()) if secure else None
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
        fields = status_line.split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise HttpError(f"{url}: no HTTP status line in the answer")
        return int(fields[1])

    try:
        status = await asyncio.wait_for(exchange(), timeout_s)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise HttpError(f"{url}: {exc or type(exc).__name__}") from None
    if not 200 <= status < 300:
        raise HttpError(f"{url}: HTTP {status}")
    return status
