"""SwitchBot meters, hubs and panels: service data 0xFD3D / 0x0D00 and manufacturer data 0x0969.

Service data (the scan response; only active scans see it): byte 0 bits 0-6 = device type
(``'T'`` Meter, ``'i'`` Meter Plus, ``'w'`` Indoor/Outdoor Meter, ``'4'``/0x14 Meter Pro,
``'5'``/0x15 Meter Pro CO2, ``'v'`` Hub 2, ``'%'``/0x05 Hub Mini Matter; newer devices send 0
and a 4-byte product id at the end: Hub 3, Climate Panel, Weather Station), bit 7 = encrypted;
byte 2 bits 0-6 = battery %; bytes 3-5 of a meter = the temperature/humidity triple.

The triple (``_th``): byte 0 bits 0-3 = tenths of °C (bits 4-7 alarm flags); byte 1 bit 7 set =
above zero, bits 0-6 = whole °C; byte 2 bit 7 = display in °F, bits 0-6 = humidity %.

Manufacturer data (every advert, so passive scans see it): the MAC (6 bytes), a sequence
number, then per device: meters the triple at 8-10 (Meter Pro CO2: CO2 ppm u16 BE at 13-14;
Weather Station: battery at 7); Hub 2 / Hub Mini Matter / Hub 3 the triple at 13-15 with a light
level in byte 12 (Hub 3 also network state, sensor flag, alarms and motion); Climate Panel
battery at 7, the triple at 8-10, motion and light state in byte 15.

Without service data the model comes from, in order: a model set for the MAC with
``set_model(ctx, mac, model)`` (configuration), the model a scan response named earlier
(remembered in ``ctx.state_for("switchbot")``), else a guess from the frame length with
plausibility checks (``facts["model_guessed"]``).  A guess cannot tell a Hub 2 from a Hub 3, so
it reports only their shared temperature and humidity.  The risk of guessing: another SwitchBot
product whose frame has a meter's length and plausible bytes 8-10 reads as a meter until a scan
response names it (none of the curtain, blind-tilt, bulb, lock and contact-sensor frames in
pySwitchbot's tests passes the checks; a meter reporting under 5 % humidity is not guessed).

Readings: ``temperature_c``, ``humidity_pct``, ``battery_pct``, ``co2_ppm``, ``light_level``
(the hub's 1..21 or 1..10 scale), ``illuminance_lux``, ``motion``, ``light`` (panel: lit),
``power`` (panel: on), ``temperature_alarm`` / ``humidity_alarm`` (alarm codes),
``measurement_sequence``.  Facts: ``display_fahrenheit``, ``encrypted``, ``network_state``,
``sensor_inserted`` (Hub 3).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

PARSER_NAME = "switchbot"
COMPANY_ID = 0x0969
UUID_FD3D = uuid128(0xFD3D)
UUID_0D00 = uuid128(0x0D00)
MAX_REMEMBERED = 4096

METER, METER_PLUS, IO_METER = "Meter", "Meter Plus", "Indoor/Outdoor Meter"
METER_PRO, METER_PRO_CO2 = "Meter Pro", "Meter Pro CO2"
HUB2, HUB3, HUB_MINI_MATTER = "Hub 2", "Hub 3", "Hub Mini Matter"
CLIMATE_PANEL, WEATHER_STATION = "Climate Panel", "Weather Station"
HUB_2_OR_3 = "Hub 2 or Hub 3"
OTHER = ""  # a SwitchBot product without sensor readings (bot, curtain, lock, ...)
METERS = frozenset({METER, METER_PLUS, IO_METER, METER_PRO, METER_PRO_CO2})

_TYPE_MODELS: dict[int, str] = {0x54: METER, 0x74: METER, 0x69: METER_PLUS, 0x49: METER_PLUS,
                                0x77: IO_METER, 0x57: IO_METER, 0x34: METER_PRO, 0x14: METER_PRO,
                                0x35: METER_PRO_CO2, 0x15: METER_PRO_CO2, 0x76: HUB2, 0x56: HUB2,
                                0x25: HUB_MINI_MATTER, 0x05: HUB_MINI_MATTER}  # fmt: skip
_PRODUCT_IDS: dict[bytes, str] = {b"\x10\xb9\x40": HUB3, b"\x10\xf3\xd8": CLIMATE_PANEL,
                                  b"\x10\x53\xb0": WEATHER_STATION}  # fmt: skip
# Names other tools use for the same models (accepted by set_model).
MODEL_ALIASES: dict[str, str] = {
    "WoSensorTH": METER,
    "WoIOSensorTH": IO_METER,
    "WoTHP": METER_PRO,
    "WoTHPc": METER_PRO_CO2,
    "WoHub2": HUB2,
    "Hub2": HUB2,
    "Hub3": HUB3,
    "HubMini Matter": HUB_MINI_MATTER,
}
KNOWN_MODELS = frozenset({*METERS, HUB2, HUB3, HUB_MINI_MATTER, CLIMATE_PANEL, WEATHER_STATION})
# Hub light level -> lux, from the vendor's calibration curves.
HUB2_LUX = (0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 105, 205, 317, 416, 510, 610, 707, 801, 897,
            1023, 1091)  # fmt: skip
HUB3_LUX = (0, 0, 50, 90, 205, 317, 510, 610, 707, 801, 1023)
CO2_MAX_PPM = 9999


def set_model(ctx: ParseContext, mac: str, model: str) -> None:
    """Configure the model of one device (for passive scans, which never see service data)."""
    model = MODEL_ALIASES.get(model, model)
    if model not in KNOWN_MODELS:
        raise ValueError(f"switchbot: unknown model {model!r} (known: {sorted(KNOWN_MODELS)})")
    ctx.state_for(PARSER_NAME).setdefault("configured", {})[mac.upper()] = model


def _th(b0: int, b1: int, b2: int, readings: dict[str, float]) -> bool:
    """Temperature and humidity from the triple; returns the display-in-°F flag."""
    temp = (b1 & 0x7F) + (b0 & 0x0F) / 10
    readings["temperature_c"] = temp if b1 & 0x80 else -temp
    readings["humidity_pct"] = b2 & 0x7F
    return bool(b2 & 0x80)


def _plausible(b0: int, b1: int, b2: int) -> bool:
    """A triple a meter could send: -40..85 °C, 1..99 % (used only when guessing the model)."""
    limit = 85 if b1 & 0x80 else 40
    return (b0 & 0x0F) <= 9 and 1 <= (b2 & 0x7F) <= 99 and (b1 & 0x7F) <= limit


class SwitchBotParser:
    """SwitchBot sensors; see the module docstring for the layouts."""

    name: ClassVar[str] = PARSER_NAME
    company_ids: ClassVar[tuple[int, ...]] = (COMPANY_ID,)
    service_uuids: ClassVar[tuple[str, ...]] = (UUID_FD3D, UUID_0D00)
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode a SwitchBot sensor; None for other SwitchBot products and unknown frames."""
        sd = advert.service_data.get(UUID_FD3D) or advert.service_data.get(UUID_0D00)
        mfr = advert.manufacturer_data.get(COMPANY_ID)
        guessed = False
        model: str
        if sd:
            model = _model_from_service_data(sd)
            _remember(ctx, advert.mac, model)
        else:
            if not mfr:
                return None
            known = _known_model(ctx, advert.mac)
            if known is None:
                model, guessed = _guess(mfr), True
            else:
                model = known
        if not model:
            return None
        readings: dict[str, float] = {}
        facts: dict[str, Any] = {"manufacturer": "SwitchBot", "model": model}
        facts["encrypted"] = bool(sd and sd[0] & 0x80)
        if guessed:
            facts["model_guessed"] = True
        if model in METERS or model == WEATHER_STATION:
            _meter(model, sd, mfr, readings, facts)
        elif model in (HUB2, HUB3, HUB_MINI_MATTER, HUB_2_OR_3):
            _hub(model, mfr, readings, facts)
        else:
            _climate_panel(mfr, readings)
        return ParseResult(PARSER_NAME, readings, facts)


def _model_from_service_data(sd: bytes) -> str:
    model = _TYPE_MODELS.get(sd[0] & 0x7F)
    if model is not None:
        return model
    if len(sd) > 5:
        for tail in (sd[-4:], sd[-5:-1]):  # 00 or 01, then the 3-byte product id
            found = _PRODUCT_IDS.get(tail[1:]) if tail[0] <= 1 else None
            if found is not None:
                return found
    return OTHER


def _known_model(ctx: ParseContext, mac: str) -> str | None:
    state = ctx.state.get(PARSER_NAME)
    if state is None:
        return None
    configured = state.get("configured")
    if configured:
        model = configured.get(mac)
        if model is not None:
            return str(model)
    seen = state.get("seen")
    return None if seen is None else seen.get(mac)


def _remember(ctx: ParseContext, mac: str, model: str) -> None:
    seen: dict[str, str] = ctx.state_for(PARSER_NAME).setdefault("seen", {})
    if seen.get(mac) == model:
        return
    if mac not in seen and len(seen) >= MAX_REMEMBERED:
        del seen[next(iter(seen))]
    seen[mac] = model


def _guess(mfr: bytes) -> str:
    """The model a manufacturer-data frame alone suggests, or OTHER."""
    n = len(mfr)
    if n == 16:
        if not _plausible(mfr[8], mfr[9], mfr[10]):
            return OTHER
        return METER_PRO_CO2 if mfr[13] or mfr[14] else WEATHER_STATION
    if n in (11, 12, 13):
        # Curtains, blind tilts and contact sensors send frames of these lengths too; in every
        # published one byte 10 (a meter's humidity) is below 5.
        if not _plausible(mfr[8], mfr[9], mfr[10]) or mfr[10] & 0x7F < 5:
            return OTHER
        return {11: METER, 12: IO_METER, 13: METER_PRO}[n]
    if n == 17 and _plausible(mfr[13], mfr[14], mfr[15]):
        return HUB_MINI_MATTER if not any(mfr[6:12]) else HUB_2_OR_3
    if n in (20, 23) and _plausible(mfr[8], mfr[9], mfr[10]):
        return CLIMATE_PANEL
    return OTHER


def _need(model: str, mfr: bytes | None, size: int) -> bytes:
    if mfr is None or len(mfr) < size:
        got = "none" if mfr is None else f"{len(mfr)} bytes"
        raise ParseError(f"switchbot {model}: manufacturer data {got}, need {size} bytes")
    return mfr


def _meter(
    model: str,
    sd: bytes | None,
    mfr: bytes | None,
    readings: dict[str, float],
    facts: dict[str, Any],
) -> None:
    if model == WEATHER_STATION and mfr is not None and len(mfr) >= 11:
        readings["battery_pct"] = mfr[7] & 0x7F
    elif sd is not None and len(sd) >= 3:
        readings["battery_pct"] = sd[2] & 0x7F
    if sd is not None and len(sd) >= 6 and model != WEATHER_STATION:
        fahrenheit = _th(sd[3], sd[4], sd[5], readings)
    else:
        data = _need(model, mfr, 11)
        fahrenheit = _th(data[8], data[9], data[10], readings)
    facts["display_fahrenheit"] = fahrenheit
    zero = not readings["temperature_c"] and not readings["humidity_pct"]
    if zero and not readings.get("battery_pct"):
        readings.clear()  # an all-zero frame: no measurement yet
        return
    if model == METER_PRO_CO2 and mfr is not None and len(mfr) >= 15:
        co2 = mfr[13] << 8 | mfr[14]
        if co2 <= CO2_MAX_PPM:
            readings["co2_ppm"] = co2


def _hub(model: str, mfr: bytes | None, readings: dict[str, float], facts: dict[str, Any]) -> None:
    data = _need(model, mfr, 17 if model == HUB3 else 16)
    facts["display_fahrenheit"] = _th(data[13], data[14], data[15], readings)
    if model == HUB3:
        status = data[12]
        level = status & 0x0F
        readings["measurement_sequence"] = data[6]
        readings["light_level"] = level
        readings["illuminance_lux"] = HUB3_LUX[min(level, 10)]
        readings["temperature_alarm"] = int(bool(data[13] & 0xC0))
        readings["humidity_alarm"] = int(bool(data[13] & 0x30))
        readings["motion"] = data[16] >> 7
        facts["network_state"] = status >> 6
        facts["sensor_inserted"] = not status & 0x20
        return
    if not readings["temperature_c"] and not readings["humidity_pct"]:
        readings.clear()  # no measurement yet
        return
    if model == HUB2:
        level = data[12] & 0x1F
        readings["light_level"] = level
        readings["illuminance_lux"] = HUB2_LUX[min(level, 21)]


def _climate_panel(mfr: bytes | None, readings: dict[str, float]) -> None:
    data = _need(CLIMATE_PANEL, mfr, 16)
    readings["measurement_sequence"] = data[6]
    readings["power"] = data[7] >> 7
    readings["battery_pct"] = data[7] & 0x7F
    readings["humidity_alarm"] = data[8] >> 6
    readings["temperature_alarm"] = (data[8] >> 4) & 0x03
    _th(data[8], data[9], data[10], readings)  # byte 10 bit 7 is not documented as °F here
    readings["motion"] = data[15] >> 7
    readings["light"] = int((data[15] >> 1) & 0x03 == 0x02)
