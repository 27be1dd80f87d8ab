"""BTHome v2 (service data 0xFCD2) and v1 (0x181C plain, 0x181E encrypted).

v2 layout: one device-info byte (bit 0 encrypted, bit 2 trigger based, bits 5-7 version 2),
then objects ``<id><value>`` whose size and scale follow from the id (``OBJECTS``).  Encrypted
frames are AES-CCM (4-byte tag) over the objects, followed by a 4-byte counter and the tag;
nonce = MAC + UUID (little endian) + device-info byte + counter.  v1 objects carry a header
byte (3 bits data type, 5 bits length) before the id; v1 encryption uses the nonce MAC + UUID +
counter and associated data 0x11.

Readings: numeric objects under our metric names (second and later objects of one kind get an
index: ``temperature_c``, ``temperature_2_c``); binary objects as 0/1; events (button, dimmer,
command) in ``facts["events"]``; packet id, firmware, device type, text and raw in ``facts``.
A repeated packet id from one MAC (state ``ctx.state_for("bthome")``) is marked
``facts["duplicate"]`` and its events are dropped, so one button press is one event.
"""

from __future__ import annotations

import logging
from struct import Struct
from typing import Any, ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers import bthome_layouts as layouts
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult, mac_bytes
from bt_mqtt.parsers.ccm import decrypt

log = logging.getLogger(__name__)

UUID_V2: Final = "0000fcd2-0000-1000-8000-00805f9b34fb"
UUID_V1: Final = "0000181c-0000-1000-8000-00805f9b34fb"
UUID_V1_ENC: Final = "0000181e-0000-1000-8000-00805f9b34fb"

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


_F16, _F32 = Struct("<e"), Struct("<f")
_COMPILABLE: Final = (NUM, BIN, FACT)


def _store_num(readings: dict[str, float], obj: tuple[Any, ...], value: float) -> None:
    """Store under the metric name; a second value of the same metric gets ``_2`` etc."""
    name = obj[0]
    if name not in readings:
        readings[name] = value
        return
    base, unit = obj[6], obj[7]
    n = 2
    while True:
        key = f"{base}_{n}_{unit}" if unit else f"{base}_{n}"
        if key not in readings:
            readings[key] = value
            return
        n += 1


def decode_objects(data: bytes, pos: int, result: ParseResult, v1: bool = False) -> None:
    """Decode BTHome objects from ``data[pos:]`` into ``result``.

    An unknown object id ends decoding (its size is unknown); what came before is kept and the
    id is noted in ``facts["unknown_object_id"]``.  A truncated object raises ``ParseError``.
    A v2 layout seen before is decoded by its compiled form (``bthome_layouts``); the first
    frame of a layout goes through the general loop, which then compiles it.
    """
    if v1 or pos >= len(data):
        _decode_walk(data, pos, result, v1)
        return
    lay = layouts.lookup(data, pos)
    if lay is not None:
        built = lay.build(data, result.facts)
        if result.readings:
            result.readings.update(built)
        else:
            result.readings = built
        return
    _decode_walk(data, pos, result, v1)
    layouts.learn(data, pos, OBJECTS, _COMPILABLE)


def _decode_walk(data: bytes, pos: int, result: ParseResult, v1: bool) -> None:
    """The general decoding loop (every object kind, v1 and v2)."""
    readings = result.readings
    facts = result.facts
    end = len(data)
    buttons = 0
    while pos < end:
        if not v1:
            fast = FAST.get(data[pos])
            if fast is not None:
                size, unpack, key, div, into_facts = fast
                nxt = pos + 1 + size
                if nxt <= end:
                    if into_facts:
                        facts[key] = unpack(data, pos + 1)[0]
                        pos = nxt
                        continue
                    if key not in readings:
                        raw = unpack(data, pos + 1)[0]
                        readings[key] = raw / div if div else raw
                        pos = nxt
                        continue
        if v1:
            length = data[pos] & 0x1F
            if length == 0 or pos + 1 + length > end:
                raise ParseError(f"BTHome v1 object at {pos} runs past the end")
            oid = data[pos + 1]
            obj = OBJECTS.get(oid)
            if obj is None:
                pos += 1 + length
                continue
            vpos, size, nxt = pos + 2, length - 1, pos + 1 + length
            dtype = data[pos] >> 5
            if obj[5] == NUM and dtype in (0, 1, 2):
                chunk = data[vpos:nxt]
                if dtype == 2:
                    if size not in (2, 4):
                        raise ParseError(f"BTHome v1 float of {size} bytes")
                    value = (_F16 if size == 2 else _F32).unpack(chunk)[0]
                else:
                    value = int.from_bytes(chunk, "little", signed=dtype == 1)
                _store_num(readings, obj, round(value * obj[4], obj[8]))
                pos = nxt
                continue
        else:
            oid = data[pos]
            obj = OBJECTS.get(oid)
            if obj is None:
                facts["unknown_object_id"] = oid
                return
            vpos, size = pos + 1, obj[1]
            nxt = vpos + size
        name, _, st, signed, factor, kind, _, _, nd = obj
        if kind in (TEXT, RAW, COMMAND):
            if vpos >= end:
                raise ParseError(f"BTHome object 0x{oid:02x} truncated")
            n = data[vpos]
            start = vpos + 2 if kind == COMMAND else vpos + 1
            nxt = start + n
            if nxt > end:
                raise ParseError(f"BTHome object 0x{oid:02x} truncated")
            chunk = data[start:nxt]
            if kind == TEXT:
                facts["text"] = chunk.decode("utf-8", "replace")
            elif kind == RAW:
                facts["raw"] = chunk.hex()
            else:
                cmd = COMMAND_EVENTS.get(data[vpos + 1], f"0x{data[vpos + 1]:02x}")
                if n:
                    result.add_event("command", cmd, steps=int.from_bytes(chunk, "little"))
                else:
                    result.add_event("command", cmd)
            pos = nxt
            continue
        if nxt > end:
            raise ParseError(f"BTHome object 0x{oid:02x} truncated at byte {pos}")
        if st is not None and size == st.size:
            raw = st.unpack_from(data, vpos)[0]
        else:
            raw = int.from_bytes(data[vpos:nxt], "little", signed=signed)
        pos = nxt
        if kind == NUM:
            _store_num(readings, obj, round(raw * factor, nd) if factor != 1.0 else raw)
        elif kind == BIN:
            key = name
            if key in readings:
                n = 2
                while f"{name}_{n}" in readings:
                    n += 1
                key = f"{name}_{n}"
            readings[key] = 1 if raw else 0
        elif kind == BUTTON:
            ev = BUTTON_EVENTS.get(raw, f"0x{raw:02x}")
            if ev is not None:
                result.add_event("button", ev, index=buttons)
            buttons += 1
            if buttons == 2:  # several buttons: name each one, 1-based
                for ev in facts["events"]:
                    if ev["type"] == "button":
                        ev["key"] = f"button_{ev['index'] + 1}"
            if buttons > 1 and ev is not None:
                facts["events"][-1]["key"] = f"button_{buttons}"
        elif kind == DIMMER:
            dev = DIMMER_EVENTS.get(raw & 0xFF, f"0x{raw & 0xFF:02x}")
            if dev is not None:
                result.add_event("dimmer", dev, steps=raw >> 8)
        elif kind == FIRMWARE:
            facts[name] = ".".join(str(b) for b in reversed(data[vpos:nxt]))
        else:
            facts[name] = raw


class BTHomeParser:
    """BTHome v1 and v2, plain and AES-CCM encrypted (keys from ``ctx.bindkeys``)."""

    name: ClassVar[str] = "bthome"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (UUID_V2, UUID_V1, UUID_V1_ENC)
    name_patterns: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 10

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        sd = advert.service_data
        data = sd.get(UUID_V2)
        if data is not None:
            return self._v2(advert, ctx, data)
        data = sd.get(UUID_V1)
        if data is not None:
            result = ParseResult(self.name, {}, {"bthome_version": 1, "encrypted": False})
            decode_objects(data, 0, result, v1=True)
            return self._dedup(advert, ctx, result)
        data = sd.get(UUID_V1_ENC)
        if data is not None:
            if len(data) < 9:
                raise ParseError(f"encrypted BTHome v1 frame of {len(data)} bytes is too short")
            key = self._key(advert, ctx)
            counter = data[-8:-4]
            nonce = mac_bytes(advert.mac) + b"\x1e\x18" + counter
            plain = decrypt(key, nonce, data[:-8], data[-4:], b"\x11")
            result = ParseResult(self.name, facts={"bthome_version": 1, "encrypted": True})
            result.facts["encryption_counter"] = int.from_bytes(counter, "little")
            decode_objects(plain, 0, result, v1=True)
            result.facts.setdefault("packet_id", result.facts["encryption_counter"])
            return self._dedup(advert, ctx, result)
        return None

    def _key(self, advert: Advert, ctx: ParseContext) -> bytes | None:
        return ctx.bindkeys.get(advert.mac)

    def _v2(self, advert: Advert, ctx: ParseContext, data: bytes) -> ParseResult:
        if not data:
            raise ParseError("empty BTHome v2 service data")
        info = data[0]
        version = info >> 5
        if version != 2:
            raise ParseError(f"BTHome device-info byte 0x{info:02x} says version {version}")
        facts: dict[str, Any] = {
            "bthome_version": 2,
            "encrypted": bool(info & 1),
            "trigger_based": bool(info & 4),
        }
        result = ParseResult(self.name, {}, facts)
        start = 1
        mac = None
        if info & 2:  # the device's MAC follows, least significant byte first
            if len(data) < 7:
                raise ParseError("BTHome v2 frame announces a MAC but is too short")
            mac = data[6:0:-1]
            facts["payload_mac"] = ":".join(f"{b:02X}" for b in mac)
            start = 7
        if info & 1:
            if len(data) < start + 8:
                raise ParseError(f"encrypted BTHome v2 frame of {len(data)} bytes is too short")
            counter = data[-8:-4]
            nonce = (mac or mac_bytes(advert.mac)) + b"\xd2\xfc" + data[:1] + counter
            plain = decrypt(self._key(advert, ctx), nonce, data[start:-8], data[-4:], None)
            facts["encryption_counter"] = int.from_bytes(counter, "little")
            decode_objects(plain, 0, result)
            facts.setdefault("packet_id", facts["encryption_counter"])
        else:
            decode_objects(data, start, result)
        return self._dedup(advert, ctx, result)

    def _dedup(self, advert: Advert, ctx: ParseContext, result: ParseResult) -> ParseResult:
        pid = result.facts.get("packet_id")
        if pid is None:
            return result
        state = ctx.state.get("bthome")
        if state is None:
            state = ctx.state_for(self.name)
        if state.get(advert.mac) == pid:
            result.facts["duplicate"] = True
            result.facts.pop("events", None)
        else:
            state[advert.mac] = pid
        return result
