"""What the agent accepts from a radio backend for each advert field, in the form it publishes.

Anything from the radio side (bluetoothd over D-Bus, bleak) may be of the wrong type, out of
range or oddly spelled.  Each function here returns the canonical value, or None when the input
cannot be one; the caller ignores such a value and counts it.  The canonical forms are the
wire v1 forms (``bt_mqtt.core.wire``): upper-case ASCII ``AA:BB:CC:DD:EE:FF``, 128-bit
lower-case UUIDs, company ids 0..65535, RSSI and TX power in dBm as signed bytes (the HCI
range: -128..127), names of at most ``MAX_NAME_BYTES`` UTF-8 bytes, data as ``bytes``.
Pure code.
"""

from __future__ import annotations

import re
from typing import Final

from bt_mqtt.core.bluetooth import canonical_uuid

ADDRESS_TYPES: Final = ("public", "random")
MIN_DBM: Final = -128
MAX_DBM: Final = 127
MAX_NAME_BYTES: Final = 248  # the longest Bluetooth device name
MAX_COMPANY_ID: Final = 0xFFFF

_MAC_RE: Final = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_UUID_CACHE_MAX: Final = 4096

# raw spelling -> canonical UUID, for spellings seen before (the hot path looks keys up here).
# Only valid spellings are stored; the dict is emptied when full, so it stays bounded whatever
# a hostile radio sends.  The canonical strings are shared by every device that uses them.
UUID_CACHE: Final[dict[str, str]] = {}


def mac(value: object) -> str | None:
    """``AA:BB:CC:DD:EE:FF`` from an ASCII MAC address in either case."""
    if type(value) is str and _MAC_RE.fullmatch(value):
        return value.upper()
    return None


def dbm(value: object) -> int | None:
    """An RSSI or TX power: an int (not bool) in ``MIN_DBM..MAX_DBM``."""
    if type(value) is int and MIN_DBM <= value <= MAX_DBM:
        return value
    return None


def address_type(value: object) -> str | None:
    """``public`` or ``random`` (the interned constant)."""
    if type(value) is str:
        for known in ADDRESS_TYPES:
            if value == known:
                return known
    return None


def name(value: object) -> str | None:
    """A local name: a string that is valid UTF-8 (no lone surrogates), at most 248 bytes."""
    if type(value) is not str:
        return None
    if value.isascii():
        return value if len(value) <= MAX_NAME_BYTES else None
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        return None
    return value if size <= MAX_NAME_BYTES else None


def company_id(value: object) -> int | None:
    """A Bluetooth SIG company id: an int (not bool) in 0..65535."""
    if type(value) is int and 0 <= value <= MAX_COMPANY_ID:
        return value
    return None


def data(value: object) -> bytes | None:
    """Advert data bytes (``bytes`` or ``bytearray``)."""
    if type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytes(value)
    return None


def uuid(value: object) -> str | None:
    """The 128-bit lower-case form of a UUID written as 128 bits (either case) or as a 16- or
    32-bit short form (4 or 8 hex digits, on the Bluetooth base UUID)."""
    if type(value) is not str:
        return None
    known = UUID_CACHE.get(value)
    if known is not None:
        return known
    canon = canonical_uuid(value)
    if canon is None:
        return None
    if len(UUID_CACHE) >= _UUID_CACHE_MAX:
        UUID_CACHE.clear()
    canon = UUID_CACHE.setdefault(canon, canon)  # one shared string per canonical UUID
    UUID_CACHE[value] = canon
    return canon
