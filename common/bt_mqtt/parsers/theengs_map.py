"""TheengsDecoder's output keys and units, mapped to BT-MQTT metric names and facts.

Pure code with no import of TheengsDecoder (GPL-3.0): ``map_output`` takes the decoded JSON
object and the model's property units (``getProperties``) and returns readings and facts.

Rules, in order, for each key of the output:
- Echoed input (``id``, ``name``, ``manufacturerdata``, ``servicedata``, ``servicedatauuid``)
  and the decoder's bookkeeping flags (``cidc``, ``acts``, ``track``, ``cont``, ``prmac``,
  ``encr``) are dropped; so are unit duplicates the decoder derives itself (``tempf*`` from
  ``tempc*``, ``lvl_in`` from ``lvl_cm``).
- ``brand``/``model``/``model_id``/``type`` become facts ``manufacturer``, ``model``,
  ``model_id``, ``theengs_type``; ``mac`` becomes ``payload_mac``.
- Text, hex identifiers, events and codes (``FACT_KEYS``) are facts under their own key.
- Booleans are 0/1 readings (``BOOLEANS`` renames them: ``batt_low`` -> ``battery_low``).
- Numbers become ``<base>[_<qualifier>]_<unit suffix>``: the base comes from the key's prefix
  (``BASES``: ``tempc`` -> ``temperature``, ``volt_batt_1`` -> ``voltage_batt_1``), the
  suffix and a scale factor from the model's declared unit (``UNITS``: g -> kg x 0.001, bar ->
  hPa x 1000, m/s² -> g / 9.80665, cm -> mm x 10).  ``SPECIAL`` overrides (probe temperatures,
  dew point, tank level, iNode's meter values whose unit comes in a sibling key).
- A number whose unit we do not know goes to ``facts["unmapped"]`` (never guessed, never lost);
  a non-finite number to ``facts["invalid"]``.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Final

log = logging.getLogger(__name__)

G: Final = 9.80665

DROPPED: Final = frozenset(
    {"id", "name", "manufacturerdata", "servicedata", "servicedatauuid", "rssi", "txpower_dbm"}
    | {"cidc", "acts", "track", "cont", "prmac", "encr", "lvl_in", "avgu", "sumu"}
)
IDENTITY: Final = {
    "brand": "manufacturer",
    "model": "model",
    "model_id": "model_id",
    "type": "theengs_type",
    "mac": "payload_mac",
}
# Numbers that are identifiers, codes, counters for de-duplication or device clocks.
FACT_KEYS: Final = frozenset(
    {"packet", "packet_1", "packet_2", "seq", "serial", "modeltype", "status", "session"}
    | {"error_code", "alarm_reason", "off_reason", "warning_reason", "sector", "pressure"}
    | {"button", "button1", "button2", "button3", "button4", "time", "time_max", "time_min"}
    | {"mfid", "major", "minor", "uuid", "ctr", "mic", "cipher", "rpi", "aem", "uid"}
)
FACT_UNITS: Final = frozenset({"string", "hex", "event"})
UNITLESS: Final = frozenset({"int", "status", "0", "SG", ""})

# declared unit -> (metric suffix, factor)
UNITS: Final[dict[str, tuple[str, float]]] = {
    "°C": ("c", 1.0),
    "%": ("pct", 1.0),
    "V": ("v", 1.0),
    "lx": ("lux", 1.0),
    "lux": ("lux", 1.0),
    "ppm": ("ppm", 1.0),
    "μg/m³": ("ugm3", 1.0),  # Greek mu
    "µg/m³": ("ugm3", 1.0),  # micro sign
    "hPa": ("hpa", 1.0),
    "bar": ("hpa", 1000.0),
    "g": ("kg", 0.001),
    "kg": ("kg", 1.0),
    "m/s²": ("g", 1 / G),
    "m/s": ("m_s", 1.0),
    "s": ("s", 1.0),
    "min": ("min", 1.0),
    "kWh": ("kwh", 1.0),
    "W": ("w", 1.0),
    "A": ("a", 1.0),
    "Ah": ("ah", 1.0),
    "L": ("l", 1.0),
    "cm": ("mm", 10.0),
    "µS/cm": ("us_cm", 1.0),
    "μS/cm": ("us_cm", 1.0),
    "mg/m³": ("mg_m3", 1.0),
    "dBm": ("dbm", 1.0),
    "bpm": ("bpm", 1.0),
    "Ω": ("ohm", 1.0),
}

# key prefix -> metric base (the longest matching prefix wins; the rest is a qualifier)
BASES: Final[dict[str, str]] = {
    "tempc": "temperature",
    "hum": "humidity",
    "batt": "battery",
    "volt": "voltage",
    "lux": "illuminance",
    "darkness": "illuminance",
    "co2": "co2",
    "pm25": "pm25",
    "pm10": "pm10",
    "pres": "pressure",
    "moi": "moisture",
    "fer": "conductivity",
    "for": "formaldehyde",
    "weight": "mass",
    "act_bpm": "heart_rate",
    "bpm": "heart_rate",
    "accx": "acceleration_x",
    "accy": "acceleration_y",
    "accz": "acceleration_z",
    "x_axis": "acceleration_x",
    "y_axis": "acceleration_y",
    "z_axis": "acceleration_z",
    "energy": "energy",
    "yield_today": "energy_today",
    "litres": "water",
    "windspeed": "speed",
    "txpower": "tx_power",
    "tx": "tx_power",
    "seconds": "duration",
    "ttg": "time_to_go",
    "soc": "state_of_charge",
    "consumed_ah": "consumed_charge",
    "mov": "movement_count",
    "in_ct": "count_in",
    "out_ct": "count_out",
    "push_ct": "push_count",
    "shake": "shake_count",
    "rot": "rotation",
    "gravity": "specific_gravity",
    "lightlevel": "light_level",
}
# Units of the common keys, for output keys the model's properties do not declare.
DEFAULT_UNITS: Final[dict[str, str]] = {
    "tempc": "°C",
    "hum": "%",
    "batt": "%",
    "volt": "V",
    "lux": "lx",
    "co2": "ppm",
    "pm25": "µg/m³",
    "pm10": "µg/m³",
    "pres": "hPa",
    "moi": "%",
    "fer": "µS/cm",
    "for": "mg/m³",
}
BOOLEANS: Final[dict[str, str]] = {
    "batt_low": "battery_low",
    "lowbatt": "battery_low",
    "charging_case": "battery_charging_case",
    "charging_l": "battery_charging_l",
    "charging_r": "battery_charging_r",
    "open": "opening",
    "unlocked": "lock",  # our convention: lock 1 = unlocked
    "plugged_in": "plug",
    "alarm": "problem",
    "extprobe": "external_probe",
    "quality": "reading_quality",
    "scopetested": "scope_tested",
}
_PROBE: Final = re.compile(r"tempc([1-9])")
# iNode meters: the unit of "avg"/"sum" is a sibling text key.
_METER: Final[dict[tuple[str, str], tuple[str, float]]] = {
    ("avg", "kW"): ("power_w", 1000.0),
    ("sum", "kWh"): ("energy_kwh", 1.0),
    ("avg", "m³"): ("volume_flow_rate_m3_h", 1.0),
    ("sum", "m³"): ("gas_m3", 1.0),
}
_NOT_SNAKE: Final = re.compile(r"[^a-z0-9]+")


def snake(key: str) -> str:
    """A key as a snake_case name (lower case, runs of other characters as ``_``)."""
    return _NOT_SNAKE.sub("_", key.lower()).strip("_") or "value"


def _split(key: str) -> tuple[str, str, str]:
    """(base name, qualifier, prefix) of a key: the longest ``BASES`` prefix, else the key."""
    best = ""
    for prefix in BASES:
        if len(prefix) > len(best) and key.startswith(prefix):
            rest = key[len(prefix) :]
            if not rest or rest[0] == "_" or rest[0].isdigit():
                best = prefix
    if not best:
        return snake(key), "", ""
    return BASES[best], snake(key[len(best) :]) if len(key) > len(best) else "", best


def metric_for(key: str, unit: str | None, out: dict[str, Any]) -> tuple[str, str, float] | None:
    """(stem, suffix, factor) for a numeric key, or ``None`` when its unit is unknown.

    The metric name is ``stem`` plus ``_suffix`` when there is one.
    """
    m = _PROBE.fullmatch(key)
    if m is not None:
        return f"temperature_probe_{m.group(1)}", "c", 1.0
    if key == "tempc2_dp":
        return "dewpoint", "c", 1.0
    if key == "lvl_cm":
        return "tank_level", "mm", 10.0
    if key in ("avg", "sum"):
        meter = _METER.get((key, str(out.get(key + "u"))))
        if meter is None:
            return None
        name, factor = meter
        stem, _, suffix = name.rpartition("_")
        return stem, suffix, factor
    base, qualifier, prefix = _split(key)
    stem = f"{base}_{qualifier}" if qualifier else base
    if unit is None:
        unit = DEFAULT_UNITS.get(prefix)
        if unit is None:
            return None
    if unit in UNITLESS:
        return stem, "", 1.0
    known = UNITS.get(unit)
    if known is None:
        return None
    return stem, known[0], known[1]


def _put(readings: dict[str, float], stem: str, suffix: str, value: float) -> None:
    """Store one reading; a second one of the same name is numbered (``temperature_2_c``)."""
    name = f"{stem}_{suffix}" if suffix else stem
    n = 1
    while name in readings:
        n += 1
        name = f"{stem}_{n}_{suffix}" if suffix else f"{stem}_{n}"
    readings[name] = value


def map_output(
    out: dict[str, Any], units: dict[str, str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Readings and facts for one decoded object; ``units`` maps property keys to units."""
    readings: dict[str, float] = {}
    facts: dict[str, Any] = {}
    for key, value in out.items():
        if key in DROPPED or key.startswith("tempf"):
            continue
        ident = IDENTITY.get(key)
        if ident is not None:
            facts[ident] = value
            continue
        unit = units.get(key)
        if (
            isinstance(value, str | list | dict)
            or value is None
            or key in FACT_KEYS
            or unit in FACT_UNITS
        ):
            facts[key] = value
            continue
        if isinstance(value, bool):
            readings[BOOLEANS.get(key, snake(key))] = 1.0 if value else 0.0
            continue
        if not isinstance(value, int | float):
            facts[key] = value
            continue
        if not math.isfinite(value):
            facts.setdefault("invalid", {})[key] = str(value)
            continue
        spec = metric_for(key, unit, out)
        if spec is None:
            facts.setdefault("unmapped", {})[key] = {"value": value, "unit": unit}
            continue
        stem, suffix, factor = spec
        _put(readings, stem, suffix, float(value) * factor if factor != 1.0 else float(value))
    return readings, facts
