"""Text from outside made safe to write to a terminal.

``escape`` writes every character Python does not consider printable (C0 and C1 controls such
as ESC, BEL and CR, DEL, bidirectional and other format characters, line and paragraph
separators, lone surrogates, unassigned code points) as a visible ``\\xNN``/``\\uNNNN``/
``\\UNNNNNNNN`` escape, so no escape sequence, cursor movement or hidden text from a BLE name or
an MQTT payload reaches a terminal; ``keep`` names characters to leave alone (e.g. newline in a
multi-line message).  Pure.

(Another module, ``bt_mqtt.core.safetext``, does this and Textual markup for the console; the
two are meant to be merged.)
"""

from __future__ import annotations


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str, keep: str = "") -> str:
    """``text`` with every non-printable character (except those in ``keep``) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else _escape_char(ch) for ch in text)
