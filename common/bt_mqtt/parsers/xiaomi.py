"""Xiaomi MiBeacon (service data 0xFE95), plain and encrypted.

Frame: frame control (2 bytes LE: bit 3 encrypted, 4 MAC included, 5 capability included,
6 object included, bits 12-15 version), product id (2 LE), frame counter (1), MAC (6,
reversed, if included), capability (1, then 2 more if its bit 5 is set), then objects
``<type u16 LE><length u8><value>`` (``xiaomi_objects.OBJECTS``).

Encryption: v4/v5 frames are AES-CCM with the 16-byte bind key, nonce = reversed MAC +
product id + frame counter + 3-byte extended counter (sent after the ciphertext), 4-byte tag,
associated data 0x11.  Legacy v2/v3 frames use a 12-byte key widened with 8d3d3c97 in the
middle, nonce = frame control + product id + frame counter + extended counter + the first
five reversed-MAC bytes, and carry only a 1-byte token, so they are decrypted without
authentication and a wrong key shows as a malformed object list (``DecryptionError``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import DecryptionError, ParseContext, ParseError, ParseResult, mac_bytes
from bt_mqtt.parsers.ccm import decrypt
from bt_mqtt.parsers.xiaomi_objects import decode_object

log = logging.getLogger(__name__)

UUID: Final = "0000fe95-0000-1000-8000-00805f9b34fb"
_LEGACY_FILL: Final = bytes.fromhex("8d3d3c97")


@lru_cache(maxsize=256)
def _ctr(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # noqa: PLC0415

    return Cipher, algorithms.AES(key)


def _legacy_decrypt(key: bytes | None, nonce: bytes, ciphertext: bytes) -> bytes:
    """CCM's counter mode without the tag (legacy frames carry no full tag)."""
    if key is None:
        raise DecryptionError("encrypted frame and no bind key for this device")
    if len(key) == 12:
        key = key[:6] + _LEGACY_FILL + key[6:]
    if len(key) != 16:
        raise DecryptionError(f"legacy MiBeacon key has {len(key)} bytes, expected 12")
    from cryptography.hazmat.primitives.ciphers import modes  # noqa: PLC0415

    cipher_cls, algo = _ctr(key)
    dec = cipher_cls(algo, modes.CTR(b"\x01" + nonce + b"\x00\x01")).decryptor()
    return bytes(dec.update(ciphertext) + dec.finalize())


def _objects(data: bytes, pos: int, result: ParseResult, strict: bool) -> None:
    end = len(data)
    while pos < end:
        if pos + 3 > end:
            if strict:
                raise ParseError(f"MiBeacon object header truncated at byte {pos}")
            result.facts["trailing_bytes"] = data[pos:].hex()
            return
        otype = data[pos] | data[pos + 1] << 8
        length = data[pos + 2]
        nxt = pos + 3 + length
        if nxt > end:
            have = end - pos - 3
            raise ParseError(f"MiBeacon object 0x{otype:04x} needs {length} bytes, has {have}")
        if not decode_object(otype, data[pos + 3 : nxt], result):
            result.facts.setdefault("unknown_objects", []).append(f"0x{otype:04x}")
        pos = nxt


class XiaomiParser:
    """MiBeacon v2-v5; bind keys (12 bytes legacy, 16 bytes v4/v5) from ``ctx.bindkeys``."""

    name: ClassVar[str] = "xiaomi"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (UUID,)
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        data = advert.service_data.get(UUID)
        if data is None:
            return None
        if len(data) < 5:
            raise ParseError(f"MiBeacon frame of {len(data)} bytes is too short")
        frctrl = data[0] | data[1] << 8
        version = frctrl >> 12
        encrypted = bool(frctrl & 0x08)
        pid = data[2] | data[3] << 8
        facts: dict[str, Any] = {
            "mibeacon_version": version,
            "product_id": pid,
            "packet_id": data[4],
            "encrypted": encrypted,
        }
        result = ParseResult(self.name, facts=facts)
        i = 5
        if frctrl & 0x10:
            if len(data) < 11:
                raise ParseError("MiBeacon frame announces a MAC but is too short")
            mac_rev = data[5:11]
            i = 11
        else:
            mac_rev = mac_bytes(advert.mac)[::-1]
        if frctrl & 0x20:
            if len(data) < i + 1:
                raise ParseError("MiBeacon capability byte missing")
            cap = data[i]
            i += 3 if cap & 0x20 else 1
        if not frctrl & 0x40 or i >= len(data):
            return result  # no objects: a pairing or presence frame
        if not encrypted:
            _objects(data, i, result, strict=False)
            return result
        key = ctx.bindkeys.get(advert.mac)
        if version >= 4:
            if len(data) < i + 7:
                raise ParseError("encrypted MiBeacon frame too short")
            nonce = mac_rev + data[2:5] + data[-7:-4]
            plain = decrypt(key, nonce, data[i:-7], data[-4:], b"\x11")
            _objects(plain, 0, result, strict=True)
        else:
            if len(data) < i + 4:
                raise ParseError("encrypted legacy MiBeacon frame too short")
            nonce = data[0:5] + data[-4:-1] + mac_rev[:5]
            plain = _legacy_decrypt(key, nonce, data[i:-4])
            try:
                _objects(plain, 0, result, strict=True)
            except ParseError:
                raise DecryptionError("legacy frame decrypts to garbage (wrong key?)") from None
        facts["packet_id"] = data[4]
        return result
