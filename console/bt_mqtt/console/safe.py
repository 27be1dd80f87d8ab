"""The one home of the console's rule for outside text: escaped, and never parsed as markup.

Names, data, topics, payloads and heartbeat values come from anyone in radio range or on the
broker.  Everything the console draws from them passes through here:

- ``clean`` turns any value into text with every control, format or separator character
  written as a visible escape (``bt_mqtt.core.safetext``), so nothing reaches the terminal as
  a control sequence; ``RowTable`` cleans every cell it draws.
- ``text`` and ``assemble`` build Rich ``Text`` from cleaned parts.  ``Text`` is never parsed as
  markup, so ``[@click=app.quit]`` or ``[link=...]`` in a name is drawn as those characters.
  Statics that show outside data are created with ``markup=False`` and given only these.
- ``brief`` shows a JSON value (a heartbeat field, an unknown advert field) compactly, with a
  bounded length and without recursion, however deeply it is nested; ``value`` shows a
  single value for a table cell (a string without quotes).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable
from typing import Any, Final

from rich.text import Text

from bt_mqtt.core.safetext import ELLIPSIS, escape

log = logging.getLogger(__name__)

BRIEF_LIMIT: Final = 200


def clean(value: object, limit: int | None = None) -> str:
    """``value`` (``str`` of it) as text that is safe to draw; cut to ``limit`` characters."""
    return escape(value if isinstance(value, str) else str(value), limit)


def text(value: object, style: str = "", limit: int | None = None) -> Text:
    """A ``Text`` showing ``value`` cleaned, literally (no markup), in one of our ``style``s."""
    return Text(clean(value, limit), style=style)


def assemble(*parts: object | tuple[object, str]) -> Text:
    """A ``Text`` of cleaned parts; a part is a value or a ``(value, style)`` pair."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            out.append(clean(value), style)
        else:
            out.append(clean(part))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        digits = len(str(abs(value))) if value.bit_length() < 4000 else None
        return str(value) if digits is not None and digits <= 40 else "(huge integer)"
    return str(value)  # floats, and our own values (a datetime from the database)


def value(item: Any, limit: int = BRIEF_LIMIT) -> str:
    """A value for a table cell: a string as it is and a float, ``True`` or ``None`` as Python
    writes them (cleaned); containers and integers ``brief``."""
    if isinstance(item, str | bool | float) or item is None:
        return clean(item, limit)
    return brief(item, limit)


def brief(value: Any, limit: int = BRIEF_LIMIT) -> str:
    """A JSON-like rendering of ``value``, cleaned, at most ``limit`` characters (no recursion)."""
    out: list[str] = []
    size = 0
    # A stack of pending items: either literal text or a value still to render.
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack and size <= limit:
        literal, item = stack.pop()
        if literal:
            piece = item
        elif isinstance(item, dict | list | tuple):
            # Each entry costs at least one character, so more than ``limit`` cannot show.
            is_dict = isinstance(item, dict)
            source: Iterable[Any] = item.items() if isinstance(item, dict) else item
            entries = list(itertools.islice(source, limit + 1))
            piece = "{" if is_dict else "["
            stack.append((True, "}" if is_dict else "]"))
            if len(entries) > limit:
                stack.append((True, ELLIPSIS))
            for i, entry in enumerate(reversed(entries)):
                if is_dict:
                    stack.append((False, entry[1]))
                    stack.append((True, _scalar(str(entry[0])) + ": "))
                else:
                    stack.append((False, entry))
                if i < len(entries) - 1:
                    stack.append((True, ", "))
        else:
            piece = _scalar(item)
        out.append(piece)
        size += len(piece)
    shown = "".join(out)
    if stack:
        shown += ELLIPSIS
    return clean(shown, limit)
