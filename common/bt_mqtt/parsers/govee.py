"""Govee thermometers, hygrometers, air and presence sensors (manufacturer data).

Govee publishes no format; these layouts are those the maintained decoders agree on.
- 0xEC88, 6 bytes (H5072/H5075/H5129...): byte 0, then a 24-bit big-endian packed value (bit 23
  = negative; temperature = (v // 1000) / 10 °C, humidity = (v % 1000) / 10 %), battery % with
  bit 7 = error.  7 or 9 bytes (H5074, H5051/H5052/H5071): temperature i16 LE (0.01 °C),
  humidity u16 LE (0.01 %), battery %.
- 0x0001 (the model from the local name): 9 bytes = H5178, byte 2 the sensor (0 primary,
  1 remote; other values are taken as the primary), packed value at 3-5, battery at 6;
  8 bytes = H5112 (probe byte 7: 0x41 probe 1 with humidity, 0x82 probe 2), H5140 (packed
  value, CO2 u16 BE, error byte) or H5108; 6 bytes = H5106 (temperature, humidity and PM2.5
  packed into 32 bits) or H5100-H5110/H5174/H5177/GV5179 (packed value at 2-4, battery at 5).
- 0x8801 / 0x8803, 9 bytes (H5179): temperature i16 LE at 4, humidity u16 LE at 6, battery.
- 0x8803 / 0x8843 or ``ec 00 01|02`` with an H5127 name, 6 bytes (H5127 presence): byte 4 = 1
  occupied, byte 5 = 0x11 moving.
- 0xEF88, 24 bytes: the encrypted H5121-H5130 frame (``govee_h512x``).
- Meat thermometers and the H5055 (``govee_probes``): routed by their advertised service
  UUIDs, the company ids seen in the field, the local name, or - for any other company id -
  the registry's signature index (bytes 1-4 = 01 00 01 01).
Out-of-range packed values or the error bit (a sensor error) drop temperature and humidity and
keep the battery.  Apple frames and the "INTELLI_ROCKS" iBeacon that some firmware glues to the
end of a frame are ignored.  Facts: ``model``; the H5178 adds ``sub_device`` and ``sensor_id``.
"""

from __future__ import annotations

import logging
import re
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.govee_h512x import decode_h512x
from bt_mqtt.parsers.govee_probes import PROBE_HEAD, decode_h5055, decode_probes

log = logging.getLogger(__name__)

GOVEE_EC88 = 0xEC88
GOVEE_0001 = 0x0001
GOVEE_EF88 = 0xEF88
H5179_IDS = (0x8801, 0x8803)
H5127_IDS = (0x8803, 0x8843)
APPLE = 0x004C
# Company ids the meat thermometers were seen with -> model.
PROBE_COMPANIES = {0x2730: "H5182", 0x1B36: "H5184", 0xAC63: "H5191", 0x3022: "H5198"}
PROBE_COMPANIES.update(dict.fromkeys((0xF861, 0x388A, 0xEA42, 0xAAA2, 0xD14B), "H5181"))
PROBE_COMPANIES.update(dict.fromkeys((0x67DD, 0xE02F, 0xF79F), "H5183"))
PROBE_COMPANIES.update(dict.fromkeys((0x4A32, 0x0332, 0x4C32), "H5185"))
# Advertised service UUIDs -> model.
MODEL_UUIDS = {
    uuid128(f"{n:04x}"): f"H{m}"
    for n, m in ((0x8151, 5181), (0x8251, 5182), (0x8351, 5183), (0x8451, 5184),
                 (0x8551, 5185), (0x9151, 5191), (0x9851, 5198), (0x5550, 5055))
}  # fmt: skip
GOVEE_UUID = uuid128("ec88")
_THB = struct.Struct("<hHB")
_MODEL_RE = re.compile(r"(?:GVH|Govee_H|GV|B|H)(5\d{3})")
_INTELLI = b"INTELLI_ROCKS"
_H5127_HEADS = (b"\xec\x00\x01", b"\xec\x00\x02")


def _model(name: str) -> str | None:
    m = _MODEL_RE.search(name)
    return f"H{m.group(1)}" if m else None


def _packed(v: int, readings: dict[str, float], suffix: str = "", humidity: bool = True) -> None:
    """The 24-bit packed temperature/humidity value; sign in bit 23; out of range = none."""
    neg = v & 0x800000
    v &= 0x7FFFFF
    temp = (v // 1000) / 10
    if neg:
        temp = -temp
    if -40 <= temp <= 100:
        readings[f"temperature{suffix}_c"] = temp
        if humidity:
            readings[f"humidity{suffix}_pct"] = (v % 1000) / 10


def _result(readings: dict[str, float], model: str | None, **facts: Any) -> ParseResult:
    out: dict[str, Any] = {"manufacturer": "Govee"}
    if model:
        out["model"] = model
    out.update(facts)
    return ParseResult("govee", readings, out)


class GoveeParser:
    """Govee sensors; see the module docstring for the layouts."""

    name: ClassVar[str] = "govee"
    company_ids: ClassVar[tuple[int, ...]] = tuple(
        {GOVEE_EC88, GOVEE_0001, GOVEE_EF88, *H5179_IDS, *H5127_IDS, *PROBE_COMPANIES}
    )
    service_uuids: ClassVar[tuple[str, ...]] = ()
    advertised_uuids: ClassVar[tuple[str, ...]] = (GOVEE_UUID, *MODEL_UUIDS)
    name_patterns: ClassVar[tuple[str, ...]] = (r"(GVH|Govee_H|GV)5\d{3}", r"B5178")
    manufacturer_signatures: ClassVar[tuple[tuple[int, bytes], ...]] = ((1, PROBE_HEAD),)

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the first manufacturer-data entry that is a Govee frame."""
        name = advert.name or ""
        for cid, raw in advert.manufacturer_data.items():
            if cid == APPLE:
                continue
            data = raw[:-25] if len(raw) > 25 and _INTELLI in raw else raw
            result = self._frame(cid, data, name, advert)
            if result is not None:
                return result
        return None

    def _frame(self, cid: int, data: bytes, name: str, advert: Advert) -> ParseResult | None:
        n = len(data)
        if cid == GOVEE_EF88:
            return decode_h512x(data, name)
        if n == 6 and (cid in H5127_IDS or (data[:3] in _H5127_HEADS and "H5127" in name)):
            readings: dict[str, float] = {
                "occupancy": int(data[4] == 1),
                "motion": int(data[5] == 17),
            }
            return _result(readings, "H5127")
        if cid == GOVEE_EC88:
            return self._ec88(data, _model(name))
        if cid in H5179_IDS and n == 9:
            temp, hum, batt = _THB.unpack_from(data, 4)
            readings = {"temperature_c": temp / 100, "humidity_pct": hum / 100}
            readings["battery_pct"] = batt
            return _result(readings, _model(name) or "H5179")
        if cid == GOVEE_0001 and n in (6, 8, 9):
            return self._c0001(data, _model(name))
        if (n >= 12 and data[1:5] == PROBE_HEAD) or n == 20:
            model = PROBE_COMPANIES.get(cid) or _model(name)
            for uuid in advert.service_uuids:
                model = MODEL_UUIDS.get(uuid, model)
            if model == "H5055":
                return decode_h5055(data)
            if data[1:5] == PROBE_HEAD:
                return decode_probes(data, model)
        return None

    @staticmethod
    def _ec88(data: bytes, model: str | None) -> ParseResult | None:
        readings: dict[str, float] = {}
        n = len(data)
        if n == 6 or (n > 9 and data[5:7] == b"\x00\x4c"):  # an Apple frame glued on
            if not data[4] & 0x80:
                _packed(int.from_bytes(data[1:4], "big"), readings)
            readings["battery_pct"] = data[4] & 0x7F
            return _result(readings, model)
        if n in (7, 9):
            temp, hum, batt = _THB.unpack_from(data, 1)
            readings = {"temperature_c": temp / 100, "humidity_pct": hum / 100}
            readings["battery_pct"] = batt
            return _result(readings, model or ("H5074" if n == 7 else "H5051"))
        return None

    @staticmethod
    def _c0001(data: bytes, model: str | None) -> ParseResult | None:
        n = len(data)
        readings: dict[str, float] = {}
        if n == 9:  # H5178: byte 2 names the sensor
            sensor = data[2]
            if not data[6] & 0x80:
                _packed(int.from_bytes(data[3:6], "big"), readings)
            readings["battery_pct"] = data[6] & 0x7F
            sub = "remote" if sensor == 1 else "primary"
            mod = "H5178-REMOTE" if sensor == 1 else "H5178"
            return _result(readings, mod, sub_device=sub, sensor_id=sensor)
        if model == "H5106" and n == 6:
            v = int.from_bytes(data[2:6], "big")
            neg = v & 0x80000000
            v &= 0x7FFFFFFF
            temp = (v // 1_000_000) / 10
            readings["temperature_c"] = -temp if neg else temp
            readings["humidity_pct"] = ((v % 1_000_000) // 1000) / 10
            readings["pm25_ugm3"] = v % 1000
            return _result(readings, model)
        if model == "H5140" and n == 8:
            if not data[7]:
                _packed(int.from_bytes(data[2:5], "big"), readings)
                if readings:
                    readings["co2_ppm"] = int.from_bytes(data[5:7], "big")
            return _result(readings, model)
        if model == "H5112" and n == 8:
            probe = {0x41: 1, 0x82: 2}.get(data[7])
            if probe is None:
                return _result(readings, model)
            if not data[5] & 0x80:
                packed = int.from_bytes(data[2:5], "big")
                _packed(packed, readings, f"_probe_{probe}", humidity=probe == 1)
            readings["battery_pct"] = data[5] & 0x7F
            return _result(readings, model)
        if not data[5] & 0x80:
            _packed(int.from_bytes(data[2:5], "big"), readings)
        readings["battery_pct"] = data[5] & 0x7F
        return _result(readings, model or ("H5108" if n == 8 else None))
