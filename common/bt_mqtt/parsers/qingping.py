"""Qingping (ClearGrass) sensors: service data 0xFDCD.

Frame: flags byte, product id, the device MAC (6 bytes, reversed), then TLV records (type,
length, value; little-endian values): 0x01 temperature (i16, 0.1 °C) + humidity (u16, 0.1 %),
0x02 battery %, 0x04 door state, 0x07 pressure (u16, 0.1 hPa), 0x08 motion flag + illuminance
(u24 lux), 0x09 illuminance (u32 lux), 0x0F packet id, 0x11 light flag, 0x12 PM2.5 + PM10 (u16
µg/m³ each), 0x13 CO2 (u16 ppm).  Unknown record types are skipped; a record running past the
end raises ``ParseError``.
"""

from __future__ import annotations

import logging
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

QINGPING_UUID = "0000fdcd-0000-1000-8000-00805f9b34fb"
MODELS = {
    0x01: "CGG1", 0x07: "CGG1", 0x09: "CGP1W", 0x0C: "CGD1", 0x0E: "CGDN1", 0x0F: "CGM1",
    0x04: "CGH1", 0x12: "CGPR1", 0x15: "CGF1W", 0x16: "CGG1", 0x18: "CGP23W", 0x1E: "CGC1",
    0x24: "CGDN1", 0x33: "CGP22C", 0x4F: "CGG3", 0x5D: "CGP22C",
}  # fmt: skip
_HH = struct.Struct("<hH")
_U16 = struct.Struct("<H")


class QingpingParser:
    """Qingping thermo-hygrometers, air monitors, motion/light and door sensors."""

    name: ClassVar[str] = "qingping"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (QINGPING_UUID,)
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the TLV records of a 0xFDCD frame."""
        data = advert.service_data.get(QINGPING_UUID)
        if data is None:
            return None
        if len(data) < 8:
            raise ParseError(f"qingping: {len(data)} bytes, need at least 8")
        readings: dict[str, float] = {}
        facts: dict[str, Any] = {
            "manufacturer": "Qingping",
            "model": MODELS.get(data[1], f"product {data[1]:#04x}"),
            "payload_mac": ":".join(f"{b:02X}" for b in reversed(data[2:8])),
        }
        i, end = 8, len(data)
        while i + 2 <= end:
            kind, size = data[i], data[i + 1]
            i += 2
            if i + size > end:
                raise ParseError(f"qingping: record {kind:#04x} of {size} bytes runs past the end")
            _record(kind, data[i : i + size], readings, facts)
            i += size
        if i != end:
            raise ParseError("qingping: trailing byte after the last record")
        return ParseResult("qingping", readings, facts)


def _record(kind: int, v: bytes, readings: dict[str, float], facts: dict[str, Any]) -> None:
    size = len(v)
    if kind == 0x01 and size == 4:
        temp, hum = _HH.unpack(v)
        readings["temperature_c"] = temp / 10
        readings["humidity_pct"] = hum / 10
    elif kind == 0x02 and size == 1:
        readings["battery_pct"] = v[0]
    elif kind == 0x04 and size == 1:
        readings["door"] = 0 if v[0] == 1 else 1  # 0 = closed ... 1 = open
        readings["door_left_open"] = 1 if v[0] == 2 else 0
    elif kind == 0x07 and size == 2:
        readings["pressure_hpa"] = _U16.unpack(v)[0] / 10
    elif kind == 0x08 and size == 4:
        readings["motion"] = v[0]
        readings["illuminance_lux"] = int.from_bytes(v[1:4], "little")
    elif kind == 0x09 and size == 4:
        readings["illuminance_lux"] = int.from_bytes(v, "little")
    elif kind == 0x0F and size == 1:
        facts["packet_id"] = v[0]
    elif kind == 0x11 and size == 1:
        readings["light"] = v[0]
    elif kind == 0x12 and size == 4:
        pm25, pm10 = struct.unpack("<HH", v)
        readings["pm25_ugm3"] = pm25
        readings["pm10_ugm3"] = pm10
    elif kind == 0x13 and size == 2:
        readings["co2_ppm"] = _U16.unpack(v)[0]
