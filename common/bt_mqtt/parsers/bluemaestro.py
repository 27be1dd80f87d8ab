"""BlueMaestro Tempo Disc: manufacturer data, company 0x0133.

Tempo Disc (big-endian): version, battery %, logging interval (u16 s), log count (u16),
temperature (i16, 0.1 °C), humidity (u16, 0.1 %), dew point (i16, 0.1 °C).  Version 0x17 is
the THD (temperature, humidity, dew point), 0x16 the temperature-only disc, 0x1B the THPD
(pressure, u16 0.1 hPa, where the THD has its dew point).
Pebble (version 0x01, 18 bytes, little-endian after the version byte): three temperatures
(i16, 0.1 °C; the second is the reading), humidity (u8 %), pressure (u16 hPa).
Other versions (history frames) are not claimed.
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

COMPANY_ID = 0x0133
_FRAME = struct.Struct(">BBHHhHh")
_PEBBLE = struct.Struct("<xhhhBH")
MODELS = {0x16: "Tempo Disc T", 0x17: "Tempo Disc THD", 0x1B: "Tempo Disc THPD", 0x01: "Pebble"}


class BlueMaestroParser:
    """BlueMaestro Tempo Disc advertisements."""

    name: ClassVar[str] = "bluemaestro"
    company_ids: ClassVar[tuple[int, ...]] = (COMPANY_ID,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode a Tempo Disc frame; None for other versions."""
        data = advert.manufacturer_data.get(COMPANY_ID)
        if not data or data[0] not in MODELS:
            return None
        if data[0] == 0x01:
            if len(data) != 18:
                return None
            _t1, temp, _t3, hum, pres = _PEBBLE.unpack_from(data)
            readings = {"temperature_c": temp / 10, "humidity_pct": hum, "pressure_hpa": pres}
            return ParseResult(
                "bluemaestro", readings, {"manufacturer": "BlueMaestro", "model": "Pebble"}
            )
        if len(data) < _FRAME.size:
            raise ParseError(f"bluemaestro: {len(data)} bytes, need {_FRAME.size}")
        version, battery, interval, count, temp, hum, dew = _FRAME.unpack_from(data)
        readings = {"battery_pct": battery, "temperature_c": temp / 10}
        if version == 0x17:
            readings["humidity_pct"] = hum / 10
            readings["dewpoint_c"] = dew / 10
        elif version == 0x1B:
            readings["humidity_pct"] = hum / 10
            readings["pressure_hpa"] = dew / 10
        facts = {
            "manufacturer": "BlueMaestro",
            "model": MODELS[version],
            "log_interval_s": interval,
            "packet_id": count,
        }
        return ParseResult("bluemaestro", readings, facts)
