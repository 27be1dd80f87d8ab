"""Xiaomi MiBeacon (service data 0xFE95), plain and encrypted.

Frame: frame control (2 bytes LE: bit 3 encrypted, 4 MAC included, 5 capability included,
6 object included, bits 12-15 version), product id (2 LE), frame counter (1), MAC (6,
reversed, if included), capability (1, then 2 more if its bit 5 is set), then objects
``<type u16 LE><length u8><value>`` (``xiaomi_objects.OBJECTS``).

Encryption: v4/v5 frames are AES-CCM with the 16-byte bind key, nonce = reversed MAC +
product id + frame counter + 3-byte extended counter (sent after the ciphertext), 4-byte tag,
associated data 0x11.  Legacy v2/v3 frames use a 12-byte key widened with 8d3d3c97 in the
middle, nonce = frame control + product id + frame counter + extended counter + the first
five reversed-MAC bytes, and carry a 1-byte token: the first byte of the 16-byte CCM tag
(associated data 0x11).  We decrypt in counter mode and check that byte, so a wrong key is a
``DecryptionError`` (but for a 1-in-256 chance, which the object-list check then catches).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers.api import DecryptionError, ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.ccm import decrypt
from bt_mqtt.parsers.xiaomi_devices import MANUFACTURERS, PRODUCTS
from bt_mqtt.parsers.xiaomi_objects import EMPTY_OK, OBJECTS
from bt_mqtt.parsers.xiaomi_scales import SERVICE_UUIDS, decode_service

log = logging.getLogger(__name__)

UUID: Final = "0000fe95-0000-1000-8000-00805f9b34fb"
_LEGACY_FILL: Final = bytes.fromhex("8d3d3c97")


@lru_cache(maxsize=256)
def _ctr(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # noqa: PLC0415

    return Cipher, algorithms.AES(key)


@lru_cache(maxsize=256)
def _ccm16(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM  # noqa: PLC0415

    return AESCCM(key, tag_length=16)


def _legacy_decrypt(key: bytes | None, nonce: bytes, ciphertext: bytes, token: int) -> bytes:
    """CCM's counter mode, then the 1-byte token checked against the recomputed tag."""
    if key is None:
        raise DecryptionError("encrypted frame and no bind key for this device")
    if len(key) == 12:
        key = key[:6] + _LEGACY_FILL + key[6:]
    if len(key) != 16:
        raise DecryptionError(f"legacy MiBeacon key has {len(key)} bytes, expected 12")
    from cryptography.hazmat.primitives.ciphers import modes  # noqa: PLC0415

    cipher_cls, algo = _ctr(key)
    dec = cipher_cls(algo, modes.CTR(b"\x01" + nonce + b"\x00\x01")).decryptor()
    plain = bytes(dec.update(ciphertext) + dec.finalize())
    if _ccm16(key).encrypt(nonce, plain, b"\x11")[len(plain)] != token:
        raise DecryptionError("legacy MiBeacon token mismatch (wrong bind key?)")
    return plain


def _objects(data: bytes, pos: int, result: ParseResult, strict: bool, model: str) -> None:
    end = len(data)
    objects = OBJECTS
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
        fn = objects.get(otype)
        if fn is None:
            result.facts.setdefault("unknown_objects", []).append(f"0x{otype:04x}")
        elif length or otype in EMPTY_OK:
            fn(data[pos + 3 : nxt], result, model)
        pos = nxt


class XiaomiParser:
    """MiBeacon v2-v5; bind keys (12 bytes legacy, 16 bytes v4/v5) from ``ctx.bindkeys``.

    Also claims the service data of the older Xiaomi scales (0x181D, 0x181B) and of the
    HHCCJCY10 plant sensor (0xFD50), see ``xiaomi_scales``.
    """

    name: ClassVar[str] = "xiaomi"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (UUID, *SERVICE_UUIDS)
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        data = advert.service_data.get(UUID)
        if data is None:
            return self._other(advert)
        if len(data) < 5:
            raise ParseError(f"MiBeacon frame of {len(data)} bytes is too short")
        frctrl = data[0] | data[1] << 8
        version = frctrl >> 12
        if frctrl & 0x80 or version < 2:
            raise ParseError(f"MiBeacon frame control 0x{frctrl:04x}: mesh or v1 frame")
        encrypted = bool(frctrl & 0x08)
        pid = data[2] | data[3] << 8
        model = PRODUCTS.get(pid, "")
        facts: dict[str, Any] = {
            "mibeacon_version": version,
            "product_id": pid,
            "packet_id": data[4],
            "encrypted": encrypted,
        }
        if model:
            facts["model"] = model
            facts["manufacturer"] = MANUFACTURERS.get(model, "Xiaomi")
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
            i += 3 if cap & 0x20 else 1  # then 2 bytes of I/O capability
        if not frctrl & 0x40 or i >= len(data):
            return result  # no objects: a pairing or presence frame
        if not encrypted:
            _objects(data, i, result, False, model)
            return result
        key = ctx.bindkeys.get(advert.mac)
        if version >= 4:
            if len(data) < i + 7:
                raise ParseError("encrypted MiBeacon frame too short")
            nonce = mac_rev + data[2:5] + data[-7:-4]
            plain = decrypt(key, nonce, data[i:-7], data[-4:], b"\x11")
            _objects(plain, 0, result, True, model)
        else:
            if len(data) < i + 4:
                raise ParseError("encrypted legacy MiBeacon frame too short")
            nonce = data[0:5] + data[-4:-1] + mac_rev[:5]
            plain = _legacy_decrypt(key, nonce, data[i:-4], data[-1])
            try:
                _objects(plain, 0, result, True, model)
            except ParseError:
                raise DecryptionError("legacy frame decrypts to garbage (wrong key?)") from None
        return result

    def _other(self, advert: Advert) -> ParseResult | None:
        for uuid, data in advert.service_data.items():
            result = ParseResult(self.name, facts={"manufacturer": "Xiaomi"})
            if decode_service(uuid, data, result):
                return result
        return None
