"""The BTHome object table: id -> metric name, size, format, factor and kind.

``OBJECTS`` is the table the decoder walks; ``FAST`` the subset the hot loop decodes inline
(fixed-size integers whose factor is 1 or a power of ten); the event name tables follow.
"""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

# Kinds of object.
NUM, BIN, BUTTON, DIMMER, COMMAND, TEXT, RAW, FACT, FIRMWARE = range(9)

_U8, _S8 = Struct("<B"), Struct("<b")
_U16, _S16 = Struct("<H"), Struct("<h")
_U32, _S32 = Struct("<I"), Struct("<i")
_FMT: dict[str, tuple[int, Struct | None, bool]] = {
    "u8": (1, _U8, False),
    "s8": (1, _S8, True),
    "u16": (2, _U16, False),
    "s16": (2, _S16, True),
    "u24": (3, None, False),
    "s24": (3, None, True),
    "u32": (4, _U32, False),
    "s32": (4, _S32, True),
}

# id: (base name, unit suffix or "", value format, factor, kind)
_TABLE: dict[int, tuple[str, str, str, float, int]] = {
    0x00: ("packet_id", "", "u8", 1, FACT),
    0x01: ("battery", "pct", "u8", 1, NUM),
    0x02: ("temperature", "c", "s16", 0.01, NUM),
    0x03: ("humidity", "pct", "u16", 0.01, NUM),
    0x04: ("pressure", "hpa", "u24", 0.01, NUM),
    0x05: ("illuminance", "lux", "u24", 0.01, NUM),
    0x06: ("mass", "kg", "u16", 0.01, NUM),
    0x07: ("mass", "lb", "u16", 0.01, NUM),
    0x08: ("dewpoint", "c", "s16", 0.01, NUM),
    0x09: ("count", "", "u8", 1, NUM),
    0x0A: ("energy", "kwh", "u24", 0.001, NUM),
    0x0B: ("power", "w", "u24", 0.01, NUM),
    0x0C: ("voltage", "v", "u16", 0.001, NUM),
    0x0D: ("pm25", "ugm3", "u16", 1, NUM),
    0x0E: ("pm10", "ugm3", "u16", 1, NUM),
    0x0F: ("generic_boolean", "", "u8", 1, BIN),
    0x10: ("power", "", "u8", 1, BIN),
    0x11: ("opening", "", "u8", 1, BIN),
    0x12: ("co2", "ppm", "u16", 1, NUM),
    0x13: ("tvoc", "ugm3", "u16", 1, NUM),
    0x14: ("moisture", "pct", "u16", 0.01, NUM),
    0x15: ("battery_low", "", "u8", 1, BIN),
    0x16: ("battery_charging", "", "u8", 1, BIN),
    0x17: ("carbon_monoxide", "", "u8", 1, BIN),
    0x18: ("cold", "", "u8", 1, BIN),
    0x19: ("connectivity", "", "u8", 1, BIN),
    0x1A: ("door", "", "u8", 1, BIN),
    0x1B: ("garage_door", "", "u8", 1, BIN),
    0x1C: ("gas_detected", "", "u8", 1, BIN),
    0x1D: ("heat", "", "u8", 1, BIN),
    0x1E: ("light", "", "u8", 1, BIN),
    0x1F: ("lock", "", "u8", 1, BIN),
    0x20: ("moisture_detected", "", "u8", 1, BIN),
    0x21: ("motion", "", "u8", 1, BIN),
    0x22: ("moving", "", "u8", 1, BIN),
    0x23: ("occupancy", "", "u8", 1, BIN),
    0x24: ("plug", "", "u8", 1, BIN),
    0x25: ("presence", "", "u8", 1, BIN),
    0x26: ("problem", "", "u8", 1, BIN),
    0x27: ("running", "", "u8", 1, BIN),
    0x28: ("safety", "", "u8", 1, BIN),
    0x29: ("smoke", "", "u8", 1, BIN),
    0x2A: ("sound", "", "u8", 1, BIN),
    0x2B: ("tamper", "", "u8", 1, BIN),
    0x2C: ("vibration", "", "u8", 1, BIN),
    0x2D: ("window", "", "u8", 1, BIN),
    0x2E: ("humidity", "pct", "u8", 1, NUM),
    0x2F: ("moisture", "pct", "u8", 1, NUM),
    0x3A: ("button", "", "u8", 1, BUTTON),
    0x3B: ("command", "", "u8", 1, COMMAND),
    0x3C: ("dimmer", "", "u16", 1, DIMMER),
    0x3D: ("count", "", "u16", 1, NUM),
    0x3E: ("count", "", "u32", 1, NUM),
    0x3F: ("rotation", "deg", "s16", 0.1, NUM),
    0x40: ("distance", "mm", "u16", 1, NUM),
    0x41: ("distance", "m", "u16", 0.1, NUM),
    0x42: ("duration", "s", "u24", 0.001, NUM),
    0x43: ("current", "a", "u16", 0.001, NUM),
    0x44: ("speed", "m_s", "u16", 0.01, NUM),
    0x45: ("temperature", "c", "s16", 0.1, NUM),
    0x46: ("uv_index", "", "u8", 0.1, NUM),
    0x47: ("volume", "l", "u16", 0.1, NUM),
    0x48: ("volume", "ml", "u16", 1, NUM),
    0x49: ("volume_flow_rate", "m3_h", "u16", 0.001, NUM),
    0x4A: ("voltage", "v", "u16", 0.1, NUM),
    0x4B: ("gas", "m3", "u24", 0.001, NUM),
    0x4C: ("gas", "m3", "u32", 0.001, NUM),
    0x4D: ("energy", "kwh", "u32", 0.001, NUM),
    0x4E: ("volume", "l", "u32", 0.001, NUM),
    0x4F: ("water", "l", "u32", 0.001, NUM),
    0x50: ("timestamp", "s", "u32", 1, NUM),
    0x51: ("acceleration", "ms2", "u16", 0.001, NUM),
    0x52: ("gyroscope", "deg_s", "u16", 0.001, NUM),
    0x53: ("text", "", "u8", 1, TEXT),
    0x54: ("raw", "", "u8", 1, RAW),
    0x55: ("volume_storage", "l", "u32", 0.001, NUM),
    0x56: ("conductivity", "us_cm", "u16", 1, NUM),
    0x57: ("temperature", "c", "s8", 1, NUM),
    0x58: ("temperature", "c", "s8", 0.35, NUM),
    0x59: ("count", "", "s8", 1, NUM),
    0x5A: ("count", "", "s16", 1, NUM),
    0x5B: ("count", "", "s32", 1, NUM),
    0x5C: ("power", "w", "s32", 0.01, NUM),
    0x5D: ("current", "a", "s16", 0.001, NUM),
    0x5E: ("direction", "deg", "u16", 0.01, NUM),
    0x5F: ("precipitation", "mm", "u16", 0.1, NUM),
    0x60: ("channel", "", "u8", 1, NUM),
    0x61: ("rotational_speed", "rpm", "u16", 1, NUM),
    0x62: ("speed", "m_s", "s32", 0.000001, NUM),
    0x63: ("acceleration", "ms2", "s32", 0.000001, NUM),
    0x64: ("light_level", "", "u8", 1, NUM),
    0x65: ("settings_revision", "", "u8", 1, FACT),
    0xF0: ("device_type_id", "", "u16", 1, FACT),
    0xF1: ("firmware_version", "", "u32", 1, FIRMWARE),
    0xF2: ("firmware_version", "", "u24", 1, FIRMWARE),
}


def _decimals(factor: float) -> int:
    text = f"{factor:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


# id: (metric name, size, struct or None for 24-bit, signed, factor, kind, base, unit, decimals)
OBJECTS: Final[dict[int, tuple[str, int, Struct | None, bool, float, int, str, str, int]]] = {
    oid: (
        f"{base}_{unit}" if unit else base,
        _FMT[fmt][0],
        _FMT[fmt][1],
        _FMT[fmt][2],
        float(factor),
        kind,
        base,
        unit,
        _decimals(factor),
    )
    for oid, (base, unit, fmt, factor, kind) in _TABLE.items()
}


def _fast_entry(
    obj: tuple[str, int, Struct | None, bool, float, int, str, str, int],
) -> tuple[int, Any, str, int, bool] | None:
    """(size, unpack_from, name, divisor or 0, into facts) for the hot loop, if applicable."""
    name, size, st, _, factor, kind, _, _, nd = obj
    if st is None or kind not in (NUM, FACT):
        return None
    if factor == 1.0:
        return size, st.unpack_from, name, 0, kind == FACT
    div = 10**nd
    if abs(factor * div - 1.0) > 1e-12:
        return None  # e.g. the 0.35 factor: not a power of ten
    return size, st.unpack_from, name, div, kind == FACT


# Objects the hot loop decodes inline: integer / 10**n is the correctly rounded decimal.
FAST: Final = {oid: e for oid, obj in OBJECTS.items() if (e := _fast_entry(obj)) is not None}

BUTTON_EVENTS: Final = {
    0x00: None,
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
}
DIMMER_EVENTS: Final = {0x00: None, 0x01: "rotate_left", 0x02: "rotate_right"}
COMMAND_EVENTS: Final = {
    0x00: "off",
    0x01: "on",
    0x02: "toggle",
    0x03: "step_up",
    0x04: "step_down",
}


F16, F32 = Struct("<e"), Struct("<f")
COMPILABLE: Final = (NUM, BIN, FACT)
