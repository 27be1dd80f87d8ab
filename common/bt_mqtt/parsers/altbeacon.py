"""AltBeacon: manufacturer data whose first two bytes are the beacon code 0xBE 0xAC.

Layout after the company id: 0xBEAC, beacon id (20 bytes: here read as a 16-byte UUID, u16
"major", u16 "minor", the common convention), reference RSSI at 1 m (i8), and the manufacturer
reserved byte (absent in some captures: then 0).  Any company may send AltBeacons: the ids
seen in the field are routed directly, any other company id through the registry's
signature index (the 0xBEAC code at offset 0).  A beacon parser: it ranks below sensor
parsers and merges other beacon frames of the same advertisement (see the registry).
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.beaconmath import distance_m, format_uuid

log = logging.getLogger(__name__)

# Radius Networks, Google, Nordic, TI, the unassigned test id 0xFFFF, and ids seen in captures.
KNOWN_COMPANIES = (0x0118, 0x00E0, 0x0059, 0x000D, 0xFFFF, 0xBBAA)
_FRAME = struct.Struct(">2x16sHHb")
BEACON_CODE = b"\xbe\xac"


class AltBeaconParser:
    """AltBeacon advertisements."""

    name: ClassVar[str] = "altbeacon"
    company_ids: ClassVar[tuple[int, ...]] = KNOWN_COMPANIES
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()
    manufacturer_signatures: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, BEACON_CODE),)
    priority: ClassVar[int] = -1
    merges: ClassVar[bool] = True

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the first manufacturer-data entry carrying the 0xBEAC code; None if none."""
        for company, data in advert.manufacturer_data.items():
            if data[:2] == BEACON_CODE:
                return self._decode(company, data, advert.rssi)
        return None

    @staticmethod
    def _decode(company: int, data: bytes, rssi: int) -> ParseResult:
        if len(data) < 23:
            raise ParseError(f"altbeacon: {len(data)} bytes, need 23")
        raw_uuid, major, minor, power = _FRAME.unpack_from(data)
        readings: dict[str, float] = {"tx_power_dbm": power}
        dist = distance_m(power, rssi)
        if dist is not None:
            readings["distance_m"] = dist
        facts = {
            "beacon": "altbeacon",
            "company_id": company,
            "uuid": format_uuid(raw_uuid),
            "major": major,
            "minor": minor,
            "mfg_reserved": data[23] if len(data) > 23 else 0,
        }
        return ParseResult("altbeacon", readings, facts)
