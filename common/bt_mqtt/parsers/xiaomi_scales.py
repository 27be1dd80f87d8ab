"""Xiaomi scales and the HHCCJCY10 plant sensor.

Two kinds of frame: MiBeacon objects of the newer scales (0x4E16 on the S200, 0x6E16 on the
S400 body-composition scale) in ``SCALE_OBJECTS``, and the service data of the older scales
and the pink plant sensor, decoded by ``decode_service``: 0x181D (Mi Smart Scale, 10 bytes),
0x181B (Mi Body Composition Scale, 13 bytes), 0xFD50 (HHCCJCY10, 9 bytes, big-endian).

Scales give ``mass_non_stabilized_kg`` on every frame, and ``mass_kg`` plus ``stabilized`` = 1
once the weight has settled (``stabilized`` = 0 while measuring or when the person stepped
off); pounds and catty are converted to kilograms (facts: ``weight_unit`` as displayed,
``weight_removed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from struct import Struct
from typing import Final

from bt_mqtt.parsers.api import ParseError, ParseResult
from bt_mqtt.parsers.xiaomi_events import bed_in_out

log = logging.getLogger(__name__)

UUID_SCALE1: Final = "0000181d-0000-1000-8000-00805f9b34fb"
UUID_SCALE2: Final = "0000181b-0000-1000-8000-00805f9b34fb"
UUID_HHCCJCY10: Final = "0000fd50-0000-1000-8000-00805f9b34fb"
SERVICE_UUIDS: Final = (UUID_SCALE1, UUID_SCALE2, UUID_HHCCJCY10)

_PROFILE: Final = Struct("<BII")
_LB_KG: Final = 0.45359237


def _need(value: bytes, n: int, what: str) -> None:
    if len(value) < n:
        raise ParseError(f"MiBeacon {what} object has {len(value)} bytes, needs {n}")


def _s200(v: bytes, r: ParseResult, model: str) -> None:
    """0x4E16: profile (u8), mass in 10 g (u32), time (u32); bed sensor MJZNZ018H: in bed."""
    if model == "MJZNZ018H":
        bed_in_out(v, r, 1)
        return
    _need(v, 9, "scale")
    profile, mass, when = _PROFILE.unpack_from(v)
    if mass:
        r.readings["mass_kg"] = mass / 100
        r.readings["profile_id"] = profile
        r.facts["timestamp_s"] = when


def _s400(v: bytes, r: ParseResult, model: str) -> None:
    """0x6E16: profile (u8); u32 of mass (11 bits, 0.1 kg), heart rate (7 bits, +50 bpm) and
    impedance (14 bits, 0.1 Ω); a time (u32).

    The scale sends the weight with the 50 kHz impedance first, then a frame with only the
    250 kHz impedance once the measurement is stable; all zero means the person stepped off.
    """
    _need(v, 9, "body composition")
    profile, data, _when = _PROFILE.unpack_from(v)
    mass = data & 0x7FF
    heart = (data >> 11) & 0x7F
    impedance = data >> 18
    r.readings["profile_id"] = profile
    if mass:
        r.readings["mass_kg"] = mass / 10
    if 0 < heart < 127:
        r.readings["heart_rate_bpm"] = heart + 50
    if not mass and not heart:
        if impedance:
            r.readings["impedance_high_ohm"] = impedance / 10
        r.readings["stabilized"] = 1 if impedance else 0
    elif impedance:
        r.readings["impedance_low_ohm"] = impedance / 10
        r.readings["stabilized"] = 0
    else:
        r.readings["stabilized"] = 1


SCALE_OBJECTS: Final[dict[int, Callable[[bytes, ParseResult, str], None]]] = {
    0x4E16: _s200,
    0x6E16: _s400,
}


def _mass(raw: int, pounds: bool, catty: bool, stable: bool, r: ParseResult) -> None:
    if pounds:
        kg = raw * _LB_KG / 100
        r.facts["weight_unit"] = "lbs"
    elif catty:
        kg = raw * 0.005
        r.facts["weight_unit"] = "jin"
    else:
        kg = raw / 200
        r.facts["weight_unit"] = "kg"
    r.readings["mass_non_stabilized_kg"] = kg
    stable = stable and raw > 0
    r.readings["stabilized"] = 1 if stable else 0
    if stable:
        r.readings["mass_kg"] = kg


def _scale1(data: bytes, r: ParseResult) -> bool:
    """0x181D: control (bit 0 lb, 4 catty, 5 stable, 7 removed), mass (u16), date and time."""
    if len(data) != 10:
        return False
    ctrl = data[0]
    raw = data[1] | data[2] << 8
    r.facts["weight_removed"] = 1 if ctrl & 0x80 else 0
    _mass(raw, bool(ctrl & 0x01), bool(ctrl & 0x10), bool(ctrl & 0x20 and not ctrl & 0x80), r)
    r.facts["model"] = "XMTZC01HM/XMTZC04HM"
    return True


def _scale2(data: bytes, r: ParseResult) -> bool:
    """0x181B: control (byte 0 bit 0 lb; byte 1 bit 6 catty, 5 stable, 7 removed, 1
    impedance stable), date and time, impedance (u16, Ω), mass (u16)."""
    if len(data) != 13:
        return False
    c1 = data[1]
    raw = data[11] | data[12] << 8
    r.facts["weight_removed"] = 1 if c1 & 0x80 else 0
    stable = bool(c1 & 0x20 and not c1 & 0x80)
    _mass(raw, bool(data[0] & 0x01), bool(c1 & 0x40), stable, r)
    if stable and raw and c1 & 0x02:
        r.readings["impedance_ohm"] = data[9] | data[10] << 8
    r.facts["model"] = "XMTZC02HM/XMTZC05HM/NUN4049CN"
    return True


def _hhccjcy10(data: bytes, r: ParseResult) -> bool:
    """0xFD50: moisture (u8), temperature (u16 BE, 0.1 °C), illuminance (u24 BE), battery (u8),
    conductivity (u16 BE)."""
    if len(data) != 9:
        return False
    r.readings["moisture_pct"] = data[0]
    r.readings["temperature_c"] = int.from_bytes(data[1:3], "big", signed=True) / 10
    r.readings["illuminance_lux"] = int.from_bytes(data[3:6], "big")
    r.readings["battery_pct"] = data[6]
    r.readings["conductivity_us_cm"] = int.from_bytes(data[7:9], "big")
    r.facts["model"] = "HHCCJCY10"
    r.facts["manufacturer"] = "HHCC Plant Technology"
    return True


SERVICE_DECODERS: Final[dict[str, Callable[[bytes, ParseResult], bool]]] = {
    UUID_SCALE1: _scale1,
    UUID_SCALE2: _scale2,
    UUID_HHCCJCY10: _hhccjcy10,
}


def decode_service(uuid: str, data: bytes, result: ParseResult) -> bool:
    """Decode a scale or HHCCJCY10 frame into ``result``; False if it is not one."""
    fn = SERVICE_DECODERS.get(uuid)
    return fn is not None and fn(data, result)
