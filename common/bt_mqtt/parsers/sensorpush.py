"""SensorPush HT1, HT.w, HTP.xw and TC.x: manufacturer data whose "company id" is payload.

The two bytes BLE calls the company id are the first two payload bytes (``frame`` below is the
id, little-endian, followed by the data bytes).

- HT.w / HTP.xw / TC.x (service UUID ``ef090000-...-ec090ab0``): ``frame[0]`` bits 0-1 are the
  page (only page 0 carries readings), bits 2-7 the type (0 HTP.xw, 1 HT.w, 2 TC.x).  The rest,
  read as one little-endian integer, is a mixed-radix number whose digits count steps of each
  value in turn: HT.w temperature (-40..125 °C, 0.0025) then humidity (0..100 %, 0.0025); HTP.xw
  temperature (-40..140 °C), humidity, pressure (30000..125000 Pa, 1 Pa); TC.x thermocouple
  temperature (-200..1800 °C, 0.0625).  Values are rounded to 0.01 as the vendor app shows them;
  bits above the last digit are ignored (the vendor decoder does the same).
- HT1 (local name ``s``, service UUID ``ef090000-...-ec090aa9``): 4 bytes; humidity is a 12-bit
  and temperature a 14-bit SHT2x raw value, the type (1) sits in ``frame[3]`` bits 2-6.

Several frames at once (BlueZ accumulates the company ids it has seen, so the dict grows with
stale entries): the frame that changed since the previous advert of that MAC is decoded; the
per-MAC history lives in ``ctx.state_for("sensorpush")``.  When that is ambiguous (a first
sight with several frames) the advert is claimed with no readings.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

PARSER_NAME = "sensorpush"
UUID_V2 = "ef090000-11d6-42ba-93b8-9dd7ec090ab0"
UUID_HT1 = "ef090000-11d6-42ba-93b8-9dd7ec090aa9"
MAX_TRACKED = 1024  # MACs whose last frame set is remembered

# type -> (model, ((metric, minimum, step, digit count), ...), data bytes after the id)
_TYPES: dict[int, tuple[str, tuple[tuple[str, float, float, int], ...], int]] = {}


def _digits(lo: float, hi: float, step: float) -> int:
    return int((hi - lo) / step + step / 2.0) + 1


_TYPES[0] = (
    "HTP.xw",
    (
        ("temperature_c", -40.0, 0.0025, _digits(-40.0, 140.0, 0.0025)),
        ("humidity_pct", 0.0, 0.0025, _digits(0.0, 100.0, 0.0025)),
        ("pressure_hpa", 30000.0, 1.0, _digits(30000.0, 125000.0, 1.0)),
    ),
    5,
)
_TYPES[1] = (
    "HT.w",
    (
        ("temperature_c", -40.0, 0.0025, _digits(-40.0, 125.0, 0.0025)),
        ("humidity_pct", 0.0, 0.0025, _digits(0.0, 100.0, 0.0025)),
    ),
    3,
)
_TYPES[2] = ("TC.x", (("temperature_c", -200.0, 0.0625, _digits(-200.0, 1800.0, 0.0625)),), 3)
# type -> the count of distinct packed values (a larger one is not a reading)
_LIMIT = {t: math.prod(f[3] for f in fields) for t, (_, fields, _) in _TYPES.items()}

NAME_PATTERNS = (r"s$", r"SensorPush", r"(HTP\.xw|HT\.w|TC)\b")
# Every id whose low byte is a page-0 frame of a known type (the routing index needs them).
COMPANY_IDS = tuple(hi << 8 | t << 2 for t in _TYPES for hi in range(256))


class SensorPushParser:
    """SensorPush sensors; see the module docstring for the layouts."""

    name: ClassVar[str] = PARSER_NAME
    company_ids: ClassVar[tuple[int, ...]] = COMPANY_IDS
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = NAME_PATTERNS
    priority: ClassVar[int] = 1  # an HT1 also sends an iBeacon frame: it is still an HT1

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode the newest frame; None when nothing says SensorPush."""
        md = advert.manufacturer_data
        if not md:
            return None
        name = advert.name or ""
        uuids = advert.service_uuids
        ht1 = name == "s" or UUID_HT1 in uuids
        named = ht1 or UUID_V2 in uuids or "SensorPush" in name or _model_in_name(name)
        if len(md) == 1:
            ((cid, data),) = md.items()
        else:
            changed = _changed(ctx, advert.mac, md)
            if len(changed) != 1:
                _remember(ctx, advert.mac, md)
                return self._result({}, None) if named else None
            cid, data = changed[0]
        frame = cid.to_bytes(2, "little") + data
        result = self._ht1(frame) if ht1 else self._v2(frame, named)
        # Remembered only after a clean decode, so that asking again gives the same answer.
        _remember(ctx, advert.mac, md)
        return result

    @staticmethod
    def _result(readings: dict[str, float], model: str | None) -> ParseResult:
        facts: dict[str, Any] = {"manufacturer": "SensorPush"}
        if model:
            facts["model"] = model
        return ParseResult(PARSER_NAME, readings, facts)

    def _v2(self, frame: bytes, named: bool) -> ParseResult | None:
        head = frame[0]
        kind = _TYPES.get(head >> 2)
        if head & 0x03 or kind is None:
            # Pages 1-3 (or an unknown type) carry no readings.
            return self._result({}, None) if named else None
        model, fields, size = kind
        if len(frame) - 2 != size:
            if not named:
                return None
            raise ParseError(f"sensorpush {model}: {len(frame) - 2} data bytes, need {size}")
        packed = int.from_bytes(frame[1:], "little")
        if not named and packed >= _LIMIT[head >> 2]:
            return None  # nothing but the company id says SensorPush, and it does not fit
        readings: dict[str, float] = {}
        for metric, lo, step, digits in fields:
            packed, count = divmod(packed, digits)
            value = round(count * step + lo, 2)
            readings[metric] = value / 100.0 if metric == "pressure_hpa" else value
        return self._result(readings, model)

    def _ht1(self, frame: bytes) -> ParseResult:
        if len(frame) < 4:
            raise ParseError(f"sensorpush HT1: {len(frame)} bytes, need 4")
        if (frame[3] & 0x7C) >> 2 != 1:
            return self._result({}, "HT1")  # another frame kind (an iBeacon part, ...)
        raw_h = frame[0] | (frame[1] & 0x0F) << 8
        raw_t = frame[1] >> 4 | frame[2] << 4 | (frame[3] & 0x03) << 12
        readings = {
            "temperature_c": round(-46.85 + 175.72 * (raw_t / 16384.0), 2),
            "humidity_pct": round(min(100.0, max(0.0, -6.0 + 125.0 * (raw_h / 4096.0))), 2),
        }
        return self._result(readings, "HT1")


def _model_in_name(name: str) -> bool:
    return name.startswith(("HT.w", "HTP.xw", "TC"))


def _history(ctx: ParseContext) -> dict[str, dict[int, bytes]]:
    return ctx.state_for(PARSER_NAME).setdefault("frames", {})  # type: ignore[no-any-return]


def _remember(ctx: ParseContext, mac: str, md: dict[int, bytes]) -> None:
    hist = _history(ctx)
    prev = hist.get(mac)
    if prev is None:
        if len(hist) >= MAX_TRACKED:
            del hist[next(iter(hist))]
        hist[mac] = dict(md)
    elif len(md) == 1:
        prev.update(md)  # a lone frame: keep the others for the next multi-frame advert
    else:
        hist[mac] = dict(md)


def _changed(ctx: ParseContext, mac: str, md: dict[int, bytes]) -> list[tuple[int, bytes]]:
    """The frames that differ from the previous advert of ``mac`` (all of them at first)."""
    prev = _history(ctx).get(mac)
    if prev is None:
        return list(md.items())
    return [(cid, data) for cid, data in md.items() if prev.get(cid) != data]
