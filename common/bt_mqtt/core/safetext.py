"""Text from outside, made safe to show a person: no character in it can drive a terminal.

BLE names, manufacturer and service data, MQTT topics and payloads come from anyone in radio
range or on the broker.  Before such text reaches a terminal (the console, ``bt-mqtt decode
--format text``), ``escape`` writes every character that could act instead of print as a visible
escape, so an operator still sees that something odd is there:

- C0 controls, DEL and C1 controls (category Cc): ESC, BEL, CR, the 8-bit CSI ``\\x9b`` ...
- format characters (Cf): bidi overrides and isolates, zero-width joiners and spaces, BOM ...
- line and paragraph separators (Zl, Zp), lone surrogates (Cs) and unassigned code points (Cn).

Tab, newline and carriage return become ``\\t``, ``\\n``, ``\\r``; other code points below 256
``\\xNN``, the rest ``\\uNNNN`` or ``\\UNNNNNNNN`` (Python's spelling).  Letters, digits, symbols,
marks, ordinary spaces (Zs) and private-use characters (Co) pass unchanged.  Markup is not this
module's business: whoever draws the result must not parse it as markup.  Pure; no I/O.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Final

log = logging.getLogger(__name__)

ELLIPSIS: Final = "…"
_KEEP_UNPRINTABLE: Final = frozenset({"Zs", "Co"})
_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _unsafe(ch: str) -> bool:
    return not ch.isprintable() and unicodedata.category(ch) not in _KEEP_UNPRINTABLE


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_safe(text: str) -> bool:
    """True when ``text`` holds no character that ``escape`` would change."""
    return text.isprintable() or not any(_unsafe(ch) for ch in text)


def escape(text: str, limit: int | None = None, keep: str = "") -> str:
    """``text`` with every unsafe character written as a visible escape (see the module).

    With ``limit``, the result is cut to at most ``limit`` characters, the last being ``…``.
    ``keep`` names characters to leave as they are (a newline in a multi-line message).
    Text that is already safe (the common case) is returned as it is.
    """
    if limit is not None and len(text) > limit:
        text = text[: limit + 1]  # escaping only lengthens: the rest could not be shown
    if not is_safe(text):
        text = "".join(_escape_char(ch) if _unsafe(ch) and ch not in keep else ch for ch in text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + ELLIPSIS
    return text


def escape_bytes(data: bytes, limit: int | None = None) -> str:
    """Bytes from outside as safe text: UTF-8 where valid, ``\\xNN`` for each invalid byte."""
    if limit is not None:
        data = data[: limit * 4 + 4]  # no more than ``limit`` characters are kept anyway
    return escape(data.decode("utf-8", "backslashreplace"), limit)
