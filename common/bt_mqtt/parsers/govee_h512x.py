"""Govee H5121-H5130 buttons, motion, door, vibration and pressure sensors (company 0xEF88).

The 24-byte frame: 2 bytes, a 4-byte time stamp, 16 encrypted bytes, CRC-16 (big-endian) of
the encrypted bytes (polynomial 0x1021, initial value 0x1D0F, no reflection).  The key is the
time stamp followed by 12 zero bytes; the block is AES-128-ECB with key and data byte-reversed
(reverse the key, decrypt the reversed block, reverse the result).  Plain text: byte 2 = model
id (3 H5121 motion, 8 H5122 button, 2 H5123 door/window, 9 H5124 vibration, 10 H5125 six
buttons, 11 H5126 two buttons, 13 H5130 pressure mat), byte 4 = battery %, byte 5 = state:
the button number pressed, 1 = motion / vibration, 2 = open (H5123), 1 = presence and 16 = its
button (H5130).  A CRC mismatch is a ``ParseError`` (a garbled frame, no readings).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from bt_mqtt.parsers.api import ParseError, ParseResult

log = logging.getLogger(__name__)

MODEL_IDS = {3: "H5121", 8: "H5122", 2: "H5123", 9: "H5124", 10: "H5125", 11: "H5126", 13: "H5130"}
_NAMED = tuple((f"GV{m[1:]}", m) for m in MODEL_IDS.values())


@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


def crc16(data: bytes) -> int:
    """CRC-16 with polynomial 0x1021 and initial value 0x1D0F (MSB first)."""
    table = _crc_table()
    crc = 0x1D0F
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def _decrypt(stamp: bytes, block: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    key = (stamp + bytes(12))[::-1]
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - Govee's choice
    return (dec.update(block[::-1]) + dec.finalize())[::-1]


def decode_h512x(data: bytes, name: str) -> ParseResult | None:
    """One 24-byte 0xEF88 frame; None when the model is not one of the known ones."""
    if len(data) != 24:
        return None
    block = data[6:22]
    if crc16(block) != int.from_bytes(data[22:24], "big"):
        raise ParseError("govee H512x: CRC mismatch")
    plain = _decrypt(data[2:6], block)
    model = next((m for tag, m in _NAMED if tag in name), None) or MODEL_IDS.get(plain[2])
    if model is None:
        return None
    state = plain[5]
    facts: dict[str, Any] = {"manufacturer": "Govee", "model": model}
    result = ParseResult("govee", {"battery_pct": plain[4]}, facts)
    if model == "H5123":
        result.readings["window"] = 1 if state == 2 else 0
    elif model == "H5124":
        if state == 1:
            result.add_event("vibration", "vibration", key="vibration")
    elif model == "H5121":
        if state == 1:
            result.add_event("motion", "motion", key="motion")
    elif model == "H5130":
        if state == 16:
            result.add_event("button", "press", index=0, key="button_0")
        else:
            result.readings["presence"] = 1 if state == 1 else 0
    else:
        result.add_event("button", "press", index=state, key=f"button_{state}")
    return result
