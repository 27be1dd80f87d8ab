"""Compiled BTHome v2 frame layouts: one struct unpack and one dict display per frame.

A device sends the same objects in the same order in every frame, so the layout (which object
ids at which offsets) repeats while the values change.  The first time a layout is decoded by
``bthome.decode_objects``'s general loop, ``learn`` compiles it - if every object is a
fixed-size number, binary state or fact whose struct format is known and no metric repeats -
into a ``Layout``: the offsets of the id bytes (checked with one ``itemgetter`` call), one
``Struct`` for all values, and a generated function that builds the readings with the same
arithmetic as the general loop (``raw / 10**n``, ``raw``, ``1 if raw else 0``).  ``lookup``
finds the layout for a frame by (start, length, first id) and returns it only if every id byte
matches.  Anything else (events, text, 24-bit values, repeats, unknown ids) stays on the
general path.  Caches are bounded; ``clear`` empties them (tests).
"""

from __future__ import annotations

import logging
from operator import itemgetter
from struct import Struct
from typing import Any, Final

log = logging.getLogger(__name__)

MAX_LAYOUTS: Final = 512
_FMT_CHAR: Final = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
                    (4, False): "I", (4, True): "i"}  # fmt: skip

Builder = Any  # (data, facts) -> readings dict


class Layout:
    """One compiled frame layout (see the module docstring)."""

    __slots__ = ("build", "ids", "ids_at")

    def __init__(self, ids_at: Any, ids: Any, build: Builder) -> None:
        self.ids_at = ids_at
        self.ids = ids
        self.build = build


_layouts: dict[tuple[int, int, int], list[Layout]] = {}
_tried: set[tuple[int, ...]] = set()


def clear() -> None:
    """Forget every compiled layout."""
    _layouts.clear()
    _tried.clear()


def lookup(data: bytes, pos: int) -> Layout | None:
    """The compiled layout of ``data[pos:]``, if one was learnt and every id byte matches."""
    cands = _layouts.get((pos, len(data), data[pos]))
    if cands is not None:
        for lay in cands:
            if lay.ids_at(data) == lay.ids:
                return lay
    return None


def learn(
    data: bytes, pos: int, objects: dict[int, tuple[Any, ...]], kinds: tuple[int, ...]
) -> None:
    """Compile the layout of ``data[pos:]`` if it qualifies (``objects`` = ``bthome.OBJECTS``;
    ``kinds`` = the NUM, BIN and FACT kind numbers)."""
    num, binary, fact = kinds
    plan: list[tuple[int, str, str, int, int]] = []  # (id pos, fmt, key, kind, divisor)
    end = len(data)
    i = pos
    while i < end:
        obj = objects.get(data[i])
        if obj is None:
            return
        name, size, st, signed, factor, kind, _, _, nd = obj
        if st is None or kind not in (num, binary, fact) or (size, signed) not in _FMT_CHAR:
            return
        div = 0
        if kind == num and factor != 1.0:
            div = 10**nd
            if abs(factor * div - 1.0) > 1e-12:
                return
        plan.append((i, _FMT_CHAR[(size, signed)], name, kind, div))
        i += 1 + size
    if i != end or not plan:
        return
    ids = tuple(data[p] for p, *_ in plan)
    if ids in _tried:
        return
    if len(_tried) >= MAX_LAYOUTS:
        _tried.clear()
    _tried.add(ids)
    keys = [key for _, _, key, kind, _ in plan if kind != fact]
    if len(set(keys)) != len(keys):
        return  # a repeated metric gets numbered names: the general path does that
    _store(pos, end, plan, ids, fact, binary)


def _store(
    pos: int, end: int, plan: list[tuple[int, str, str, int, int]], ids: tuple[int, ...],
    fact: int, binary: int,
) -> None:  # fmt: skip
    st = Struct("<" + "".join("x" + fmt for _, fmt, _, _, _ in plan))
    items, facts = [], []
    for n, (_, _, key, kind, div) in enumerate(plan):
        if kind == fact:
            facts.append(f"    facts[{key!r}] = v[{n}]")
        elif kind == binary:
            items.append(f"{key!r}: 1 if v[{n}] else 0")
        else:
            items.append(f"{key!r}: v[{n}] / {div}" if div else f"{key!r}: v[{n}]")
    src = "\n".join(
        [
            "def build(data, facts):",
            f"    v = unpack(data, {pos})",
            *facts,
            "    return {" + ", ".join(items) + "}",
        ]
    )
    scope: dict[str, Any] = {"unpack": st.unpack_from}
    exec(compile(src, "<bthome layout>", "exec"), scope)  # noqa: S102 - our own table's names
    positions = [p for p, *_ in plan]
    ids_at = itemgetter(*positions)
    want: Any = ids if len(ids) > 1 else ids[0]
    if len(_layouts) >= MAX_LAYOUTS:
        _layouts.clear()
    _layouts.setdefault((pos, end, ids[0]), []).append(Layout(ids_at, want, scope["build"]))
