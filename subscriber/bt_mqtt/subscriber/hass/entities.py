"""Metric name -> Home Assistant entity description (platform, device class, unit, ...).

Metric names are snake_case with the unit as suffix (``temperature_c``, ``temperature_probe_2_c``,
``humidity_pct``); boolean readings (0/1) have no suffix (``door``, ``motion``).  ``describe``
looks a name up in the exact table first, then reads its unit suffix and base word, so metrics
added by plugins still get a sensible entity.  Names in ``SKIPPED`` are never offered to HA:
they change with every advert (sequence numbers, uptimes) or are estimates from the RSSI, which
would only fill HA's recorder.
"""

from __future__ import annotations

import re
from typing import Final

from attrs import define

SENSOR: Final = "sensor"
BINARY_SENSOR: Final = "binary_sensor"
MEASUREMENT: Final = "measurement"
TOTAL_INCREASING: Final = "total_increasing"
TOTAL: Final = "total"
DIAGNOSTIC: Final = "diagnostic"


@define(frozen=True, slots=True)
class EntityKind:
    """How one metric appears in HA.  ``precision`` is ``suggested_display_precision``."""

    platform: str
    label: str
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = MEASUREMENT
    precision: int | None = None
    category: str | None = None
    enabled: bool = True


# unit suffix -> (HA unit, device class implied by the unit alone, precision)
_UNITS: Final[dict[str, tuple[str | None, str | None, int | None]]] = {
    "c": ("°C", "temperature", 1),
    "pct": ("%", None, 0),
    "hpa": ("hPa", "atmospheric_pressure", 1),
    "mbar": ("mbar", "pressure", 1),
    "v": ("V", "voltage", 2),
    "a": ("A", "current", 2),
    "w": ("W", "power", 1),
    "kwh": ("kWh", "energy", 3),
    "lux": ("lx", "illuminance", 0),
    "ppm": ("ppm", "carbon_dioxide", 0),
    "ugm3": ("µg/m³", None, 0),
    "mg_m3": ("mg/m³", None, 3),
    "kg": ("kg", "weight", 2),
    "lb": ("lb", "weight", 2),
    "g": ("g", None, 3),  # acceleration in standard gravity (HA has no class for it)
    "ms2": ("m/s²", None, 3),
    "m": ("m", "distance", 2),
    "mm": ("mm", "distance", 0),
    "cm": ("cm", "distance", 1),
    "m_s": ("m/s", "speed", 2),
    "l": ("L", "volume", 1),
    "ml": ("mL", "volume", 0),
    "m3": ("m³", "gas", 3),
    "m3_h": ("m³/h", None, 3),  # HA's volume_flow_rate class is newer than 2024.1
    "s": ("s", "duration", 0),
    "min": ("min", "duration", 0),
    "dbm": ("dBm", "signal_strength", 0),
    "deg": ("°", None, 1),
    "deg_s": ("°/s", None, 1),
    "rpm": ("rpm", None, 0),
    "bpm": ("bpm", None, 0),
    "ohm": ("Ω", None, 0),
    "us_cm": ("µS/cm", None, 0),
}
_SUFFIXES: Final = sorted(_UNITS, key=len, reverse=True)
_TOTALS: Final = frozenset({"volume", "water", "gas", "energy"})

# base word -> device class, where the unit alone does not say (or says wrongly)
_BASE_CLASS: Final[dict[str, str]] = {
    "battery": "battery",
    "humidity": "humidity",
    "moisture": "moisture",
    "pm25": "pm25",
    "pm10": "pm10",
    "pm1": "pm1",
    "tvoc": "volatile_organic_compounds",
    "water": "water",
    "volume_storage": "volume_storage",
    "precipitation": "precipitation",
    "dewpoint": "temperature",
    "tx_power": "signal_strength",
}

# boolean metric -> binary_sensor device class (None: a plain on/off)
_BINARY: Final[dict[str, str | None]] = {
    "battery_low": "battery",
    "battery_charging": "battery_charging",
    "carbon_monoxide": "carbon_monoxide",
    "cold": "cold",
    "connectivity": "connectivity",
    "door": "door",
    "door_left_open": "problem",
    "garage_door": "garage_door",
    "gas_detected": "gas",
    "generic_boolean": None,
    "heat": "heat",
    "light": "light",
    "lock": "lock",  # 1 = unlocked, as HA's lock class
    "moisture_detected": "moisture",
    "motion": "motion",
    "moving": "moving",
    "occupancy": "occupancy",
    "occupancy_close_range": "occupancy",
    "bed_occupancy": "occupancy",
    "opening": "opening",
    "plug": "plug",
    "power": "power",
    "presence": "presence",
    "problem": "problem",
    "running": "running",
    "safety": "safety",
    "smoke": "smoke",
    "sound": "sound",
    "tamper": "tamper",
    "vibration": "vibration",
    "window": "window",
    "armed": None,
    "asleep": None,
    "wearing": None,
    "toothbrush": "running",
    "stabilized": None,
    "fingerprint": None,
    "pry_the_door": "tamper",
    "device_forcibly_removed": "tamper",
    "button_pressed": None,
}

# exact descriptions that the rules would get wrong
_EXACT: Final[dict[str, EntityKind]] = {
    "count": EntityKind(SENSOR, "Count", state_class=MEASUREMENT, precision=0),
    "channel": EntityKind(SENSOR, "Channel", state_class=None, precision=0),
    "light_level": EntityKind(SENSOR, "Light level", precision=0),
    "uv_index": EntityKind(SENSOR, "UV index", precision=1),
    "voc_index": EntityKind(SENSOR, "VOC index", precision=0),
    "nox_index": EntityKind(SENSOR, "NOx index", precision=0),
    "score": EntityKind(SENSOR, "Score", precision=0),
    "movement_count": EntityKind(SENSOR, "Movements", state_class=TOTAL_INCREASING, precision=0),
    "energy_kwh": EntityKind(SENSOR, "Energy", "energy", "kWh", TOTAL_INCREASING, 3),
    "gas_m3": EntityKind(SENSOR, "Gas", "gas", "m³", TOTAL_INCREASING, 3),
    "water_l": EntityKind(SENSOR, "Water", "water", "L", TOTAL_INCREASING, 1),
    "battery_pct": EntityKind(SENSOR, "Battery", "battery", "%", MEASUREMENT, 0, DIAGNOSTIC),
    "voltage_v": EntityKind(SENSOR, "Voltage", "voltage", "V", MEASUREMENT, 2, DIAGNOSTIC),
    "consumable_pct": EntityKind(SENSOR, "Consumable", None, "%", MEASUREMENT, 0),
    "reading_quality_pct": EntityKind(
        SENSOR, "Reading quality", None, "%", MEASUREMENT, 0, DIAGNOSTIC
    ),
    "temperature_alarm": EntityKind(SENSOR, "Temperature alarm", state_class=None, precision=0),
    "humidity_alarm": EntityKind(SENSOR, "Humidity alarm", state_class=None, precision=0),
    "direction_deg": EntityKind(SENSOR, "Direction", None, "°", MEASUREMENT, 0),
}

SKIPPED: Final[frozenset[str]] = frozenset(
    {
        "measurement_sequence",  # a packet counter: changes with every advert
        "adv_count",
        "uptime_s",
        "timestamp_s",  # the device clock
        "profile_id",
        "reading_quality_raw",
        "accelerometer_x",  # Mopeka's raw tilt, for installation only
        "accelerometer_y",
    }
)
# parsers whose distance_m is an estimate from the RSSI, not a measurement
RSSI_ESTIMATES: Final[frozenset[str]] = frozenset({"ibeacon", "altbeacon", "eddystone"})
# parsers whose tx_power_dbm is a calibration constant, not a reading
CONSTANTS: Final[frozenset[str]] = frozenset({"ibeacon", "altbeacon", "eddystone", "ruuvi"})

_NUMBERED: Final = re.compile(r"^(?P<base>.*?)_(?P<qual>(?:probe_)?\d+)$")


def _label(words: str) -> str:
    text = words.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def split_unit(metric: str) -> tuple[str, str | None]:
    """``temperature_probe_1_c`` -> (``temperature_probe_1``, ``c``); no suffix -> (name, None)."""
    for suffix in _SUFFIXES:
        if metric.endswith("_" + suffix) and len(metric) > len(suffix) + 1:
            return metric[: -len(suffix) - 1], suffix
    return metric, None


def offered(metric: str, parser: str) -> bool:
    """Whether ``metric`` from ``parser`` becomes an HA entity (see ``SKIPPED``)."""
    if metric in SKIPPED:
        return False
    if metric == "distance_m" and parser in RSSI_ESTIMATES:
        return False
    return not (metric == "tx_power_dbm" and parser in CONSTANTS)


def describe(metric: str) -> EntityKind:
    """The HA description of a metric (always one: unknown names become plain sensors)."""
    exact = _EXACT.get(metric)
    if exact is not None:
        return exact
    if metric in _BINARY:
        return EntityKind(BINARY_SENSOR, _label(metric), _BINARY[metric], state_class=None)
    base, suffix = split_unit(metric)
    qualifier = ""
    m = _NUMBERED.match(base)
    if m:
        base, qualifier = m.group("base"), m.group("qual")
    if suffix is None:
        return EntityKind(SENSOR, _label(metric), precision=None)
    unit, unit_class, precision = _UNITS[suffix]
    device_class = _BASE_CLASS.get(base, unit_class)
    label = _label(base + (" " + qualifier if qualifier else ""))
    if base.startswith(("low_temperature_alarm", "temperature_alarm")):
        # alarm thresholds: settings of the probe, not measurements
        return EntityKind(SENSOR, label, "temperature", unit, None, precision, DIAGNOSTIC)
    category = DIAGNOSTIC if device_class == "signal_strength" else None
    # HA allows only totals for meter-like classes (a volume that went through a meter)
    state_class = TOTAL if device_class in _TOTALS else MEASUREMENT
    return EntityKind(SENSOR, label, device_class, unit, state_class, precision, category)
