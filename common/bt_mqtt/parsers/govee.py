"""Govee thermometers, hygrometers and meat-probe thermometers (manufacturer data).

- 0xEC88, 6 bytes (H5072/H5075/H5129...): byte 0, then a 24-bit big-endian packed value (bit 23
  = negative; temperature = (v // 1000) / 10 °C, humidity = (v % 1000) / 10 %), battery %.
- 0xEC88, 7 bytes (H5074): temperature i16 LE (0.01 °C), humidity u16 LE (0.01 %), battery.
- 0xEC88, 9 bytes (H5051/H5052/H5071): as H5074.
- 0x0001 (H5100-H5105, H5108, H5110, H5174/H5177, GV5179, H5112, H5178, H5140): packed
  value as above at bytes 2-4 (byte 5 = battery, bit 7 = error); H5106 packs temperature,
  humidity and PM2.5 into a 32-bit value; H5140 adds CO2 (u16 BE); H5178 and H5112 carry a
  sensor index.  The model comes from the local name.
- 0x8801 / 0x8803 (H5179): temperature i16 LE at 4, humidity u16 LE at 6 (0.01), battery at 8.
- Meat thermometers (H5181-H5185, H5191, H5198; any company id, routed by name): bytes 1-4
  are 01 00 01 01; probes as big-endian u16 temperature / alarm pairs (0.01 °C, 0xFFFF = 0).
Out-of-range packed values (a sensor error) drop temperature and humidity, keep the battery.
"""

from __future__ import annotations

import logging
import re
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

GOVEE_EC88 = 0xEC88
GOVEE_0001 = 0x0001
H5179_IDS = (0x8801, 0x8803)
_THB = struct.Struct("<hHB")
_MODEL_RE = re.compile(r"(?:GVH|Govee_H|GV|B|Govee_)?(\d{4})")
_PROBE_HEAD = b"\x01\x00\x01\x01"


def _model(name: str | None) -> str | None:
    if not name:
        return None
    m = _MODEL_RE.match(name)
    return f"H{m.group(1)}" if m else None


def _packed(v: int, readings: dict[str, float], suffix: str = "") -> None:
    """The 24-bit packed temperature/humidity value; sign in bit 23."""
    neg = v & 0x800000
    v &= 0x7FFFFF
    temp = (v // 1000) / 10
    hum = (v % 1000) / 10
    if neg:
        temp = -temp
    if -40 <= temp <= 100 and hum <= 100:
        readings[f"temperature{suffix}_c"] = temp
        readings[f"humidity{suffix}_pct"] = hum


def _u16(raw: bytes, at: int) -> float:
    v = int.from_bytes(raw[at : at + 2], "big")
    return 0.0 if v == 0xFFFF else v / 100


class GoveeParser:
    """Govee sensors; see the module docstring for the layouts."""

    name: ClassVar[str] = "govee"
    company_ids: ClassVar[tuple[int, ...]] = (GOVEE_EC88, GOVEE_0001, *H5179_IDS)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = (r"(GVH|Govee_H|GV)5(18|19)\d",)

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the first Govee layout the advertisement carries."""
        md = advert.manufacturer_data
        model = _model(advert.name)
        data = md.get(GOVEE_EC88)
        if data is not None and (len(data) in (6, 7, 9) or data[5:7] == b"\x00\x4c"):
            return self._ec88(data, model)
        for cid in H5179_IDS:
            data = md.get(cid)
            if data is not None and len(data) == 9:
                temp, hum, batt = _THB.unpack_from(data, 4)
                readings = {"temperature_c": temp / 100, "humidity_pct": hum / 100}
                readings["battery_pct"] = batt
                return self._result(readings, model or "H5179")
        data = md.get(GOVEE_0001)
        if data is not None and data[:2] == b"\x01\x01":
            return self._c0001(data, model, advert.name or "")
        for data in md.values():
            if data[1:5] == _PROBE_HEAD:
                return self._probes(data, model)
        return None

    @staticmethod
    def _result(readings: dict[str, float], model: str | None) -> ParseResult:
        facts: dict[str, Any] = {"manufacturer": "Govee"}
        if model:
            facts["model"] = model
        return ParseResult("govee", readings, facts)

    def _ec88(self, data: bytes, model: str | None) -> ParseResult:
        readings: dict[str, float] = {}
        if len(data) == 6 or len(data) > 9:  # longer: an Apple frame glued on by some firmware
            _packed(int.from_bytes(data[1:4], "big"), readings)
            readings["battery_pct"] = data[4] & 0x7F
        else:
            temp, hum, batt = _THB.unpack_from(data, 1)
            readings["temperature_c"] = temp / 100
            readings["humidity_pct"] = hum / 100
            readings["battery_pct"] = batt
        return self._result(readings, model)

    def _c0001(self, data: bytes, model: str | None, name: str) -> ParseResult:
        readings: dict[str, float] = {}
        if len(data) < 6:
            raise ParseError(f"govee 0x0001: {len(data)} bytes, need 6")
        if model == "H5106":
            v = int.from_bytes(data[2:6], "big")
            neg = v & 0x80000000
            v &= 0x7FFFFFFF
            temp = (v // 1_000_000) / 10
            readings["temperature_c"] = -temp if neg else temp
            readings["humidity_pct"] = ((v % 1_000_000) // 1000) / 10
            readings["pm25_ugm3"] = v % 1000
            return self._result(readings, model)
        if len(data) == 9 and data[2] in (0, 1) and (model is None or model == "H5178"):
            # H5178: byte 2 is the sensor (0 = primary, 1 = remote).
            if not data[6] & 0x80:
                _packed(int.from_bytes(data[3:6], "big"), readings)
            readings["battery_pct"] = data[6] & 0x7F
            res = self._result(readings, "H5178" if data[2] == 0 else "H5178-REMOTE")
            res.facts["sensor_id"] = data[2]
            return res
        error = bool(data[5] & 0x80)
        if model == "H5140" and len(data) >= 8:
            if not data[7]:
                _packed(int.from_bytes(data[2:5], "big"), readings)
                readings["co2_ppm"] = int.from_bytes(data[5:7], "big")
            return self._result(readings, model)
        if not error:
            if model == "H5112" and len(data) >= 8:
                probe = data[7] & 0x3F
                if probe == 1:
                    _packed(int.from_bytes(data[2:5], "big"), readings, "_probe_1")
                elif probe == 2:
                    tmp: dict[str, float] = {}
                    _packed(int.from_bytes(data[2:5], "big"), tmp)
                    if "temperature_c" in tmp:
                        readings["temperature_probe_2_c"] = tmp["temperature_c"]
                else:
                    return self._result({}, model)
            else:
                _packed(int.from_bytes(data[2:5], "big"), readings)
        readings["battery_pct"] = data[5] & 0x7F
        return self._result(readings, model)

    def _probes(self, data: bytes, model: str | None) -> ParseResult:
        n = len(data)
        if n < 12:
            raise ParseError(f"govee probe frame: {n} bytes, need 12")
        if model not in _PROBE_LAYOUTS:
            model = {14: "H5181", 17: "H5182", 20: "H5185"}.get(n)
            if model is None:
                model = "H5182" if n > 17 and data[12] in (0x01, 0x86) else "H5181"
        layout = _PROBE_LAYOUTS[model]
        if n < layout[-1][0] + 4:
            raise ParseError(f"govee {model}: {n} bytes, too short")
        first = 1
        if model in _INDEXED:
            first = _FIRST_PROBE.get(data[6], 0)
            if not first:
                return self._result({}, model)
        readings: dict[str, float] = {}
        for k, (at, low) in enumerate(layout, first):
            readings[f"temperature_probe_{k}_c"] = _u16(data, at)
            readings[f"temperature_alarm_probe_{k}_c"] = _u16(data, at + 2)
            if low:
                readings[f"low_temperature_alarm_probe_{k}_c"] = _u16(data, at + 4)
        if model == "H5191":
            del readings["temperature_probe_2_c"], readings["temperature_alarm_probe_2_c"]
            readings["temperature_c"] = _u16(data, 14)
        return self._result(readings, model)


# model -> (offset of each probe's temperature, whether a low alarm follows the high alarm)
_PROBE_LAYOUTS: dict[str, tuple[tuple[int, bool], ...]] = {
    "H5181": ((8, False),),
    "H5183": ((8, False),),
    "H5182": ((8, False), (13, False)),
    "H5184": ((8, False), (13, False)),
    "H5185": ((8, False), (14, False)),
    "H5198": ((8, True), (14, True)),
    "H5191": ((8, False), (14, False)),
}
_INDEXED = frozenset({"H5184", "H5185", "H5198"})
_FIRST_PROBE = {0x01: 1, 0xC1: 1, 0x02: 3, 0xC2: 3}
