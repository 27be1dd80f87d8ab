"""The routing tables of the parser registry, built from its parsers in one pure function.

``build_index`` orders the parsers by ``priority`` (highest first, ties in registration order)
and maps company ids, service-data UUIDs, advertised service UUIDs and manufacturer-data
signatures to the parsers that claim them, each tuple in asking order; every name pattern
becomes one group of a single compiled alternation.  ``instantiate`` checks that an object is
a parser before it is registered.  The registry (``bt_mqtt.parsers.registry``) owns the
result and routes with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from attrs import define

from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.parsers.api import Parser


@define(slots=True, frozen=True)
class RoutingIndex:
    """The tables ``build_index`` makes; ``signatures`` holds ``(start, end, prefix table)``."""

    rank: dict[str, int]
    merging: frozenset[str]
    by_company: dict[int, tuple[Parser, ...]]
    by_uuid: dict[str, tuple[Parser, ...]]
    by_advertised: dict[str, tuple[Parser, ...]]
    signatures: tuple[tuple[int, int, dict[bytes, tuple[Parser, ...]]], ...]
    name_re: re.Pattern[str] | None
    name_groups: dict[str, Parser]


def instantiate(obj: Any) -> Parser:
    """``obj`` (a parser class is called without arguments) checked to be a usable parser."""
    parser = obj() if isinstance(obj, type) else obj
    for attr in ("name", "company_ids", "service_uuids", "name_patterns", "parse"):
        if not hasattr(parser, attr):
            raise TypeError(f"{obj!r} is not a parser: it has no {attr!r}")
    if not isinstance(parser.name, str) or not parser.name:
        raise TypeError(f"{obj!r} has no usable name")
    for offset, prefix in getattr(parser, "manufacturer_signatures", ()):
        if not isinstance(offset, int) or offset < 0 or not isinstance(prefix, bytes) or not prefix:
            raise TypeError(f"{obj!r}: bad manufacturer signature {(offset, prefix)!r}")
    return parser  # type: ignore[no-any-return]


def flatten(obj: Any) -> list[Any]:
    """An entry point's value as a list (it may name one parser or a list of them)."""
    if isinstance(obj, list | tuple):
        return list(obj)
    return [obj]


def build_index(parsers: Iterable[Parser]) -> RoutingIndex:
    """The routing tables for ``parsers`` (given in registration order)."""
    listed = list(parsers)
    ordered = sorted(enumerate(listed), key=lambda ip: (-getattr(ip[1], "priority", 0), ip[0]))
    rank = {parser.name: rank for rank, (_, parser) in enumerate(ordered)}
    merging = frozenset(p.name for p in listed if getattr(p, "merges", 0))
    by_company: dict[int, list[Parser]] = {}
    by_uuid: dict[str, list[Parser]] = {}
    by_advertised: dict[str, list[Parser]] = {}
    sigs: dict[tuple[int, int], dict[bytes, list[Parser]]] = {}
    alternatives: list[str] = []
    groups: dict[str, Parser] = {}
    for i, (_, parser) in enumerate(ordered):  # lists come out in asking order
        for cid in parser.company_ids:
            by_company.setdefault(int(cid), []).append(parser)
        for uuid in parser.service_uuids:
            by_uuid.setdefault(uuid128(uuid), []).append(parser)
        for uuid in getattr(parser, "advertised_uuids", ()):
            by_advertised.setdefault(uuid128(uuid), []).append(parser)
        for offset, prefix in getattr(parser, "manufacturer_signatures", ()):
            table = sigs.setdefault((offset, len(prefix)), {})
            table.setdefault(bytes(prefix), []).append(parser)
        for j, pattern in enumerate(parser.name_patterns):
            group = f"p{i}_{j}"
            groups[group] = parser
            alternatives.append(f"(?P<{group}>{pattern})")
    return RoutingIndex(
        rank=rank,
        merging=merging,
        by_company={k: tuple(dict.fromkeys(v)) for k, v in by_company.items()},
        by_uuid={k: tuple(dict.fromkeys(v)) for k, v in by_uuid.items()},
        by_advertised={k: tuple(dict.fromkeys(v)) for k, v in by_advertised.items()},
        signatures=tuple(
            (off, off + ln, {k: tuple(dict.fromkeys(v)) for k, v in table.items()})
            for (off, ln), table in sigs.items()
        ),
        name_re=re.compile("|".join(alternatives)) if alternatives else None,
        name_groups=groups,
    )
