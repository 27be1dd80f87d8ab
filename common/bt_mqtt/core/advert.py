"""The advertisement as every part of BT-MQTT sees it, and the wire message around it.

``Advert`` is the content of one BLE advertisement (no envelope).  Backends produce it in the
agent; the wire codec turns it into the v1 JSON message and back; parsers read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import define, field


@define(slots=True)
class Advert:
    """One received advertisement.

    ``mac`` is upper case ``AA:BB:CC:DD:EE:FF``; ``manufacturer_data`` maps the 16-bit company id
    to the bytes after it; ``service_data`` maps the 128-bit lower-case UUID to its bytes;
    ``service_uuids`` are 128-bit lower-case UUIDs.
    """

    mac: str
    rssi: int
    address_type: str | None = None
    tx_power: int | None = None
    name: str | None = None
    manufacturer_data: dict[int, bytes] = field(factory=dict)
    service_data: dict[str, bytes] = field(factory=dict)
    service_uuids: list[str] = field(factory=list)


@define(slots=True)
class WireMessage:
    """A decoded v1 message: the envelope plus the advertisement.

    ``raw`` is the JSON object as received (unknown fields included) for archival; ``time`` is
    ``ts`` parsed (timezone-aware UTC).  (``scanner_id``, ``boot``, ``seq``) identify the message.
    """

    scanner_id: str
    boot: str
    seq: int
    ts: str
    time: datetime
    advert: Advert
    raw: dict[str, Any]
