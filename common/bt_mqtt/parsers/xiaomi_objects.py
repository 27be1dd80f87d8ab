"""MiBeacon sensor objects: ``OBJECTS`` maps an object type to ``handler(value, result, model)``.

Measurements become readings with unit suffixes; binary states become 0/1 readings (``motion``,
``opening``, ``light``, ``occupancy``...); text states (``charging_state``, ``mode``) are facts.
Buttons, locks, doors and other events live in ``xiaomi_events`` and scales in
``xiaomi_scales``; ``decode_object`` looks in all three.  A value shorter than its layout
raises ``ParseError``; an empty object is skipped unless ``EMPTY_OK`` lists its type (the
click objects of some switches carry no value).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from struct import Struct
from typing import Final

from bt_mqtt.parsers.api import ParseError, ParseResult
from bt_mqtt.parsers.xiaomi_events import EVENT_OBJECTS, EVENTS_EMPTY_OK
from bt_mqtt.parsers.xiaomi_scales import SCALE_OBJECTS

log = logging.getLogger(__name__)

Handler = Callable[[bytes, ParseResult, str], None]

_S16, _U16, _F32, _S16S16 = Struct("<h"), Struct("<H"), Struct("<f"), Struct("<hh")

# Models whose 0x1007/0x000F value is a light flag (100 = light), not lux.
_LIGHT_FLAG_1007: Final = frozenset({"MJYD02YL", "MCCGQ02HL"})
_LIGHT_FLAG_000F: Final = frozenset({"MJYD02YL", "RTCGQ02LM"})
# Seconds without motion that the Mi Home app still shows as "motion detected".
MOTION_HOLD_S: Final = 30


def need(value: bytes, n: int, what: str) -> None:
    """Raise ``ParseError`` if ``value`` is shorter than ``n`` bytes."""
    if len(value) < n:
        raise ParseError(f"MiBeacon {what} object has {len(value)} bytes, needs {n}")


def _u(value: bytes) -> int:
    return int.from_bytes(value, "little")


def _temperature(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 2, "temperature")
    r.readings["temperature_c"] = _S16.unpack_from(v)[0] / 10


def _humidity(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 2, "humidity")
    r.readings["humidity_pct"] = _U16.unpack_from(v)[0] / 10


def _temp_hum(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 4, "temperature+humidity")
    r.readings["temperature_c"] = _S16.unpack_from(v)[0] / 10
    r.readings["humidity_pct"] = _U16.unpack_from(v, 2)[0] / 10


def _power_temp(v: bytes, r: ParseResult, model: str) -> None:
    """0x1005 (kettles): power flag and water temperature in whole degrees."""
    need(v, 2, "power+temperature")
    r.readings["power"] = 1 if v[0] else 0
    r.readings["temperature_c"] = v[1]


def _illuminance(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 3, "illuminance")
    value = _u(v[:3])
    if model in _LIGHT_FLAG_1007:
        r.readings["light"] = 1 if value == 100 else 0
    else:
        r.readings["illuminance_lux"] = value


def _motion_light(v: bytes, r: ParseResult, model: str) -> None:
    """0x000F: motion with a light value: a flag on some models, lux on others."""
    need(v, 3, "motion+illuminance")
    value = _u(v[:3])
    r.readings["motion"] = 1
    if model in _LIGHT_FLAG_000F:
        r.readings["light"] = 1 if value >= 100 else 0
    else:
        r.readings["illuminance_lux"] = value


def _u8(name: str) -> Handler:
    def decode(v: bytes, r: ParseResult, model: str) -> None:
        need(v, 1, name)
        r.readings[name] = v[0]

    return decode


def _uint(name: str, size: int) -> Handler:
    def decode(v: bytes, r: ParseResult, model: str) -> None:
        need(v, 1, name)
        r.readings[name] = _u(v[:size])

    return decode


def _flag(name: str, invert: bool = False) -> Handler:
    def decode(v: bytes, r: ParseResult, model: str) -> None:
        need(v, 1, name)
        r.readings[name] = (1 if v[0] else 0) ^ invert

    return decode


def _fact_u8(name: str) -> Handler:
    def decode(v: bytes, r: ParseResult, model: str) -> None:
        need(v, 1, name)
        r.facts[name] = v[0]

    return decode


def _float(name: str, digits: int) -> Handler:
    def decode(v: bytes, r: ParseResult, model: str) -> None:
        need(v, 4, name)
        value = _F32.unpack_from(v)[0]
        if math.isfinite(value):
            r.readings[name] = round(value, digits)
        else:
            r.facts.setdefault("invalid", []).append(name)

    return decode


def _conductivity(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 2, "conductivity")
    r.readings["conductivity_us_cm"] = _U16.unpack_from(v)[0]


def _formaldehyde(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 2, "formaldehyde")
    r.readings["formaldehyde_mg_m3"] = _U16.unpack_from(v)[0] / 100


def _no_motion(v: bytes, r: ParseResult, model: str) -> None:
    """0x1017 (u32) / 0x4818 (u16): seconds since the last motion."""
    need(v, 2, "no-motion time")
    seconds = _u(v[:4])
    r.readings["no_motion_s"] = seconds
    r.readings["motion"] = 1 if seconds <= MOTION_HOLD_S else 0


def _motion_timeout(v: bytes, r: ParseResult, model: str) -> None:
    """0x101B: the no-motion timeout expired (value: seconds, if sent)."""
    r.readings["motion"] = 0
    if len(v) >= 4:
        r.readings["no_motion_s"] = _u(v[:4])


def _no_motion_min(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 1, "no-motion minutes")
    r.readings["no_motion_min"] = v[0]
    r.readings["motion"] = 1 if v[0] == 0 else 0


def _motion_lux_f(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 4, "motion+illuminance")
    r.readings["motion"] = 1
    _float("illuminance_lux", 2)(v, r, model)


def _body_temperature(v: bytes, r: ParseResult, model: str) -> None:
    """0x000A: body temperature in 0.01 °C; 0 means no measurement."""
    need(v, 2, "body temperature")
    raw = _S16.unpack_from(v)[0]
    if raw:
        r.readings["temperature_c"] = raw / 100


def _baby_thermometer(v: bytes, r: ParseResult, model: str) -> None:
    """0x2000 (MMC-T201-1): two skin temperatures (0.01 °C) and battery.

    The body temperature is the vendor app's fitted curve over the two sensor readings.
    """
    need(v, 5, "body temperature")
    t1, t2 = _S16S16.unpack_from(v)
    body = 3.71934e-11 * math.exp(0.69314 * t1 / 100)
    body -= 1.02801e-8 * math.exp(0.53871 * t2 / 100)
    r.readings["temperature_c"] = body + 36.413
    r.readings["battery_pct"] = v[4]


def _opening_state(v: bytes, r: ParseResult, model: str) -> None:
    """0x4804 / 0x4A12: 1 opened, 2 closed (closing clears the alarms)."""
    need(v, 1, "opening")
    if v[0] == 1:
        r.readings["opening"] = 1
    elif v[0] == 2:
        r.readings["opening"] = 0
        r.readings["door_left_open"] = 0
        r.readings["device_forcibly_removed"] = 0


def _opening_inverse(v: bytes, r: ParseResult, model: str) -> None:
    """0x480C: 0 opened, 1 closed."""
    need(v, 1, "opening")
    if v[0] in (0, 1):
        r.readings["opening"] = 1 - v[0]


def _window_1019(v: bytes, r: ParseResult, model: str) -> None:
    """0x1019: 0 opened, 1 closed, 2 left open (timeout), 3 device reset."""
    need(v, 1, "door/window")
    state = v[0]
    if state == 0:
        r.readings["opening"] = 1
    elif state == 1:
        r.readings["opening"] = 0
        r.readings["door_left_open"] = 0
    elif state == 2:
        r.readings["opening"] = 1
        r.readings["door_left_open"] = 1
    elif state == 3:
        r.facts["device_reset"] = True


def _left_open(v: bytes, r: ParseResult, model: str) -> None:
    """0x4A1A: the door or window was left open."""
    need(v, 1, "door left open")
    if v[0] == 1:
        r.readings["opening"] = 1
        r.readings["door_left_open"] = 1


def _forced(v: bytes, r: ParseResult, model: str) -> None:
    """0x4A0F: the sensor was pried off its mount."""
    need(v, 1, "forcibly removed")
    if v[0] == 1:
        r.readings["opening"] = 1
        r.readings["device_forcibly_removed"] = 1


def _occupancy(v: bytes, r: ParseResult, model: str) -> None:
    """0x484E: 0 nobody, 1 somebody; XMOSB01XS also sends 2 for 'cleared'."""
    need(v, 1, "occupancy")
    r.readings["occupancy"] = int(v[0] == 1) if model == "XMOSB01XS" else int(v[0] > 0)


def _close_range(v: bytes, r: ParseResult, model: str) -> None:
    """0x5413 (ES5BB): occupancy in the close-range zone."""
    need(v, 1, "close-range occupancy")
    r.readings["occupancy_close_range"] = 1 if v[0] else 0


def _water_leak(v: bytes, r: ParseResult, model: str) -> None:
    """0x4806: water detected; the SJWS02LM's bottom probe."""
    need(v, 1, "moisture")
    key = "bottom_submersion" if model == "SJWS02LM" else "moisture_detected"
    r.readings[key] = 1 if v[0] else 0


def _top_splash(v: bytes, r: ParseResult, model: str) -> None:
    need(v, 1, "top splash")
    r.readings["top_splash"] = 1 if v[0] else 0


def _leak_event(v: bytes, r: ParseResult, model: str) -> None:
    """0x4A68 (SJWS02LM): 0/1 bottom wet/dry, 2/3 top wet/dry."""
    need(v, 1, "leak event")
    if v[0] in (0, 1):
        r.readings["bottom_submersion"] = 1 - v[0]
    elif v[0] in (2, 3):
        r.readings["top_splash"] = 3 - v[0]


_CHARGING: Final = {0: "charging", 1: "not charging", 2: "full"}


def _charging(v: bytes, r: ParseResult, model: str) -> None:
    """0x5422: charging state, a text fact."""
    need(v, 1, "charging state")
    r.facts["charging_state"] = _CHARGING.get(v[0], "unknown")


def _sleep(v: bytes, r: ParseResult, model: str) -> None:
    """0x4810 / 0x5010 (sleep monitors): 0 awake, 1 asleep, 2 a double click."""
    need(v, 1, "sleep state")
    if v[0] in (0, 1):
        r.readings["asleep"] = v[0]
    elif v[0] == 2:
        r.add_event("button", "double_press", key="button")


def _device_reset(v: bytes, r: ParseResult, model: str) -> None:
    r.facts["device_reset"] = True


SENSOR_OBJECTS: Final[dict[int, Handler]] = {
    0x000A: _body_temperature,
    0x000F: _motion_light,
    0x1004: _temperature,
    0x1005: _power_temp,
    0x1006: _humidity,
    0x1007: _illuminance,
    0x1008: _u8("moisture_pct"),
    0x1009: _conductivity,
    0x100A: _u8("battery_pct"),
    0x100D: _temp_hum,
    0x1010: _formaldehyde,
    0x1012: _flag("power"),
    0x1013: _u8("consumable_pct"),
    0x1014: _flag("moisture_detected"),
    0x1015: _flag("smoke"),
    0x1017: _no_motion,
    0x1018: _flag("light"),
    0x1019: _window_1019,
    0x101B: _motion_timeout,
    0x2000: _baby_thermometer,
    0x4801: _float("temperature_c", 2),
    0x4802: _u8("humidity_pct"),
    0x4803: _u8("battery_pct"),
    0x4804: _opening_state,
    0x4805: _float("illuminance_lux", 2),
    0x4806: _water_leak,
    0x4808: _float("humidity_pct", 2),
    0x480C: _opening_inverse,
    0x4810: _sleep,
    0x4811: _flag("snoring"),
    0x4818: _no_motion,
    0x483C: _flag("occupancy"),
    0x483D: _uint("pressure_present_duration_s", 4),
    0x483E: _uint("pressure_not_present_duration_s", 4),
    0x483F: _uint("pressure_present_time_set_s", 4),
    0x4840: _uint("pressure_not_present_time_set_s", 4),
    0x484E: _occupancy,
    0x484F: _no_motion_min,
    0x4850: _u8("motion_min"),
    0x4851: _uint("duration_detected_min", 4),
    0x4852: _uint("duration_cleared_min", 4),
    0x487B: _top_splash,
    0x4A01: _flag("battery_low"),
    0x4A08: _motion_lux_f,
    0x4A0F: _forced,
    0x4A12: _opening_state,
    0x4A1A: _left_open,
    0x4A1C: _device_reset,
    0x4A68: _leak_event,
    0x4C01: _float("temperature_c", 2),
    0x4C02: _u8("humidity_pct"),
    0x4C03: _u8("battery_pct"),
    0x4C08: _float("humidity_pct", 2),
    0x4C14: _fact_u8("mode"),
    0x4E01: _flag("battery_low"),
    0x4E1C: _device_reset,
    0x5003: _u8("battery_pct"),
    0x5010: _sleep,
    0x5011: _flag("snoring"),
    0x5403: _u8("battery_pct"),
    0x5413: _close_range,
    0x5414: _fact_u8("mode"),
    0x5422: _charging,
    0x5601: _flag("battery_low"),
    0x5810: _flag("asleep", invert=True),
    0x6012: _u8("humidity_pct"),
    0x605D: _u8("temperature_c"),
    0x6461: _flag("wearing", invert=True),
}

OBJECTS: Final[dict[int, Handler]] = {**SENSOR_OBJECTS, **EVENT_OBJECTS, **SCALE_OBJECTS}
EMPTY_OK: Final[frozenset[int]] = EVENTS_EMPTY_OK


def decode_object(otype: int, value: bytes, result: ParseResult, model: str = "") -> bool:
    """Decode one object into ``result``; False if the type is unknown."""
    fn = OBJECTS.get(otype)
    if fn is None:
        return False
    if value or otype in EMPTY_OK:
        fn(value, result, model)
    return True
