"""INKBIRD thermometers and hygrometers (manufacturer data; most models routed by local name).

- IBS-TH / IBS-TH2 / IBS-P01B ("sps" / "tps"): the 16-bit "company id" is the temperature
  (i16, 0.01 °C); the 7 data bytes are humidity (u16 LE, 0.01 %), external-probe flag, CRC (2),
  battery %, frame type.  "tps" models have no humidity sensor.
- iBBQ (name "iBBQ", or company 0 with the sender's MAC at bytes 2-7): 2 zero bytes, the
  MAC, then one i16 LE per probe (0.1 °C); 0xFFF6 marks an unplugged probe.
- xBBQ ("xBBQ", companies 1/2): 8 header bytes, then one i16 LE per probe (0.1 °C); 0xFFFF =
  unplugged.
- ITH-11-B / ITH-13-B / ITH-21-B / IBS-P02B (company 0x2449): 4 id bytes, temperature (i16 LE,
  0.1 °C), humidity (u16 LE, 0.1 %; 0xFFFF = broken frame), battery %.
- IAM-T1/T2 ("Ink@IAM", company 0x3254): a version byte, the MAC, a flags byte (bit 1 =
  Fahrenheit display), then big-endian temperature (i16, 0.1 °), humidity (0.1 %), CO2 (ppm).

Some IBS-TH units advertise a garbled local name; a caller that knows the model says so with
``set_model(ctx, mac, "IBS-TH")`` (as the reference library's constructor argument does), and
such adverts (advertised service 0xFFF0) are then decoded as that model.
"""

from __future__ import annotations

import logging
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

INKBIRD_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"
ITH_COMPANY = 0x2449
IAM_COMPANY = 0x3254
ITH_MODELS = {b"\x07\x11": "ITH-21-B", b"\x12\x23": "ITH-13-B", b"\x08\x12": "ITH-11-B",
              b"\x11\x18": "IBS-P02B"}  # fmt: skip
_SPS = struct.Struct("<HBHBB")
_ITH = struct.Struct("<4xhHB")
_IAM = struct.Struct(">7xBhHH")


_SPS_MODELS = {"sps": "IBS-TH", "tps": "IBS-TH2"}
_MODEL_NAMES = {model: name for name, model in _SPS_MODELS.items()}


def set_model(ctx: ParseContext, mac: str, model: str) -> None:
    """Tell the parser which model ``mac`` is ("IBS-TH" or "IBS-TH2"), whatever its name."""
    if model not in _MODEL_NAMES:
        raise ValueError(f"inkbird: unknown model {model!r} (one of {sorted(_MODEL_NAMES)})")
    ctx.state_for(InkbirdParser.name)[mac.upper()] = model


def _probes(data: bytes, start: int, unplugged: int, readings: dict[str, float]) -> None:
    n = (len(data) - start) // 2
    for i, (raw,) in enumerate(struct.iter_unpack("<h", data[start : start + 2 * n]), 1):
        if raw & 0xFFFF != unplugged:
            readings[f"temperature_probe_{i}_c"] = raw / 10


class InkbirdParser:
    """INKBIRD sensors; see the module docstring for the layouts."""

    name: ClassVar[str] = "inkbird"
    company_ids: ClassVar[tuple[int, ...]] = (ITH_COMPANY, IAM_COMPANY, 0)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = (r"(sps|tps)$", r"[ix]BBQ", r"Ink@IAM", r"ITH-")
    advertised_uuids: ClassVar[tuple[str, ...]] = (INKBIRD_UUID,)

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode by company id first, then by local name."""
        md = advert.manufacturer_data
        if ITH_COMPANY in md:
            return self._ith(md[ITH_COMPANY])
        if IAM_COMPANY in md:
            return self._iam(md[IAM_COMPANY])
        name = advert.name or ""
        if name not in _SPS_MODELS and md:
            name = _MODEL_NAMES.get(ctx.state_for(self.name).get(advert.mac, ""), name)
        if name in _SPS_MODELS and md:
            company, data = next(reversed(md.items()))
            return self._sps(name, company, data)
        ibbq = md.get(0)
        if ibbq is not None and (name == "iBBQ" or ibbq[2:8] == mac_bytes(advert.mac)):
            return self._bbq("iBBQ", ibbq, 8, 0xFFF6)
        if name == "xBBQ" and md:
            company = min(md)
            return self._bbq("xBBQ", md[company], 8, 0xFFFF)
        return None

    @staticmethod
    def _facts(model: str) -> dict[str, Any]:
        return {"manufacturer": "INKBIRD", "model": model}

    def _sps(self, name: str, company: int, data: bytes) -> ParseResult:
        if len(data) < _SPS.size:
            raise ParseError(f"inkbird {name}: {len(data)} bytes, need {_SPS.size}")
        hum, probe, _crc, battery, _kind = _SPS.unpack_from(data)
        temp = (company - 0x10000 if company & 0x8000 else company) / 100
        readings: dict[str, float] = {"battery_pct": battery}
        if probe == 1:
            readings["temperature_probe_1_c"] = temp
        else:
            readings["temperature_c"] = temp
        if name == "sps":
            readings["humidity_pct"] = hum / 100
        return ParseResult("inkbird", readings, self._facts(_SPS_MODELS[name]))

    def _bbq(self, model: str, data: bytes, start: int, unplugged: int) -> ParseResult:
        if len(data) < start + 2:
            raise ParseError(f"inkbird {model}: {len(data)} bytes, need at least {start + 2}")
        readings: dict[str, float] = {}
        _probes(data, start, unplugged, readings)
        return ParseResult("inkbird", readings, self._facts(model))

    def _ith(self, data: bytes) -> ParseResult:
        if len(data) < _ITH.size:
            raise ParseError(f"inkbird ITH: {len(data)} bytes, need {_ITH.size}")
        model = ITH_MODELS.get(data[:2], "INKBIRD 0x2449")
        temp, hum, battery = _ITH.unpack_from(data)
        if hum == 0xFFFF:
            raise ParseError("inkbird ITH: humidity 0xFFFF (broken frame)")
        readings: dict[str, float] = {"temperature_c": temp / 10, "battery_pct": battery}
        if model != "IBS-P02B" and (hum or model.startswith("ITH")):
            readings["humidity_pct"] = hum / 10
        return ParseResult("inkbird", readings, self._facts(model))

    def _iam(self, data: bytes) -> ParseResult:
        if len(data) < _IAM.size:
            raise ParseError(f"inkbird IAM: {len(data)} bytes, need {_IAM.size}")
        flags, temp, hum, co2 = _IAM.unpack_from(data)
        t = temp / 10
        if flags & 0x02:
            t = round((t - 32) / 1.8, 2)
        readings: dict[str, float] = {"temperature_c": t, "humidity_pct": hum / 10, "co2_ppm": co2}
        return ParseResult("inkbird", readings, self._facts("IAM-T"))
