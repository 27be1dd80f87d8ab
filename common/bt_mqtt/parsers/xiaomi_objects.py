"""MiBeacon object types: ``decode_object(type, value, result)`` fills readings and events.

Covers the common sensor objects of the 0x10xx family (temperature, humidity, illuminance,
moisture, conductivity, battery, formaldehyde, consumable, smoke, leak, light, door, motion)
and their 0x4Cxx/0x48xx/0x4Axx successors used by MiBeacon v5 devices.  Returns False for an
object type it does not know (the parser notes it in ``facts["unknown_objects"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from struct import Struct
from typing import Final

from bt_mqtt.parsers.api import ParseError, ParseResult

log = logging.getLogger(__name__)

_S16, _U16, _F32 = Struct("<h"), Struct("<H"), Struct("<f")


def _need(value: bytes, n: int, what: str) -> None:
    if len(value) < n:
        raise ParseError(f"MiBeacon {what} object has {len(value)} bytes, needs {n}")


def _u(value: bytes) -> int:
    return int.from_bytes(value, "little")


def _temperature(v: bytes, r: ParseResult) -> None:
    _need(v, 2, "temperature")
    r.readings["temperature_c"] = _S16.unpack_from(v)[0] / 10


def _humidity(v: bytes, r: ParseResult) -> None:
    _need(v, 2, "humidity")
    r.readings["humidity_pct"] = _U16.unpack_from(v)[0] / 10


def _temp_hum(v: bytes, r: ParseResult) -> None:
    _need(v, 4, "temperature+humidity")
    r.readings["temperature_c"] = _S16.unpack_from(v)[0] / 10
    r.readings["humidity_pct"] = _U16.unpack_from(v, 2)[0] / 10


def _illuminance(v: bytes, r: ParseResult) -> None:
    _need(v, 3, "illuminance")
    r.readings["illuminance_lux"] = _u(v[:3])


def _moisture(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "moisture")
    r.readings["moisture_pct"] = v[0]


def _conductivity(v: bytes, r: ParseResult) -> None:
    _need(v, 2, "conductivity")
    r.readings["conductivity_us_cm"] = _U16.unpack_from(v)[0]


def _battery(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "battery")
    r.readings["battery_pct"] = v[0]


def _formaldehyde(v: bytes, r: ParseResult) -> None:
    _need(v, 2, "formaldehyde")
    r.readings["formaldehyde_mg_m3"] = _U16.unpack_from(v)[0] / 100


def _consumable(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "consumable")
    r.readings["consumable_pct"] = v[0]


def _flag(name: str) -> Callable[[bytes, ParseResult], None]:
    def decode(v: bytes, r: ParseResult) -> None:
        _need(v, 1, name)
        r.readings[name] = 1 if v[0] else 0

    return decode


def _no_motion(v: bytes, r: ParseResult) -> None:
    r.readings["motion"] = 0
    if v:
        r.facts["no_motion_duration_s"] = _u(v[:4])


def _motion_illuminance(v: bytes, r: ParseResult) -> None:
    _need(v, 3, "motion+illuminance")
    r.readings["motion"] = 1
    r.readings["illuminance_lux"] = _u(v[:3])


def _motion_illuminance_f(v: bytes, r: ParseResult) -> None:
    _need(v, 4, "motion+illuminance")
    r.readings["motion"] = 1
    r.readings["illuminance_lux"] = round(_F32.unpack_from(v)[0], 2)


def _illuminance_f(v: bytes, r: ParseResult) -> None:
    _need(v, 4, "illuminance")
    r.readings["illuminance_lux"] = round(_F32.unpack_from(v)[0], 2)


def _temperature_f(v: bytes, r: ParseResult) -> None:
    _need(v, 4, "temperature")
    r.readings["temperature_c"] = round(_F32.unpack_from(v)[0], 2)


def _humidity_f(v: bytes, r: ParseResult) -> None:
    _need(v, 4, "humidity")
    r.readings["humidity_pct"] = round(_F32.unpack_from(v)[0], 2)


def _humidity_u8(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "humidity")
    r.readings["humidity_pct"] = v[0]


def _door(v: bytes, r: ParseResult) -> None:
    """0x1019: 0 open, 1 closed, 2 left open (timeout), 3 reset."""
    _need(v, 1, "door")
    state = v[0]
    if state in (0, 2):
        r.readings["opening"] = 1
    elif state == 1:
        r.readings["opening"] = 0
    if state == 2:
        r.readings["door_left_open"] = 1


def _motion_event(v: bytes, r: ParseResult) -> None:
    r.readings["motion"] = 1
    r.add_event("motion", "motion_detected")


_PRESS: Final = {0: "press", 1: "double_press", 2: "long_press", 3: "triple_press"}


def _button(v: bytes, r: ParseResult) -> None:
    """0x1001: button index (u16) and press type (u8)."""
    if len(v) < 3:  # short form used by some v5 switches: the press type only
        r.add_event("button", _PRESS.get(v[0], f"type_{v[0]}") if v else "press")
        return
    index = _U16.unpack_from(v)[0]
    kind = _PRESS.get(v[2], f"type_{v[2]}")
    r.add_event("button", kind, index=index)


def _opening_u8(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "opening")
    r.readings["opening"] = 1 if v[0] else 0


def _occupancy(v: bytes, r: ParseResult) -> None:
    _need(v, 1, "occupancy")
    r.readings["occupancy"] = 1 if v[0] else 0


OBJECTS: Final[dict[int, Callable[[bytes, ParseResult], None]]] = {
    0x0003: _motion_event,
    0x000F: _motion_illuminance,
    0x1001: _button,
    0x1004: _temperature,
    0x1006: _humidity,
    0x1007: _illuminance,
    0x1008: _moisture,
    0x1009: _conductivity,
    0x100A: _battery,
    0x100D: _temp_hum,
    0x1010: _formaldehyde,
    0x1012: _flag("power"),
    0x1013: _consumable,
    0x1014: _flag("moisture_detected"),
    0x1015: _flag("smoke"),
    0x1017: _no_motion,
    0x1018: _flag("light"),
    0x1019: _door,
    0x101B: _no_motion,
    0x4801: _temperature_f,
    0x4802: _humidity_u8,
    0x4803: _battery,
    0x4805: _illuminance_f,
    0x483C: _occupancy,
    0x484E: _occupancy,
    0x4804: _opening_u8,
    0x4806: _flag("moisture_detected"),
    0x4818: _no_motion,
    0x4A08: _motion_illuminance_f,
    0x4A1A: _door,
    0x4C08: _humidity_f,
    0x4E0C: _button,
}


def decode_object(otype: int, value: bytes, result: ParseResult) -> bool:
    """Decode one object into ``result``; False if the type is unknown."""
    fn = OBJECTS.get(otype)
    if fn is None:
        return False
    fn(value, result)
    return True
