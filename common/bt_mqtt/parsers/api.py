"""The parser contract: pure functions from an ``Advert`` to readings and device facts.

A parser declares what it can claim (company ids, service-data UUIDs, name patterns) so the
registry can route through an index instead of asking every parser.  ``parse`` does no I/O; any
state a format needs (BTHome packet ids, encryption counters, bind keys) lives in the
``ParseContext`` passed in.  A parser returns ``None`` when the advertisement is not its format,
and raises ``ParseError`` (or any exception: the registry counts it) when it is its format but
cannot be decoded.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from attrs import define, field

from bt_mqtt.core.advert import Advert


class ParseError(ValueError):
    """The advertisement is this parser's format but cannot be decoded (truncated, bad key...)."""


class DecryptionError(ParseError):
    """An encrypted frame that the known key does not open, or with no key known."""


@define(slots=True)
class ParseResult:
    """What one parser made of one advertisement.

    ``readings`` maps snake_case metric names with unit suffix (``temperature_c``) to numbers.
    ``facts`` holds device facts: ``manufacturer``, ``model``, identity such as an iBeacon's
    ``uuid``/``major``/``minor``, firmware, flags — JSON-serialisable values only.
    """

    parser: str
    readings: dict[str, float] = field(factory=dict)
    facts: dict[str, Any] = field(factory=dict)

    def add_event(self, kind: str, event: str, **extra: Any) -> None:
        """Record a momentary event (button press, dimmer turn) in ``facts["events"]``.

        Each event is ``{"type": kind, "event": event, **extra}``: e.g. ``{"type": "button",
        "event": "press", "index": 0}`` or ``{"type": "dimmer", "event": "rotate_left",
        "steps": 3}``.
        """
        ev: dict[str, Any] = {"type": kind, "event": event}
        ev.update(extra)
        self.facts.setdefault("events", []).append(ev)


@define(slots=True)
class ParseContext:
    """State passed to parsers: bind keys by MAC (upper case) and per-parser scratch state."""

    bindkeys: dict[str, bytes] = field(factory=dict)
    state: dict[str, dict[str, Any]] = field(factory=dict)

    def state_for(self, parser: str) -> dict[str, Any]:
        """The mutable state dict that belongs to one parser."""
        try:
            return self.state[parser]
        except KeyError:
            st: dict[str, Any] = {}
            self.state[parser] = st
            return st


class Parser(Protocol):
    """What a parser module or plugin provides.

    ``name`` is unique among registered parsers (it is stored with every reading).
    ``company_ids`` are 16-bit manufacturer ids, ``service_uuids`` service-data UUIDs (128-bit
    lower case, or 16-bit short forms which the registry expands), ``name_patterns`` regular
    expressions matched with ``re.match`` against the local name.  A parser is asked only when
    the advertisement carries one of these.  An optional integer class attribute ``priority``
    (default 0; higher is asked first) settles adverts that carry several formats.
    """

    name: ClassVar[str]
    company_ids: ClassVar[tuple[int, ...]]
    service_uuids: ClassVar[tuple[str, ...]]
    name_patterns: ClassVar[tuple[str, ...]]

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode ``advert`` or return None if it is not this parser's format."""
        ...
