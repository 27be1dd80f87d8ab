"""Apple iBeacon: manufacturer data 0x004C beginning 0x02 0x15.

Layout after the company id: 0x02 (type), 0x15 (length 21), proximity UUID (16), major (u16 BE),
minor (u16 BE), measured power at 1 m (i8).  Facts carry the identity (``uuid``/``major``/
``minor``); readings carry ``tx_power_dbm`` (the measured power) and ``distance_m`` (see
``beaconmath``).  Other Apple frames are not claimed, nor adverts that also carry another
company's manufacturer data (sensors such as Govee's append an iBeacon to their own frame); a
0x02 0x15 frame that is too short raises.

Cypress's CYALKIT-E02 sensor beacon (proximity UUID 00050001-0000-1000-8000-00805f9b0131) puts
its readings in the minor: humidity in the high byte (``125 * h / 256 - 6`` %), temperature in
the low byte (``175.72 * t / 256 - 46.85`` °C).  Only that UUID is read this way; major and
minor of any other beacon are identifiers.  A beacon parser: it ranks below sensor parsers and
merges other beacon frames of the same advertisement (see the registry).
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.beaconmath import distance_m, format_uuid

log = logging.getLogger(__name__)

APPLE = 0x004C
_FRAME = struct.Struct(">2x16sHHb")
CYPRESS_SENSOR_UUID = bytes.fromhex("0005000100001000800000805f9b0131")


class IBeaconParser:
    """iBeacon advertisements."""

    name: ClassVar[str] = "ibeacon"
    company_ids: ClassVar[tuple[int, ...]] = (APPLE,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = -1
    merges: ClassVar[bool] = True

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode an iBeacon frame; None for other Apple frames."""
        md = advert.manufacturer_data
        data = md.get(APPLE)
        if data is None or data[:2] != b"\x02\x15" or len(md) > 1:
            # With another vendor's data beside it, the frame is that vendor's (Govee...).
            return None
        if len(data) < 23:
            raise ParseError(f"ibeacon: {len(data)} bytes, need 23")
        raw_uuid, major, minor, power = _FRAME.unpack_from(data)
        readings: dict[str, float] = {"tx_power_dbm": power}
        dist = distance_m(power, advert.rssi)
        if dist is not None:
            readings["distance_m"] = dist
        if raw_uuid == CYPRESS_SENSOR_UUID:
            readings["humidity_pct"] = 125.0 * (minor >> 8) / 256 - 6
            readings["temperature_c"] = 175.72 * (minor & 0xFF) / 256 - 46.85
        facts = {"beacon": "ibeacon", "uuid": format_uuid(raw_uuid), "major": major, "minor": minor}
        return ParseResult("ibeacon", readings, facts)
