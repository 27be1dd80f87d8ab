"""What the subscriber keeps of a message it cannot store (the ``rejected_messages`` row).

A rejection keeps the topic, the reason, a human-readable detail and the bytes received, plus
their size and SHA-256.  A message larger than ``ingest.max_payload_bytes`` is cut to that many
bytes as soon as it arrives (``truncate``): only the prefix is held in memory and kept, with
the size and hash of the whole message, which is enough to look at it and to recognise it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from attrs import define

from bt_mqtt.subscriber.storable import storable


@define(slots=True)
class Rejected:
    """One rejected message.  ``payload`` is every byte received, or the first
    ``max_payload_bytes`` of an oversize message; ``size`` and ``sha256`` describe the whole
    message as received."""

    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    detail: str
    size: int
    sha256: bytes


def reject(
    received_at: datetime,
    topic: str,
    payload: bytes,
    reason: str,
    detail: str,
    whole: tuple[int, bytes] | None = None,
) -> Rejected:
    """A ``Rejected`` whose text PostgreSQL can store; ``whole`` is (size, SHA-256) of the
    message when ``payload`` is only its prefix."""
    size, digest = whole if whole is not None else (len(payload), hashlib.sha256(payload).digest())
    return Rejected(received_at, storable(topic), payload, reason, storable(detail), size, digest)


def truncate(payload: bytes, limit: int) -> tuple[bytes, tuple[int, bytes]]:
    """(the first ``limit`` bytes, (size, SHA-256 of all of ``payload``))."""
    return payload[:limit], (len(payload), hashlib.sha256(payload).digest())
