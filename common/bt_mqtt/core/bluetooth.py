"""Bluetooth identifiers in one place: UUID forms and address bytes.

The wire form of a UUID is its 128-bit lower-case text.  The Bluetooth SIG assigns 16- and
32-bit short forms on the base UUID ``0000xxxx-0000-1000-8000-00805f9b34fb``; ``canonical_uuid``
expands them, ``short_uuid`` gives the 16-bit value back.  Addresses are ``AA:BB:CC:DD:EE:FF``;
``mac_bytes`` gives their six bytes in display (most significant first) order.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["BASE_UUID_SUFFIX", "canonical_uuid", "mac_bytes", "short_uuid", "uuid16", "uuid128"]

BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
_UUID128_RE: Final = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
_SHORT_RE: Final = re.compile(r"[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{4})?")
_HEX4_RE: Final = re.compile(r"[0-9a-f]{4}")


def uuid16(short: int) -> str:
    """The 128-bit lower-case form of a 16-bit Bluetooth SIG UUID."""
    return f"0000{short:04x}{BASE_UUID_SUFFIX}"


def canonical_uuid(text: str) -> str | None:
    """The 128-bit lower-case form of a UUID written as 128 bits (either case) or as a 16- or
    32-bit short form (4 or 8 hex digits); None for anything else (no prefix, no spaces)."""
    if _UUID128_RE.fullmatch(text):
        return text.lower()
    if _SHORT_RE.fullmatch(text):
        return f"{text.lower():0>8}{BASE_UUID_SUFFIX}"
    return None


def uuid128(value: str | int) -> str:
    """A UUID as people write it (``0xFCD2``, ``"fcd2"``, 32-bit, 128-bit in either case, or
    an integer) in its 128-bit lower-case form.  For configuration and parser tables: text
    that is no UUID comes back stripped and lower-cased (it then matches no advert)."""
    if isinstance(value, int):
        return f"{value:08x}{BASE_UUID_SUFFIX}"
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return canonical_uuid(text) or text


def short_uuid(uuid: str) -> int | None:
    """The 16-bit value of a canonical UUID on the SIG base (``0000fcd2-…`` -> 0xFCD2)."""
    if len(uuid) == 36 and uuid.startswith("0000") and uuid.endswith(BASE_UUID_SUFFIX):
        digits = uuid[4:8]
        if _HEX4_RE.fullmatch(digits):
            return int(digits, 16)
    return None


def mac_bytes(mac: str) -> bytes:
    """The six bytes of ``AA:BB:CC:DD:EE:FF``, most significant first."""
    return bytes.fromhex(mac.replace(":", ""))
