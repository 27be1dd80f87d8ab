"""Ruuvi manufacturer data (company 0x0499): data formats 3, 5, C5, 6 and E1; and the legacy
Eddystone-URL weather station formats 2 and 4 (``https://ruu.vi/#<base64>``, service 0xFEAA).

Layouts follow docs.ruuvi.com.  Every field has an "invalid / not available" sentinel; a field
holding its sentinel is left out of the readings (never reported as a number), and so is a MAC
of all ones.  Pressure is reported in hPa, acceleration in g, voltage in V.  Unknown format
bytes (e.g. encrypted format 8) are not claimed (``None``), nor ruu.vi URLs that are not
formats 2/4; a known format byte with too few bytes raises ``ParseError``.  DF6 luminosity
is rounded to 0.01 lux as its spec says; DF6 byte 14 is reserved (older drafts had a sound
level there) and is not read.
Formats 2/4 carry format, humidity (0.5 %), temperature (sign bit + integer °C, fraction byte)
and pressure (Pa above 50 000) in 6 base64 bytes; format 4 appends one tag-id character.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import struct
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

COMPANY_ID = 0x0499
MANUFACTURER = "Ruuvi Innovations"

# format byte, then fields; sizes 14 / 24 / 18 / 20 / 40 bytes.
_DF3 = struct.Struct(">BBBBHhhhH")
_DF5 = struct.Struct(">BhHHhhhHBH6s")
_DFC5 = struct.Struct(">BhHHHBH6s")
_DF6 = struct.Struct(">BhHHHHBBBBBB3s")
_DFE1 = struct.Struct(">BhHHHHHHHBB3s3s3sB5x6s")

_LUX_LOG_SCALE = math.log(65536) / 254  # DF6 luminosity: code 254 = 65535 lux
_INVALID_MAC6 = b"\xff" * 6
_INVALID_MAC3 = b"\xff" * 3
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
# An Eddystone-URL frame (0x10, tx power) with scheme https:// (0x03) and "ruu.vi/#".
_URL_HEAD = b"\x03ruu.vi/#"


def _mac(raw: bytes) -> str:
    return raw.hex(":").upper()


def _power(info: int, readings: dict[str, float]) -> None:
    """DF5/C5 power word: 11 bits battery mV above 1600, 5 bits tx power in 2 dBm above -40."""
    mv = info >> 5
    if mv != 0x7FF:
        readings["voltage_v"] = (mv + 1600) / 1000
    tx = info & 0x1F
    if tx != 0x1F:
        readings["tx_power_dbm"] = tx * 2 - 40


def _common_env(temp: int, hum: int, pres: int, readings: dict[str, float]) -> None:
    if temp != -0x8000:
        readings["temperature_c"] = temp / 200
    if hum != 0xFFFF:
        readings["humidity_pct"] = hum / 400
    if pres != 0xFFFF:
        readings["pressure_hpa"] = (pres + 50000) / 100


class RuuviParser:
    """RuuviTag / Ruuvi Air advertisements (manufacturer data, company 0x0499)."""

    name: ClassVar[str] = "ruuvi"
    company_ids: ClassVar[tuple[int, ...]] = (COMPANY_ID,)
    service_uuids: ClassVar[tuple[str, ...]] = (EDDYSTONE_UUID,)
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode formats 3, 5, C5, 6, E1 (and 2/4 URLs); None for other format bytes."""
        data = advert.manufacturer_data.get(COMPANY_ID)
        if not data:
            url = advert.service_data.get(EDDYSTONE_UUID)
            if url is not None and url[:1] == b"\x10" and url[2:11] == _URL_HEAD:
                return self._url(url[11:])
            return None
        fmt = data[0]
        if fmt == 0x05:
            if len(data) == _DFC5.size:
                # docs.ruuvi.com's C5 page shows its examples with 0x05 as the first byte; a
                # real format-5 frame is 24 bytes, so an 18-byte one can only be that layout.
                return self._dfc5(data)
            return self._df5(data)
        if fmt == 0x03:
            return self._df3(data)
        if fmt == 0x06:
            return self._df6(data)
        if fmt == 0xE1:
            return self._dfe1(data)
        if fmt == 0xC5:
            return self._dfc5(data)
        return None

    @staticmethod
    def _url(text: bytes) -> ParseResult | None:
        """Formats 2 and 4: base64 (URL alphabet) of 6 bytes, format 4 adds a tag-id char.

        A ruu.vi URL that does not carry them is an ordinary Eddystone URL: not claimed.
        """
        try:
            raw = base64.urlsafe_b64decode(text[:8])
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 6 or raw[0] not in (2, 4):
            return None
        _, hum, t_int, t_frac, pres = struct.unpack_from(">BBBBH", raw)
        temp = (t_int & 0x7F) + t_frac / 100
        readings: dict[str, float] = {
            "temperature_c": -temp if t_int & 0x80 else temp,
            "humidity_pct": hum / 2,
            "pressure_hpa": (pres + 50000) / 100,
        }
        facts: dict[str, Any] = {"manufacturer": MANUFACTURER, "model": "RuuviTag"}
        facts["data_format"] = str(raw[0])
        if raw[0] == 4 and len(text) > 8:
            facts["tag_id"] = text[8]
        return ParseResult("ruuvi", readings, facts)

    @staticmethod
    def _check(data: bytes, st: struct.Struct, label: str) -> None:
        if len(data) < st.size:
            raise ParseError(f"ruuvi {label}: {len(data)} bytes, need {st.size}")

    def _df5(self, data: bytes) -> ParseResult:
        if len(data) < 24:
            raise ParseError(f"ruuvi df5: {len(data)} bytes, need 24")
        _, temp, hum, pres, ax, ay, az, power, move, seq, mac = _DF5.unpack_from(data)
        mv = power >> 5
        tx = power & 0x1F
        if (
            temp != -0x8000
            and hum != 0xFFFF
            and pres != 0xFFFF
            and -0x8000 not in (ax, ay, az)
            and mv != 0x7FF
            and tx != 0x1F
            and move != 0xFF
            and seq != 0xFFFF
        ):  # the common case: every field valid, one dict literal
            readings: dict[str, float] = {
                "temperature_c": temp / 200,
                "humidity_pct": hum / 400,
                "pressure_hpa": (pres + 50000) / 100,
                "acceleration_x_g": ax / 1000,
                "acceleration_y_g": ay / 1000,
                "acceleration_z_g": az / 1000,
                "voltage_v": (mv + 1600) / 1000,
                "tx_power_dbm": tx * 2 - 40,
                "movement_count": move,
                "measurement_sequence": seq,
            }
        else:
            readings = {}
            _common_env(temp, hum, pres, readings)
            if ax != -0x8000:
                readings["acceleration_x_g"] = ax / 1000
            if ay != -0x8000:
                readings["acceleration_y_g"] = ay / 1000
            if az != -0x8000:
                readings["acceleration_z_g"] = az / 1000
            _power(power, readings)
            if move != 0xFF:
                readings["movement_count"] = move
            if seq != 0xFFFF:
                readings["measurement_sequence"] = seq
        facts: dict[str, Any] = {
            "manufacturer": MANUFACTURER,
            "model": "RuuviTag",
            "data_format": "5",
        }
        if mac != _INVALID_MAC6:
            facts["mac"] = mac.hex(":").upper()
        return ParseResult("ruuvi", readings, facts)

    def _dfc5(self, data: bytes) -> ParseResult:
        self._check(data, _DFC5, "dfc5")
        _, temp, hum, pres, power, move, seq, mac = _DFC5.unpack_from(data)
        readings: dict[str, float] = {}
        _common_env(temp, hum, pres, readings)
        _power(power, readings)
        if move != 0xFF:
            readings["movement_count"] = move
        if seq != 0xFFFF:
            readings["measurement_sequence"] = seq
        facts: dict[str, Any] = {
            "manufacturer": MANUFACTURER,
            "model": "RuuviTag",
            "data_format": "5" if data[0] == 0x05 else "C5",
        }
        if mac != _INVALID_MAC6:
            facts["mac"] = _mac(mac)
        return ParseResult("ruuvi", readings, facts)

    def _df3(self, data: bytes) -> ParseResult:
        self._check(data, _DF3, "df3")
        _, hum, t_int, t_frac, pres, ax, ay, az, mv = _DF3.unpack_from(data)
        temp = ((t_int & 0x7F) * 100 + t_frac) / 100
        readings: dict[str, float] = {
            "temperature_c": -temp if t_int & 0x80 else temp,
            "humidity_pct": hum / 2,
            "pressure_hpa": (pres + 50000) / 100,
            "acceleration_x_g": ax / 1000,
            "acceleration_y_g": ay / 1000,
            "acceleration_z_g": az / 1000,
            "voltage_v": mv / 1000,
        }
        facts = {"manufacturer": MANUFACTURER, "model": "RuuviTag", "data_format": "3"}
        return ParseResult("ruuvi", readings, facts)

    def _df6(self, data: bytes) -> ParseResult:
        self._check(data, _DF6, "df6")
        (_, temp, hum, pres, pm25, co2, voc, nox, lum, _res, seq, flags, mac) = _DF6.unpack_from(
            data
        )
        readings: dict[str, float] = {}
        _common_env(temp, hum, pres, readings)
        _air(pm25, co2, voc, nox, flags, readings)
        if lum != 0xFF:
            readings["illuminance_lux"] = round(math.exp(lum * _LUX_LOG_SCALE) - 1, 2)
        readings["measurement_sequence"] = seq
        return ParseResult("ruuvi", readings, _air_facts("06", flags, mac))

    def _dfe1(self, data: bytes) -> ParseResult:
        self._check(data, _DFE1, "dfe1")
        (_, temp, hum, pres, pm1, pm25, pm4, pm10, co2, voc, nox, lum, _res, seq, flags, mac) = (
            _DFE1.unpack_from(data)
        )
        readings: dict[str, float] = {}
        _common_env(temp, hum, pres, readings)
        for key, raw in (("pm1_ugm3", pm1), ("pm4_ugm3", pm4), ("pm10_ugm3", pm10)):
            if raw != 0xFFFF:
                readings[key] = raw / 10
        _air(pm25, co2, voc, nox, flags, readings)
        lux = int.from_bytes(lum, "big")
        if lux != 0xFFFFFF:
            readings["illuminance_lux"] = lux / 100
        seqn = int.from_bytes(seq, "big")
        if seqn != 0xFFFFFF:
            readings["measurement_sequence"] = seqn
        return ParseResult("ruuvi", readings, _air_facts("E1", flags, mac))


def _air_facts(data_format: str, flags: int, mac: bytes) -> dict[str, Any]:
    """The facts a Ruuvi Air frame (formats 06 and E1) carries besides its readings."""
    facts: dict[str, Any] = {
        "manufacturer": MANUFACTURER,
        "model": "Ruuvi Air",
        "data_format": data_format,
        "calibration_in_progress": bool(flags & 1),
        "voc_b9": bool(flags & 0x40),
        "nox_b9": bool(flags & 0x80),
    }
    if mac not in (_INVALID_MAC3, _INVALID_MAC6):
        facts["mac"] = _mac(mac)
    return facts


def _air(pm25: int, co2: int, voc: int, nox: int, flags: int, readings: dict[str, float]) -> None:
    """PM2.5, CO2 and the 9-bit VOC/NOx indices (LSBs in flag bits 6 and 7)."""
    if pm25 != 0xFFFF:
        readings["pm25_ugm3"] = pm25 / 10
    if co2 != 0xFFFF:
        readings["co2_ppm"] = co2
    voc9 = (voc << 1) | ((flags >> 6) & 1)
    if voc9 != 0x1FF:
        readings["voc_index"] = voc9
    nox9 = (nox << 1) | ((flags >> 7) & 1)
    if nox9 != 0x1FF:
        readings["nox_index"] = nox9
