"""Text PostgreSQL can store: no NUL character, no lone UTF-16 surrogate.

PostgreSQL's ``text`` cannot hold U+0000 and its ``jsonb`` refuses the JSON escapes ``\\u0000``
and unpaired ``\\ud800``..``\\udfff``, although Python's JSON reader accepts all of them.  Such a
character is kept as the six characters of its JSON escape (``\\u0000``, ``\\udc80``): visible,
and the rest of the string (and of the message) is stored unchanged.  The escaped form reads
the same as a string that spelled those six characters itself; the counter
``escaped_total`` says how often it happened.
"""

from __future__ import annotations

import re
from typing import Any, Final

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def storable(text: str) -> str:
    """``text`` with each NUL and lone surrogate replaced by its JSON escape, as six
    characters (``text`` itself when it has none)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(_escape, text)


def storable_tree(value: Any) -> Any:
    """A JSON value (dicts, lists, strings, numbers) with ``storable`` applied to every string
    and object key.  Shares unchanged parts with ``value``."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(k): storable_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_tree(v) for v in value]
    return value


def has_unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None
