"""Values in PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL, backslash escapes).

Only what the ingest rows need: text, booleans, floats and aware datetimes.  Text must still be
checked for NUL characters by the caller (COPY cannot carry them at all).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Final

NULL: Final = "\\N"
# the shape of the agent's own timestamps, e.g. 2026-11-27T07:49:52.123Z
_CANONICAL_TS: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
)


def esc(text: str) -> str:
    """``text`` with backslash, tab, newline and carriage return escaped."""
    if "\\" not in text and "\t" not in text and "\n" not in text and "\r" not in text:
        return text  # four scans in C beat one regex search on the typical short or clean text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def unescape(field: str) -> str:
    """The inverse of ``esc`` (for the rare path that reads rows back)."""
    if "\\" not in field:
        return field
    out: list[str] = []
    it = iter(field)
    for ch in it:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(it, "")
        out.append({"t": "\t", "n": "\n", "r": "\r"}.get(nxt, nxt))
    return "".join(out)


def fmt_bool(value: bool) -> str:
    return "t" if value else "f"


def fmt_float(value: float) -> str:
    """A finite float as PostgreSQL reads it back exactly."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(value)


def fmt_time(when: datetime) -> str:
    """An aware datetime in ISO 8601 with its offset (``timestamptz`` input)."""
    return when.isoformat()


def fmt_ts(ts: str, when: datetime) -> str:
    """``ts`` itself when it has the agent's canonical shape (PostgreSQL reads it as the same
    instant as ``when``, which is ``ts`` parsed), else ``when`` formatted."""
    if len(ts) == 24 and _CANONICAL_TS.fullmatch(ts) is not None:
        return ts
    return when.isoformat()
