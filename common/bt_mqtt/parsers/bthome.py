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
from typing import Any, ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers import bthome_layouts as layouts
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.bthome_objects import (
    BIN,
    BUTTON,
    BUTTON_EVENTS,
    COMMAND,
    COMMAND_EVENTS,
    COMPILABLE,
    DIMMER,
    DIMMER_EVENTS,
    F16,
    F32,
    FAST,
    FIRMWARE,
    NUM,
    OBJECTS,
    RAW,
    TEXT,
)
from bt_mqtt.parsers.ccm import decrypt

log = logging.getLogger(__name__)

UUID_V2: Final = "0000fcd2-0000-1000-8000-00805f9b34fb"
UUID_V1: Final = "0000181c-0000-1000-8000-00805f9b34fb"
UUID_V1_ENC: Final = "0000181e-0000-1000-8000-00805f9b34fb"


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
    layouts.learn(data, pos, OBJECTS, COMPILABLE)


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
                    value = (F16 if size == 2 else F32).unpack(chunk)[0]
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
