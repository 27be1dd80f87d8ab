"""The parser registry: routes an advertisement to the parsers that can claim it, never raises.

Routing goes through an index built once: company id -> parsers, service-data UUID -> parsers,
and one compiled alternation of every name pattern.  Only the parsers the index names are asked,
highest ``priority`` first (an optional integer class attribute, default 0; ties keep
registration order), so an advertisement carrying two formats (BTHome next to a legacy ATC
frame) decodes the same way every time.  The first non-``None`` answer wins.

Everything that goes wrong is counted in ``Registry.stats`` (see ``RegistryStats``): an exception
from a parser is a parse error under its name (no readings; the last error is kept), a
``DecryptionError`` a decryption failure, and an advertisement no parser claims is unknown.

Used by the subscriber, the console and ``bt-mqtt decode``: keep this API stable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any, Final

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import DecryptionError, ParseContext, Parser, ParseResult, uuid128

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP: Final = "bt_mqtt.parsers"
DEFAULT_MAX_CLAIMS: Final = 10_000
ERROR_TEXT_MAX: Final = 300


@define(slots=True)
class LastError:
    """The most recent failure of one parser, for a person to inspect."""

    mac: str
    kind: str  # "parse" or "decrypt"
    error: str


@define(slots=True)
class RegistryStats:
    """Counters since the registry was built.  Plain dicts keyed by parser name."""

    adverts: int = 0
    unknown: int = 0
    hits: dict[str, int] = field(factory=dict)
    errors: dict[str, int] = field(factory=dict)
    decrypt_failures: dict[str, int] = field(factory=dict)
    last_error: dict[str, LastError] = field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for the console, logs and metrics)."""
        return {
            "adverts": self.adverts,
            "unknown": self.unknown,
            "hits": dict(self.hits),
            "errors": dict(self.errors),
            "decrypt_failures": dict(self.decrypt_failures),
            "last_error": {
                k: {"mac": v.mac, "kind": v.kind, "error": v.error}
                for k, v in self.last_error.items()
            },
        }


@define(slots=True)
class Outcome:
    """What happened to one advertisement: who claimed it, the result, or why it failed.

    ``parser`` is the claiming parser's name (also when it failed); ``error`` is ``None`` on
    success, else a short text; ``decrypt_failed`` marks a ``DecryptionError``.
    """

    parser: str | None
    result: ParseResult | None
    error: str | None = None
    decrypt_failed: bool = False


@define(slots=True)
class PluginProblem:
    """An entry point that could not be loaded or registered."""

    entry_point: str
    error: str


def _instantiate(obj: Any) -> Parser:
    parser = obj() if isinstance(obj, type) else obj
    for attr in ("name", "company_ids", "service_uuids", "name_patterns", "parse"):
        if not hasattr(parser, attr):
            raise TypeError(f"{obj!r} is not a parser: it has no {attr!r}")
    if not isinstance(parser.name, str) or not parser.name:
        raise TypeError(f"{obj!r} has no usable name")
    return parser  # type: ignore[no-any-return]


def _flatten(obj: Any) -> list[Any]:
    if isinstance(obj, list | tuple):
        return list(obj)
    return [obj]


class Registry:
    """An index of parsers and the counters of what they did.

    ``Registry(parsers)`` takes parser instances or classes (classes are instantiated without
    arguments); names must be unique.  ``parse`` never raises.
    """

    def __init__(self, parsers: Iterable[Any], *, max_claims: int = DEFAULT_MAX_CLAIMS) -> None:
        self.parsers: dict[str, Parser] = {}
        self.stats = RegistryStats()
        self.plugin_problems: list[PluginProblem] = []
        self.claims: dict[str, str] = {}
        self._max_claims = max_claims
        self._by_company: dict[int, tuple[Parser, ...]] = {}
        self._by_uuid: dict[str, tuple[Parser, ...]] = {}
        self._name_re: re.Pattern[str] | None = None
        self._name_groups: dict[str, Parser] = {}
        self._rank: dict[str, int] = {}
        for obj in parsers:
            self.add(obj)

    @classmethod
    def default(cls, *, plugins: bool = True) -> Registry:
        """The built-in parsers plus, if ``plugins``, those of the ``bt_mqtt.parsers`` group."""
        from bt_mqtt.parsers.builtin import BUILTIN  # noqa: PLC0415 - avoids an import cycle

        reg = cls(BUILTIN)
        if plugins:
            reg.load_plugins()
        return reg

    # -- building the index -------------------------------------------------------------

    def add(self, obj: Any) -> Parser:
        """Register one parser (instance or class) and rebuild the index."""
        parser = _instantiate(obj)
        if parser.name in self.parsers:
            raise ValueError(f"a parser named {parser.name!r} is already registered")
        for pattern in parser.name_patterns:
            re.compile(pattern)  # a bad pattern fails here, naming itself
        self.parsers[parser.name] = parser
        self._rebuild()
        return parser

    def load_plugins(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Load third-party parsers from an entry-point group; return the names added.

        An entry point may name a parser class, an instance, or a list of them.  One that
        fails to load or clashes is logged and kept in ``plugin_problems``; the rest load.
        """
        added: list[str] = []
        for ep in metadata.entry_points(group=group):
            try:
                for obj in _flatten(ep.load()):
                    added.append(self.add(obj).name)
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
                self.plugin_problems.append(PluginProblem(f"{ep.name} = {ep.value}", text))
                log.warning("parser plugin %s (%s) not loaded: %s", ep.name, ep.value, text)
        return added

    def _rebuild(self) -> None:
        by_company: dict[int, list[Parser]] = {}
        by_uuid: dict[str, list[Parser]] = {}
        alternatives: list[str] = []
        groups: dict[str, Parser] = {}
        ordered = sorted(
            enumerate(self.parsers.values()), key=lambda ip: (-getattr(ip[1], "priority", 0), ip[0])
        )
        self._rank = {parser.name: rank for rank, (_, parser) in enumerate(ordered)}
        for i, parser in enumerate(self.parsers.values()):
            for cid in parser.company_ids:
                by_company.setdefault(int(cid), []).append(parser)
            for uuid in parser.service_uuids:
                by_uuid.setdefault(uuid128(uuid), []).append(parser)
            for j, pattern in enumerate(parser.name_patterns):
                group = f"p{i}_{j}"
                groups[group] = parser
                alternatives.append(f"(?P<{group}>{pattern})")
        self._by_company = {k: tuple(v) for k, v in by_company.items()}
        self._by_uuid = {k: tuple(v) for k, v in by_uuid.items()}
        self._name_re = re.compile("|".join(alternatives)) if alternatives else None
        self._name_groups = groups

    # -- routing ------------------------------------------------------------------------

    def candidates(self, advert: Advert) -> list[Parser]:
        """The parsers the index names for ``advert``, in the order they are asked."""
        found: list[Parser] = []
        by_uuid = self._by_uuid
        for uuid in advert.service_data:
            hit = by_uuid.get(uuid)
            if hit is not None:
                found.extend(hit)
        by_company = self._by_company
        for cid in advert.manufacturer_data:
            hit = by_company.get(cid)
            if hit is not None:
                found.extend(hit)
        if advert.name and self._name_re is not None:
            m = self._name_re.match(advert.name)
            if m is not None and m.lastgroup is not None:
                found.append(self._name_groups[m.lastgroup])
        if len(found) > 1:
            rank = self._rank
            found = sorted(set(found), key=lambda p: rank[p.name])
        return found

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Readings and facts for ``advert``, or ``None`` (unknown, or failed and counted)."""
        # The hot path: the same logic as ``decode`` without building an Outcome.
        stats = self.stats
        try:
            candidates = self.candidates(advert)
        except Exception:
            return self.decode(advert, ctx).result  # counts and explains the failure
        for parser in candidates:
            try:
                result = parser.parse(advert, ctx)
            except Exception:  # counted (once) under decode's accounting
                return self._decode_one(parser, advert, ctx).result
            if result is not None:
                stats.adverts += 1
                hits = stats.hits
                hits[parser.name] = hits.get(parser.name, 0) + 1
                if self.claims.get(advert.mac) != parser.name:
                    self._claim(advert.mac, parser.name)
                return result
        stats.adverts += 1
        stats.unknown += 1
        return None

    def _decode_one(self, parser: Parser, advert: Advert, ctx: ParseContext) -> Outcome:
        """Run one parser again under ``decode``'s accounting (after it raised)."""
        self.stats.adverts += 1
        return self._attempt(parser, advert, ctx) or Outcome(None, None)

    def decode(self, advert: Advert, ctx: ParseContext) -> Outcome:
        """Like ``parse``, also saying who claimed the advertisement and why it failed."""
        stats = self.stats
        stats.adverts += 1
        try:
            candidates = self.candidates(advert)
        except Exception as exc:  # a malformed Advert built by hand
            stats.unknown += 1
            return Outcome(None, None, f"routing failed: {type(exc).__name__}: {exc}")
        for parser in candidates:
            outcome = self._attempt(parser, advert, ctx)
            if outcome is not None:
                return outcome
        stats.unknown += 1
        return Outcome(None, None)

    def _attempt(self, parser: Parser, advert: Advert, ctx: ParseContext) -> Outcome | None:
        """Ask one parser; count the hit or failure; None if it declines."""
        name = parser.name
        stats = self.stats
        try:
            result = parser.parse(advert, ctx)
        except DecryptionError as exc:
            self._failed(stats.decrypt_failures, name, advert.mac, "decrypt", exc)
            return Outcome(name, None, f"decryption failed: {exc}", decrypt_failed=True)
        except Exception as exc:
            self._failed(stats.errors, name, advert.mac, "parse", exc)
            return Outcome(name, None, f"{type(exc).__name__}: {exc}")
        if result is None:
            return None
        stats.hits[name] = stats.hits.get(name, 0) + 1
        self._claim(advert.mac, name)
        return Outcome(name, result)

    def _failed(
        self, counter: dict[str, int], name: str, mac: str, kind: str, exc: BaseException
    ) -> None:
        counter[name] = counter.get(name, 0) + 1
        text = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
        self.stats.last_error[name] = LastError(mac, kind, text)
        self._claim(mac, name)

    def _claim(self, mac: str, name: str) -> None:
        claims = self.claims
        if claims.get(mac) == name:
            return
        if mac not in claims and len(claims) >= self._max_claims:
            del claims[next(iter(claims))]  # oldest first: dicts keep insertion order
        claims[mac] = name
