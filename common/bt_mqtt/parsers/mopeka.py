"""Mopeka tank-level sensors (Pro Check, Pro Plus, Pro-200, TD40/TD200, Lippert BottleCheck).

Manufacturer data of company 0x0059 (Nordic), 10 bytes, sent with service UUID 0xFEE5:

- byte 0: hardware id (see ``MODELS``); byte 1: battery, 1/32 V (low 7 bits);
- byte 2: bit 7 = sync button pressed, bits 0-6 = temperature + 40 °C;
- bytes 3-4 (u16 LE): bits 0-13 = echo time (raw level), bits 14-15 = reading quality 0..3;
- bytes 5-7: the low three bytes of the sensor's MAC; bytes 8-9: accelerometer x / y (raw).

The tank level (``tank_level_mm``) is the echo time scaled by the speed of sound in the medium,
a quadratic in the raw temperature byte; it is omitted when the reading quality is 0.  The
medium defaults to air for the top-down TD40/TD200 and to propane for the others; set another
per sensor with ``set_medium(ctx, mac, "fresh_water")`` (names in ``MEDIUM_COEFFICIENTS``).
Battery % maps 2.2 V..2.85 V linearly onto 0..100.
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

COMPANY_ID = 0x0059
SERVICE_UUID = uuid128(0xFEE5)
FRAME_LEN = 10
PARSER_NAME = "mopeka"

# hardware id -> (model number, product name)
MODELS: dict[int, tuple[str, str]] = {
    0x03: ("M1017", "Pro Check"),
    0x04: ("Pro-200", "Pro-200"),
    0x05: ("Pro H20", "Pro Check H2O"),
    0x06: ("M1017", "Lippert BottleCheck"),
    0x08: ("M1015", "Pro Plus"),
    0x09: ("M1015", "Pro Plus with Cellular"),
    0x0A: ("TD40/TD200", "TD40/TD200"),
    0x0B: ("TD40/TD200", "TD40/TD200 with Cellular"),
    0x0C: ("M1017", "Pro Check Universal"),
    0x12: ("Pro-200", "Pro-200B"),
}
TOP_DOWN = frozenset({0x0A, 0x0B})

_WATER = (0.600592, 0.003124, -0.00001368)
_FUEL = (0.7373417462, -0.001978229885, 0.00000202162)
# medium -> (c0, c1, c2): mm per raw unit = c0 + c1*t + c2*t*t, t = the raw temperature byte
MEDIUM_COEFFICIENTS: dict[str, tuple[float, float, float]] = {
    "propane": (0.573045, -0.002822, -0.00000535),
    "air": (0.153096, 0.000327, -0.000000294),
    "fresh_water": _WATER,
    "waste_water": _WATER,
    "live_well": _WATER,
    "black_water": _WATER,
    "raw_water": _WATER,
    "gasoline": _FUEL,
    "diesel": _FUEL,
    "lng": _FUEL,
    "oil": _FUEL,
    "hydraulic_oil": _FUEL,
}
_FRAME = struct.Struct("<BBBH3xBB")


def set_medium(ctx: ParseContext, mac: str, medium: str) -> None:
    """Configure the medium one sensor measures (``ValueError`` naming an unknown medium)."""
    if medium not in MEDIUM_COEFFICIENTS:
        known = ", ".join(sorted(MEDIUM_COEFFICIENTS))
        raise ValueError(f"mopeka: unknown medium {medium!r} (known: {known})")
    ctx.state_for(PARSER_NAME).setdefault("medium", {})[mac.upper()] = medium


def battery_pct(raw: int) -> float:
    """Battery percentage from the raw battery byte (1/32 V)."""
    return round(max(0.0, min(100.0, ((raw / 32.0 - 2.2) / 0.65) * 100)), 1)


def tank_level_mm(raw_level: int, raw_temp: int, medium: str) -> int:
    """Liquid height (or air gap for top-down sensors) in whole mm."""
    c0, c1, c2 = MEDIUM_COEFFICIENTS[medium]
    return int(raw_level * (c0 + c1 * raw_temp + c2 * raw_temp * raw_temp))


class MopekaParser:
    """Mopeka sensors; see the module docstring for the layout."""

    name: ClassVar[str] = PARSER_NAME
    company_ids: ClassVar[tuple[int, ...]] = (COMPANY_ID,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode a Mopeka frame; None for other Nordic-id frames."""
        data = advert.manufacturer_data.get(COMPANY_ID)
        if data is None or not data:
            return None
        model = MODELS.get(data[0])
        if model is None:
            return None
        if SERVICE_UUID not in advert.service_uuids and not _mac_tail_matches(advert.mac, data):
            return None  # another Nordic-id device whose first byte happens to match
        if len(data) != FRAME_LEN:
            raise ParseError(f"mopeka {model[0]}: {len(data)} bytes, need {FRAME_LEN}")
        hw, batt, temp_byte, level_word, acc_x, acc_y = _FRAME.unpack(data)
        batt &= 0x7F
        raw_temp = temp_byte & 0x7F
        quality = level_word >> 14
        readings: dict[str, float] = {
            "temperature_c": raw_temp - 40,
            "battery_pct": battery_pct(batt),
            "voltage_v": batt / 32.0,
            "button_pressed": temp_byte >> 7,
            "reading_quality_raw": quality,
            "reading_quality_pct": round(quality / 3 * 100),
            "accelerometer_x": acc_x,
            "accelerometer_y": acc_y,
        }
        medium = _medium(ctx, advert.mac, hw)
        if quality:
            readings["tank_level_mm"] = tank_level_mm(level_word & 0x3FFF, raw_temp, medium)
        facts = {
            "manufacturer": "Mopeka IOT",
            "model": model[0],
            "product": model[1],
            "medium": medium,
        }
        return ParseResult(PARSER_NAME, readings, facts)


def _mac_tail_matches(mac: str, data: bytes) -> bool:
    return len(data) >= 8 and data[5:8].hex().upper() == mac[-8:].replace(":", "")


def _medium(ctx: ParseContext, mac: str, hw: int) -> str:
    state = ctx.state.get(PARSER_NAME)
    if state is not None:
        configured = state.get("medium", {}).get(mac)
        if configured is not None:
            return str(configured)
    return "air" if hw in TOP_DOWN else "propane"
