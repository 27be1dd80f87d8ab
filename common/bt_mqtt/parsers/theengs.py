"""The optional last-resort parser: TheengsDecoder for the long tail of devices.

TheengsDecoder is GPL-3.0, so it is an optional extra (``pip install 'bt-mqtt[theengs]'``) and
is imported only when a ``TheengsParser`` is built, which happens only when the user enables it
(``parsers.theengs: true``, ``bt-mqtt decode --theengs``, ``Registry.default(theengs=True)``).
The registry asks it only when no built-in or plugin parser claimed an advertisement.

Contract: ``parse`` turns our ``Advert`` into the JSON object the decoder takes (``id``,
``name``, ``manufacturerdata`` = company id little-endian + data in hex, ``servicedata`` +
``servicedatauuid``; one call per manufacturer-data x service-data pair, at most
``MAX_CALLS``), maps the first answer that has readings (``theengs_map``) and names the result
``theengs:<model_id>``.  An answer with no readings (phones, trackers, beacons the decoder only
identifies) is not a claim.

Cost: the decoder tries every model it knows (about 1 ms per call), so negative answers are
cached by the advert's *shape* (``shape``): the local name, each manufacturer-data entry's
(company id, length, first byte), each service-data entry's (UUID, length, first byte) and the
advertised service UUIDs.  Payload values (counters, readings, rotating identifiers) past the
first byte are not in the key, so an unknown device whose payload changes stays cached; a new
device type differs in company id, UUID, length, frame-type byte or name and is asked.  The
MAC is not in the key either: a device with rotating random addresses stays cached.  The cache
is a bounded LRU (second chance: a hit costs no reordering).  A shape that has ever produced
readings is "live" (a bounded LRU too) and is never cached negative, so a device that
alternates decodable and undecodable frames of one shape keeps decoding.  A negative entry is
re-asked on its ``recheck_after``-th hit, so a shape wrongly cached (a frame type that differs
only past the first byte, first seen in an undecodable frame) heals.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import short_uuid
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.theengs_map import map_output

log = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'bt-mqtt[theengs]'"
MAX_CALLS: Final = 4
MODEL_ID_MAX: Final = 64
DEFAULT_CACHE_SIZE: Final = 4096
DEFAULT_LIVE_SIZE: Final = 1024
DEFAULT_RECHECK_AFTER: Final = 10_000

Shape = tuple[Any, ...]
DecodeFn = Callable[[str], Any]


class TheengsUnavailable(RuntimeError):
    """TheengsDecoder was enabled but cannot be imported; the message says how to install it."""


def load_decoder() -> tuple[DecodeFn, DecodeFn]:
    """Import TheengsDecoder: ``(decodeBLE, getProperties)``, or raise ``TheengsUnavailable``."""
    try:
        from TheengsDecoder import decodeBLE, getProperties  # noqa: PLC0415 - optional, GPL
    except (ImportError, OSError) as exc:
        raise TheengsUnavailable(
            f"TheengsDecoder is not installed ({type(exc).__name__}: {exc}); "
            f"install the optional extra with: {INSTALL_HINT}"
        ) from None
    return decodeBLE, getProperties


def shape(advert: Advert) -> Shape:
    """The negative-cache key: what the decoder's model conditions look at, minus values.

    One manufacturer-data or one service-data entry alone (the usual advert) gives a flat
    ``(name, id, length, first byte)``; anything else the general nested form.  The two forms
    never compare equal (an int or str id where the general form has a tuple).
    """
    md = advert.manufacturer_data
    sd = advert.service_data
    if not advert.service_uuids:
        if not sd and len(md) == 1:
            for cid, data in md.items():
                return (advert.name, cid, len(data), data[:1])
        if not md and len(sd) == 1:
            for uuid, data in sd.items():
                return (advert.name, uuid, len(data), data[:1])
    mds = tuple(sorted([(c, len(d), d[:1]) for c, d in md.items()]))
    sds = tuple(sorted([(u, len(d), d[:1]) for u, d in sd.items()]))
    return (advert.name, mds, sds, tuple(sorted(advert.service_uuids)))


def _uuid_text(uuid: str) -> str:
    """``0x181a`` for a UUID on the Bluetooth base, else the full 128-bit text."""
    short = short_uuid(uuid)
    return uuid if short is None else f"0x{short:04x}"


def requests(advert: Advert) -> list[str]:
    """The JSON texts to hand the decoder for ``advert`` (empty: nothing it could match)."""
    mfr: list[str | None] = [
        c.to_bytes(2, "little").hex() + d.hex() for c, d in advert.manufacturer_data.items()
    ]
    svc: list[tuple[str, str] | None] = [
        (d.hex(), _uuid_text(u)) for u, d in advert.service_data.items()
    ]
    if not mfr and not svc and not advert.name:
        return []
    out: list[str] = []
    for m in mfr or [None]:
        for s in svc or [None]:
            obj: dict[str, str] = {"id": advert.mac}
            if advert.name:
                obj["name"] = advert.name
            if m is not None:
                obj["manufacturerdata"] = m
            if s is not None:
                obj["servicedata"], obj["servicedatauuid"] = s
            out.append(json.dumps(obj, separators=(",", ":")))
            if len(out) >= MAX_CALLS:
                return out
    return out


class _Lru:
    """A bounded mapping, least recently used out first (second-chance approximation).

    Each value is ``[countdown, countdown when last swept]``; a hit only decrements the
    countdown (no reordering: the cached path stays cheap), and eviction gives an entry whose
    countdown moved since the last sweep a second chance at the young end, so entries in use
    stay and idle ones go, oldest first.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"cache size must be at least 1, not {size}")
        self.size = size
        self.data: OrderedDict[Shape, list[int]] = OrderedDict()

    def put(self, key: Shape, value: int) -> None:
        data = self.data
        data[key] = [value, value]
        data.move_to_end(key)
        while len(data) > self.size:
            oldest = next(iter(data))
            entry = data[oldest]
            if entry[0] != entry[1]:  # used since the last sweep: keep it, as the youngest
                entry[1] = entry[0]
                data.move_to_end(oldest)
            else:
                del data[oldest]


class TheengsParser:
    """The TheengsDecoder adapter (see the module docstring); ask via ``Registry.last_resort``.

    ``decode``/``properties`` default to TheengsDecoder's ``decodeBLE``/``getProperties``
    (imported here: ``TheengsUnavailable`` if missing).  ``recheck_after=0`` never re-asks a
    cached shape.  Counters: ``calls`` (adverts handed to the decoder), ``decoder_calls``,
    ``cache_hits``, ``rechecks``, ``identified_only`` (answers without readings).
    """

    name: ClassVar[str] = "theengs"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        decode: DecodeFn | None = None,
        properties: DecodeFn | None = None,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        live_size: int = DEFAULT_LIVE_SIZE,
        recheck_after: int = DEFAULT_RECHECK_AFTER,
    ) -> None:
        if decode is None or properties is None:
            real_decode, real_props = load_decoder()
            decode = decode or real_decode
            properties = properties or real_props
        if recheck_after < 0:
            raise ValueError(f"recheck_after must be >= 0, not {recheck_after}")
        self._decode: DecodeFn = decode
        self._properties: DecodeFn = properties
        self._negative = _Lru(cache_size)
        self._live = _Lru(live_size)
        self._recheck = recheck_after
        self._units: dict[str, dict[str, str]] = {}
        self.calls = 0
        self.decoder_calls = 0
        self.cache_hits = 0
        self.rechecks = 0
        self.identified_only = 0

    # -- the registry's entry point ------------------------------------------------------

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Readings from the decoder, ``None`` (cached or fresh negative); may raise."""
        key = shape(advert)
        neg = self._negative.data
        left = neg.get(key)
        if left is not None:
            left[0] -= 1  # hits until the next re-ask; negative: never
            if left[0]:
                self.cache_hits += 1
                return None
            del neg[key]
            self.rechecks += 1
        return self._ask(key, advert)

    def counters(self) -> dict[str, int]:
        """A JSON-ready copy of the counters and cache sizes."""
        return {
            "calls": self.calls,
            "decoder_calls": self.decoder_calls,
            "cache_hits": self.cache_hits,
            "rechecks": self.rechecks,
            "identified_only": self.identified_only,
            "negative_cached": len(self._negative.data),
            "live_shapes": len(self._live.data),
        }

    def is_cached(self, advert: Advert) -> bool:
        """Whether ``advert``'s shape is cached as negative (for tests and the console)."""
        return shape(advert) in self._negative.data

    # -- internals ----------------------------------------------------------------------

    def _ask(self, key: Shape, advert: Advert) -> ParseResult | None:
        self.calls += 1
        try:
            result = self._decode_advert(advert)
        except Exception:
            self._remember_negative(key)  # a shape that makes the decoder fail stays cheap
            raise
        if result is None:
            self._remember_negative(key)
            return None
        self._live.put(key, 1)
        return result

    def _remember_negative(self, key: Shape) -> None:
        if key not in self._live.data:
            self._negative.put(key, self._recheck or -1)

    def _decode_advert(self, advert: Advert) -> ParseResult | None:
        identified = False
        for text in requests(advert):
            self.decoder_calls += 1
            raw = self._decode(text)
            if raw is None:
                continue
            if not isinstance(raw, str):
                raise ParseError(f"decodeBLE returned {type(raw).__name__}, not JSON text")
            out = json.loads(raw)
            if not isinstance(out, dict):
                raise ParseError(f"decodeBLE returned JSON {type(out).__name__}, not an object")
            model_id = out.get("model_id")
            if not isinstance(model_id, str) or not model_id:
                continue
            readings, facts = map_output(out, self._units_of(model_id))
            if not readings:
                identified = True
                continue
            return ParseResult(f"theengs:{model_id[:MODEL_ID_MAX]}", readings, facts)
        if identified:
            self.identified_only += 1
        return None

    def _units_of(self, model_id: str) -> dict[str, str]:
        """Property key -> declared unit of a model (cached: the lookup costs ~0.5 ms)."""
        units = self._units.get(model_id)
        if units is not None:
            return units
        units = {}
        try:
            raw = self._properties(model_id)
            doc = json.loads(raw) if isinstance(raw, str) and raw else {}
            props = doc.get("properties", {}) if isinstance(doc, dict) else {}
            for key, spec in props.items() if isinstance(props, dict) else ():
                if isinstance(spec, dict) and isinstance(spec.get("unit"), str):
                    units[key] = spec["unit"]
        except ValueError as exc:
            log.warning("TheengsDecoder properties of %s unreadable: %s", model_id, exc)
        if len(self._units) < 1024:  # model ids come from the decoder's finite table
            self._units[model_id] = units
        return units
