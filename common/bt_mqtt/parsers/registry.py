"""The parser registry: routes an advertisement to the parsers that can claim it, never raises.

Routing goes through an index built once: company id, service-data UUID and advertised
service UUID (an optional ``advertised_uuids`` parser attribute) each map to parsers, and one
compiled alternation matches every name pattern.  Only the parsers the index names are asked,
highest ``priority`` first (an optional integer class attribute, default 0; ties keep
registration order).  When none of them returns a result, the parsers that declare
``manufacturer_signatures`` (``(offset, bytes)`` pairs; AltBeacon's 0xBEAC, Govee meat
probes) are looked up by the bytes at those offsets of each manufacturer-data entry: a second
index, for formats that any company id may carry.  No parser is ever asked because of history:
``claims`` (MAC -> primary parser) is a record for people, not a routing input, so the same
advertisement with the same ``ParseContext`` state gives the same answer every time.

Merging: the first result (in the order above) is the primary: its ``parser`` name, readings
and facts stand.  A sensor parser knows its device, so its result is final and the remaining
candidates are not asked.  A beacon parser (class attribute ``merges = True``; iBeacon,
AltBeacon and Eddystone, which also rank below sensors with ``priority = -1``) describes one
frame of an advertisement that may carry several: the remaining candidates are asked too, and
their results add the readings and facts the primary lacks (an Eddystone-TLM frame beside an
iBeacon adds battery voltage and temperature); their names go to ``facts["merged_from"]``.

Last resort: an optional ``last_resort`` parser (the TheengsDecoder adapter,
``Registry.default(theengs=True)``) is asked once, after both indexes, only for an
advertisement that no parser claimed (no result and no failure); its result is the primary and
its failures are counted like any parser's.  It keeps a negative cache of its own (see
``bt_mqtt.parsers.theengs``): the one place where history changes an answer, bounded by its
re-check.

Everything that goes wrong is counted in ``Registry.stats`` (see ``RegistryStats``): an exception
from a parser is a parse error under its name (the last error is kept), a ``DecryptionError`` a
decryption failure.  Each advertisement is counted once as ``decoded``, ``failed`` (no result,
at least one failure) or ``unknown`` (nobody claimed it).

Used by the subscriber, the console and ``bt-mqtt decode``: keep this API stable.
The records (``RegistryStats``, ``Outcome``, ...) are defined in ``registry_types`` and the
routing tables built by ``registry_index``; import them from here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import DecryptionError, ParseContext, Parser, ParseResult
from bt_mqtt.parsers.registry_index import build_index, flatten, instantiate
from bt_mqtt.parsers.registry_types import LastError, Outcome, PluginProblem, RegistryStats

log = logging.getLogger(__name__)

__all__ = [  # the records are part of this module's API (defined in registry_types)
    "DEFAULT_MAX_CLAIMS",
    "ENTRY_POINT_GROUP",
    "ERROR_TEXT_MAX",
    "LastError",
    "Outcome",
    "PluginProblem",
    "Registry",
    "RegistryStats",
]

ENTRY_POINT_GROUP: Final = "bt_mqtt.parsers"
DEFAULT_MAX_CLAIMS: Final = 10_000
ERROR_TEXT_MAX: Final = 300
_NO_PARSERS: Final[tuple[Parser, ...]] = ()


def _merge(primary: ParseResult, extra: ParseResult) -> None:
    """Add ``extra``'s readings and facts that ``primary`` lacks (the primary wins).

    New dicts are built: a parser may hand out dicts it keeps (constant facts).
    """
    primary.readings = {**extra.readings, **primary.readings}
    merged = [*primary.facts.get("merged_from", ()), extra.parser]
    primary.facts = {**extra.facts, **primary.facts, "merged_from": merged}


class Registry:
    """An index of parsers and the counters of what they did.

    ``Registry(parsers)`` takes parser instances or classes (classes are instantiated without
    arguments); names must be unique.  ``parse`` and ``decode`` never raise.
    """

    def __init__(
        self,
        parsers: Iterable[Any],
        *,
        max_claims: int = DEFAULT_MAX_CLAIMS,
        last_resort: Parser | None = None,
    ) -> None:
        self.parsers: dict[str, Parser] = {}
        self.last_resort = last_resort
        self.stats = RegistryStats()
        self.plugin_problems: list[PluginProblem] = []
        self.claims: dict[str, str] = {}
        self._max_claims = max_claims
        self._by_company: dict[int, tuple[Parser, ...]] = {}
        self._by_uuid: dict[str, tuple[Parser, ...]] = {}
        self._by_advertised: dict[str, tuple[Parser, ...]] = {}
        self._signatures: tuple[tuple[int, int, dict[bytes, tuple[Parser, ...]]], ...] = ()
        self._name_re: re.Pattern[str] | None = None
        self._name_groups: dict[str, Parser] = {}
        self._rank: dict[str, int] = {}
        self._merging: frozenset[str] = frozenset()
        for obj in parsers:
            self.add(obj)

    @classmethod
    def default(cls, *, plugins: bool = True, theengs: bool = False) -> Registry:
        """The built-in parsers plus, if ``plugins``, those of the ``bt_mqtt.parsers`` group.

        ``theengs`` adds the TheengsDecoder adapter as the last resort; it imports the optional
        GPL-3.0 package and raises ``bt_mqtt.parsers.theengs.TheengsUnavailable`` (whose
        message gives the install command) when it is missing.
        """
        from bt_mqtt.parsers.builtin import BUILTIN  # noqa: PLC0415 - avoids an import cycle

        last_resort: Parser | None = None
        if theengs:
            from bt_mqtt.parsers.theengs import TheengsParser  # noqa: PLC0415 - optional, GPL

            last_resort = TheengsParser()
        reg = cls(BUILTIN, last_resort=last_resort)
        if plugins:
            reg.load_plugins()
        return reg

    # -- building the index -------------------------------------------------------------

    def add(self, obj: Any) -> Parser:
        """Register one parser (instance or class) and rebuild the index."""
        parser = instantiate(obj)
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
                for obj in flatten(ep.load()):
                    added.append(self.add(obj).name)
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
                self.plugin_problems.append(PluginProblem(f"{ep.name} = {ep.value}", text))
                log.warning("parser plugin %s (%s) not loaded: %s", ep.name, ep.value, text)
        return added

    def _rebuild(self) -> None:
        index = build_index(self.parsers.values())
        self._rank = index.rank
        self._merging = index.merging
        self._by_company = index.by_company
        self._by_uuid = index.by_uuid
        self._by_advertised = index.by_advertised
        self._signatures = index.signatures
        self._name_re = index.name_re
        self._name_groups = index.name_groups

    # -- routing ------------------------------------------------------------------------

    def candidates(self, advert: Advert) -> list[Parser]:
        """The parsers the primary index names for ``advert``, in the order they are asked."""
        found: list[Parser] = []
        if advert.service_data:
            by_uuid = self._by_uuid
            for uuid in advert.service_data:
                hit = by_uuid.get(uuid)
                if hit is not None:
                    found.extend(hit)
        if advert.manufacturer_data:
            by_company = self._by_company
            for cid in advert.manufacturer_data:
                hit = by_company.get(cid)
                if hit is not None:
                    found.extend(hit)
        if advert.service_uuids and self._by_advertised:
            by_adv = self._by_advertised
            for uuid in advert.service_uuids:
                hit = by_adv.get(uuid)
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

    def signature_candidates(self, advert: Advert) -> list[Parser]:
        """Parsers whose manufacturer-data signature ``advert`` carries (the fallback index)."""
        found: list[Parser] = []
        for data in advert.manufacturer_data.values():
            for start, end, table in self._signatures:
                hit = table.get(data[start:end])
                if hit is not None:
                    found.extend(hit)
        if len(found) > 1:
            rank = self._rank
            found = sorted(set(found), key=lambda p: rank[p.name])
        return found

    # -- asking -------------------------------------------------------------------------

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Readings and facts for ``advert``, or ``None`` (unknown, or failed and counted)."""
        try:
            candidates = self.candidates(advert)
        except Exception:
            return self.decode(advert, ctx).result  # counts and explains the failure
        if len(candidates) == 1:  # the hot path: one parser, no failure
            parser = candidates[0]
            name = parser.name
            try:
                result = parser.parse(advert, ctx)
            except Exception as exc:
                return self._ask(
                    advert, ctx, candidates, 1, None, self._failure(parser, advert, exc)
                ).result
            if result is None:
                return self._ask(advert, ctx, candidates, 1, None, None).result
            stats = self.stats
            hits = stats.hits
            hits[name] = hits.get(name, 0) + 1
            if name in self._merging:  # a beacon: other frames may follow (none routed here)
                return self._ask(advert, ctx, candidates, 1, result, None).result
            stats.adverts += 1
            stats.decoded += 1
            if self.claims.get(advert.mac) != name:
                self._claim(advert.mac, name)
            return result
        return self._ask(advert, ctx, candidates, 0, None, None).result

    def decode(self, advert: Advert, ctx: ParseContext) -> Outcome:
        """Like ``parse``, also saying who claimed the advertisement and why it failed."""
        try:
            candidates = self.candidates(advert)
        except Exception as exc:  # a malformed Advert built by hand
            self.stats.adverts += 1
            self.stats.unknown += 1
            return Outcome(None, None, f"routing failed: {type(exc).__name__}: {exc}")
        return self._ask(advert, ctx, candidates, 0, None, None)

    def _ask(
        self,
        advert: Advert,
        ctx: ParseContext,
        candidates: list[Parser],
        start: int,
        primary: ParseResult | None,
        failure: Outcome | None,
        fallback: bool = True,
    ) -> Outcome:
        """Ask ``candidates[start:]`` (then, once, the signature index), merge, count once."""
        stats = self.stats
        hits = stats.hits
        for parser in candidates[start:]:
            try:
                result = parser.parse(advert, ctx)
            except Exception as exc:
                fail = self._failure(parser, advert, exc)
                failure = failure or fail
                continue
            if result is None:
                continue
            hits[parser.name] = hits.get(parser.name, 0) + 1
            if primary is None:
                primary = result
                if parser.name not in self._merging:
                    break
            else:
                _merge(primary, result)
        if (
            fallback
            and primary is None
            and failure is None
            and self._signatures
            and advert.manufacturer_data
        ):
            try:
                more = self.signature_candidates(advert)
            except Exception:
                more = []
            if more:
                return self._ask(advert, ctx, more, 0, None, None, fallback=False)
        if primary is None and failure is None and self.last_resort is not None:
            last = self.last_resort
            try:
                primary = last.parse(advert, ctx)
            except Exception as exc:
                failure = self._failure(last, advert, exc)
            else:
                if primary is not None:
                    hits[primary.parser] = hits.get(primary.parser, 0) + 1
        stats.adverts += 1
        if primary is not None:
            stats.decoded += 1
            self._claim(advert.mac, primary.parser)
            return Outcome(primary.parser, primary)
        if failure is not None:
            stats.failed += 1
            return failure
        stats.unknown += 1
        return Outcome(None, None)

    def _failure(self, parser: Parser, advert: Advert, exc: Exception) -> Outcome:
        """Count one parser's failure; the Outcome that reports it."""
        name = parser.name
        stats = self.stats
        if isinstance(exc, DecryptionError):
            self._failed(stats.decrypt_failures, name, advert.mac, "decrypt", exc)
            return Outcome(name, None, f"decryption failed: {exc}", decrypt_failed=True)
        self._failed(stats.errors, name, advert.mac, "parse", exc)
        return Outcome(name, None, f"{type(exc).__name__}: {exc}")

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
