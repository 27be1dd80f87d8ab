"""Google Eddystone frames in service data 0xFEAA: UID, URL, TLM (plain and encrypted), EID.

UID: 0x00, tx power at 0 m (i8), namespace (10), instance (6), 2 reserved bytes (optional).
URL: 0x10, tx power, scheme prefix code, URL bytes with the spec's expansion codes 0x00-0x0D.
TLM: 0x20, version 0x00, battery mV (u16, 0 = not supported), temperature (signed 8.8 fixed
point, 0x8000 = not supported), advertisement count (u32), time since boot in 0.1 s (u32).
eTLM (version 0x01: 12 encrypted bytes, salt u16, MIC u16) and EID frames only yield facts.
Distance uses the 0 m power minus 41 dB.
Unknown frame types are not claimed; a known frame that is too short or malformed raises.
A beacon parser: it ranks below sensor parsers (RuuviTag's Eddystone-URL weather frames are
Ruuvi's) and merges other beacon frames of the same advertisement (see the registry).
"""

from __future__ import annotations

import logging
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.beaconmath import EDDYSTONE_0M_TO_1M_DB, distance_m

log = logging.getLogger(__name__)

EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
_TLM = struct.Struct(">2xHhII")
URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
URL_EXPANSIONS = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip


def decode_url(body: bytes) -> str:
    """Scheme code plus encoded URL bytes -> the URL text; ParseError on reserved codes."""
    if not body:
        raise ParseError("eddystone url: empty")
    if body[0] >= len(URL_SCHEMES):
        raise ParseError(f"eddystone url: scheme code {body[0]:#04x} is reserved")
    parts = [URL_SCHEMES[body[0]]]
    for b in body[1:]:
        if b < len(URL_EXPANSIONS):
            parts.append(URL_EXPANSIONS[b])
        elif 0x20 < b < 0x7F:
            parts.append(chr(b))
        else:
            raise ParseError(f"eddystone url: byte {b:#04x} is not a URL character")
    return "".join(parts)


def _with_distance(readings: dict[str, float], tx0: int, rssi: int) -> dict[str, float]:
    dist = distance_m(tx0 - EDDYSTONE_0M_TO_1M_DB, rssi) if tx0 else None
    if dist is not None:
        readings["distance_m"] = dist
    return readings


class EddystoneParser:
    """Eddystone UID / URL / TLM / eTLM / EID frames."""

    name: ClassVar[str] = "eddystone"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (EDDYSTONE_UUID,)
    name_patterns: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = -1
    merges: ClassVar[bool] = True

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the 0xFEAA frame; None for unknown frame types."""
        data = advert.service_data.get(EDDYSTONE_UUID)
        if not data:
            return None
        frame = data[0]
        facts: dict[str, Any]
        if frame == 0x20:
            return self._tlm(data)
        if frame == 0x00:
            if len(data) < 18:
                raise ParseError(f"eddystone uid: {len(data)} bytes, need 18")
            tx0 = struct.unpack_from(">b", data, 1)[0]
            facts = {
                "beacon": "eddystone_uid",
                "namespace": data[2:12].hex(),
                "instance": data[12:18].hex(),
            }
            readings = _with_distance({"tx_power_dbm": tx0}, tx0, advert.rssi)
            return ParseResult("eddystone", readings, facts)
        if frame == 0x10:
            if len(data) < 3:
                raise ParseError(f"eddystone url: {len(data)} bytes, need at least 3")
            tx0 = struct.unpack_from(">b", data, 1)[0]
            facts = {"beacon": "eddystone_url", "url": decode_url(data[2:])}
            readings = _with_distance({"tx_power_dbm": tx0}, tx0, advert.rssi)
            return ParseResult("eddystone", readings, facts)
        if frame == 0x30:
            if len(data) < 10:
                raise ParseError(f"eddystone eid: {len(data)} bytes, need 10")
            tx0 = struct.unpack_from(">b", data, 1)[0]
            facts = {"beacon": "eddystone_eid", "eid_hex": data[2:10].hex()}
            readings = _with_distance({"tx_power_dbm": tx0}, tx0, advert.rssi)
            return ParseResult("eddystone", readings, facts)
        return None

    @staticmethod
    def _tlm(data: bytes) -> ParseResult:
        facts: dict[str, Any]
        if len(data) < 2:
            raise ParseError("eddystone tlm: no version byte")
        version = data[1]
        if version == 0x01:
            if len(data) < 14:
                raise ParseError(f"eddystone etlm: {len(data)} bytes, need 14")
            facts = {"beacon": "eddystone_etlm", "encrypted_data_hex": data[2:14].hex()}
            if len(data) >= 18:
                facts["salt"], facts["mic"] = struct.unpack_from(">HH", data, 14)
            return ParseResult("eddystone", {}, facts)
        if version != 0x00:
            raise ParseError(f"eddystone tlm: unknown version {version:#04x}")
        if len(data) < 14:
            raise ParseError(f"eddystone tlm: {len(data)} bytes, need 14")
        mv, temp, adv_count, sec10 = _TLM.unpack_from(data)
        readings: dict[str, float] = {"adv_count": adv_count, "uptime_s": sec10 / 10}
        if mv:
            readings["voltage_v"] = mv / 1000
        if temp != -0x8000:
            readings["temperature_c"] = temp / 256
        return ParseResult("eddystone", readings, {"beacon": "eddystone_tlm"})
