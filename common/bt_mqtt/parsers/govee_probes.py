"""Govee meat thermometers (H5181-H5185, H5191, H5198) and the H5055 six-probe grill sensor.

Meat thermometers: manufacturer data under a company id that differs from device to device,
bytes 1-4 = 01 00 01 01; probe temperatures and alarm set points are big-endian i16 in
0.01 °C, a negative value (0xFFFF) meaning "no value" (reported as 0.0, as the Govee app and
the reference decoders do).  Layouts by model (offset of the first probe field 8):

- H5181 / H5183 (14 bytes): probe, alarm.
- H5182 / H5184 (17 bytes): probe, alarm, one spare byte, probe, alarm.  The H5184 carries
  four probes two per frame: ``data[6] & 0x3F`` is 1 for probes 1-2, 2 for probes 3-4.
- H5185 (20 bytes): probe, alarm, spare word, probe, alarm.
- H5191 (20 bytes): probe, alarm, spare word, ambient temperature.
- H5198 (20 bytes): (probe, high alarm, low alarm) x 2, indexed like the H5184.

H5055 (20 bytes, advertised service 0x5550): battery at byte 2, a probe map at byte 3 (bits
7-6 = which pair, 0/1/2 for probes 1-2, 3-4, 5-6; bits 0-5 = which probes are connected),
then little-endian i16 whole-°C triples (temperature, low alarm, high alarm; negative = unset)
at 5 and 12.  A probe whose "connected" bit is clear is not reported.

The model comes from the caller (advertised service UUID, company id or local name); without
one, the frame length decides (14 -> H5181, 17 -> H5182, 20 -> H5185).
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from bt_mqtt.parsers.api import ParseError, ParseResult

log = logging.getLogger(__name__)

PROBE_HEAD = b"\x01\x00\x01\x01"
_BE = struct.Struct(">h")
_H5055 = struct.Struct("<hhhxhhh")
# model -> (frame length, offsets of each probe's temperature, does a low alarm follow, indexed)
LAYOUTS: dict[str, tuple[int, tuple[int, ...], bool, bool]] = {
    "H5181": (14, (8,), False, False),
    "H5183": (14, (8,), False, False),
    "H5182": (17, (8, 13), False, False),
    "H5184": (17, (8, 13), False, True),
    "H5185": (20, (8, 14), False, False),
    "H5191": (20, (8,), False, False),
    "H5198": (20, (8, 14), True, True),
}
_BY_LENGTH = {14: "H5181", 17: "H5182", 20: "H5185"}
_PAIR_FIRST = {1: 1, 2: 3}  # indexed models: data[6] & 0x3F -> number of the frame's first probe
_H5055_PAIRS = {0x00: (1, 0x01, 0x02), 0x40: (3, 0x04, 0x08), 0x80: (5, 0x10, 0x20)}


def _temp(data: bytes, at: int) -> float:
    (v,) = _BE.unpack_from(data, at)
    return 0.0 if v < 0 else v / 100


def _result(readings: dict[str, float], model: str) -> ParseResult:
    facts: dict[str, Any] = {"manufacturer": "Govee", "model": model}
    return ParseResult("govee", readings, facts)


def decode_probes(data: bytes, model: str | None) -> ParseResult | None:
    """A meat-thermometer frame (bytes 1-4 = 01 00 01 01); None if the length fits no model."""
    n = len(data)
    if model not in LAYOUTS or LAYOUTS[model][0] != n:
        model = _BY_LENGTH.get(n)
        if model is None:
            return None
    _, offsets, low, indexed = LAYOUTS[model]
    readings: dict[str, float] = {}
    first = 1
    if indexed:
        first = _PAIR_FIRST.get(data[6] & 0x3F, 0)
        if not first:
            return _result(readings, model)  # an unknown probe pair: nothing to report
    for k, at in enumerate(offsets, first):
        readings[f"temperature_probe_{k}_c"] = _temp(data, at)
        readings[f"temperature_alarm_probe_{k}_c"] = _temp(data, at + 2)
        if low:
            readings[f"low_temperature_alarm_probe_{k}_c"] = _temp(data, at + 4)
    if model == "H5191":
        readings["temperature_c"] = _BE.unpack_from(data, 14)[0] / 100
    return _result(readings, model)


def decode_h5055(data: bytes) -> ParseResult:
    """The H5055's 20-byte frame (see the module docstring)."""
    if len(data) < 18:
        raise ParseError(f"govee H5055: {len(data)} bytes, need 18")
    pair = _H5055_PAIRS.get(data[3] & 0xC0)
    if pair is None:
        return _result({}, "H5055")
    first, bit1, bit2 = pair
    p1, low1, high1, p2, low2, high2 = _H5055.unpack_from(data, 5)
    readings: dict[str, float] = {}
    probes = ((first, bit1, p1, low1, high1), (first + 1, bit2, p2, low2, high2))
    for k, bit, temp, low, high in probes:
        if data[3] & bit:
            readings[f"temperature_probe_{k}_c"] = float(temp)
            if high >= 0:
                readings[f"temperature_alarm_probe_{k}_c"] = float(high)
            if low >= 0:
                readings[f"low_temperature_alarm_probe_{k}_c"] = float(low)
    readings["battery_pct"] = data[2] & 0x7F
    return _result(readings, "H5055")
