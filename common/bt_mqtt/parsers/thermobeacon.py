"""ThermoBeacon (SensorBlue) hygrometers: manufacturer data whose company id is the model code.

The 18-byte measurement frame: button state (u16), the device MAC (6 bytes, reversed), battery
mV (u16), temperature (i16, 1/16 °C), humidity (u16, 1/16 %), uptime (u32 s); little-endian.
Other frame lengths (min/max history frames) are not claimed; implausible values raise.
Values are reported at the frame's own resolution (1/16 °C, 1/16 %, 1 mV); battery % is
estimated from the voltage with the piecewise-linear curve used by the vendor integrations.
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult

log = logging.getLogger(__name__)

MODELS = {16: "Lanyard/mini hygrometer", 17: "Smart hygrometer", 20: "Smart hygrometer",
          21: "Smart hygrometer", 24: "Smart hygrometer", 27: "Smart hygrometer",
          48: "Smart hygrometer"}  # fmt: skip
_FRAME = struct.Struct("<H6sHhHI")


def battery_pct(volts: float) -> float:
    """Battery percentage from voltage (3.0 V and up is full)."""
    if volts >= 3.0:
        return 100
    if volts >= 2.6:
        return round(60 + (volts - 2.6) * 100, 1)
    if volts >= 2.5:
        return round(40 + (volts - 2.5) * 200, 1)
    if volts >= 2.45:
        return round(20 + (volts - 2.45) * 400, 1)
    return 0


class ThermoBeaconParser:
    """ThermoBeacon measurement frames."""

    name: ClassVar[str] = "thermobeacon"
    company_ids: ClassVar[tuple[int, ...]] = tuple(MODELS)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        """Decode an 18-byte measurement frame; None for anything else."""
        for model, data in advert.manufacturer_data.items():
            if model in MODELS and len(data) == _FRAME.size:
                return self._decode(model, data)
        return None

    @staticmethod
    def _decode(model: int, data: bytes) -> ParseResult:
        button, mac, mv, temp, hum, uptime = _FRAME.unpack(data)
        if button > 1 or not 1500 <= mv <= 3700 or hum > 100 * 16 or abs(temp) > 100 * 16:
            raise ParseError(
                f"thermobeacon: implausible frame (button {button}, {mv} mV, raw {temp}/{hum})"
            )
        volts = mv / 1000
        readings: dict[str, float] = {
            "temperature_c": temp / 16,
            "humidity_pct": hum / 16,
            "voltage_v": volts,
            "battery_pct": battery_pct(volts),
            "occupancy": button,
        }
        facts = {
            "manufacturer": "ThermoBeacon",
            "model": MODELS[model],
            "mac": ":".join(f"{b:02X}" for b in reversed(mac)),
            "uptime_s": uptime,
        }
        return ParseResult("thermobeacon", readings, facts)
