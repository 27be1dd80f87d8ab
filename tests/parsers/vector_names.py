"""How the vectors' field names map to ours, and which vector formats form which family.

Add a row to ``ALIASES`` when a source names a metric differently from us; a suffix rule in
``map_key`` handles unit changes (``_pa`` -> ``_hpa``, ``_mv`` -> ``_v``, ``_lx`` -> ``_lux``).
``NOT_PAYLOAD`` lists keys that are the source library's bookkeeping, not payload data.
``FAMILIES`` (regex on the vector's ``format``, family name, supported?) groups the docs table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bt_mqtt.parsers import mopeka, switchbot
from bt_mqtt.parsers.api import ParseContext

# Source-library naming, not payload data (README caveats), and spec walk-through intermediates.
NOT_PAYLOAD: frozenset[str] = frozenset(
    {
        "device",
        "title",
        "firmware",
        "device_type",
        "model",
        "modelName",
        "modelFriendlyName",
        "rssi_dbm",
        "_result_text",
        "_state_text",
        "counter_bytes_le",
        "nonce_hex",
        "ciphertext_hex",
        "mic_hex",
        "active",  # pySwitchbot: whether the advert came with a scan response (active scan)
    }
)

# (vector format, expected key) -> why the published value is not payload data and is not compared.
# Each use is listed in the docs table, so nothing is skipped silently.
DERIVED: dict[tuple[str, str], str] = {
    ("atc_custom_encrypted", "voltage_v"): (
        "ble_monitor estimates voltage from battery % (the encrypted pvvx frame has no voltage)"
    ),
}
_SWITCHBOT_WITH_F: tuple[str, ...] = ("WoSensorTH", "WoHub2", "WoIOSensorTH", "WoTHP", "WoTHPc")
_SWITCHBOT_WITH_F += ("HubMini_Matter", "Hub3", "Weather_Station")
DERIVED.update(
    {
        (f"switchbot_{model}", "temperature_f"): "pySwitchbot converts temperature_c to °F"
        for model in _SWITCHBOT_WITH_F
    }
)

# expected key -> (our key, factor applied to the expected value)
ALIASES: dict[str, tuple[str, float]] = {
    "pressure_pa": ("pressure_hpa", 0.01),
    "dew_point_c": ("dewpoint_c", 1.0),
    "voc_ugm3": ("tvoc_ugm3", 1.0),
    "generic": ("generic_boolean", 1.0),
    "binary": ("generic_boolean", 1.0),
    "switch": ("power", 1.0),
    "battery low": ("battery_low", 1.0),
    "gas detected": ("gas_detected", 1.0),
    "moisture detected": ("moisture_detected", 1.0),
    "garage door": ("garage_door", 1.0),
    "battery charging": ("battery_charging", 1.0),
    "carbon monoxide": ("carbon_monoxide", 1.0),
    "weight": ("mass_kg", 1.0),
    "energy": ("energy_kwh", 1.0),
    "uv index": ("uv_index", 1.0),
    "volume": ("volume_l", 1.0),
    "volume mL": ("volume_ml", 1.0),
    "volume flow rate": ("volume_flow_rate_m3_h", 1.0),
    "water": ("water_l", 1.0),
    "acceleration": ("acceleration_ms2", 1.0),
    "gyroscope": ("gyroscope_deg_s", 1.0),
    "rotation": ("rotation_deg", 1.0),
    "distance mm": ("distance_mm", 1.0),
    "distance": ("distance_m", 1.0),
    "duration": ("duration_s", 1.0),
    "current": ("current_a", 1.0),
    "speed": ("speed_m_s", 1.0),
    "timestamp_epoch_s": ("timestamp_s", 1.0),
    "counter": ("encryption_counter", 1.0),
    "formaldehyde_mgm3": ("formaldehyde_mg_m3", 1.0),
    "movement_counter": ("movement_count", 1.0),
    "sec_cnt_raw": ("uptime_s", 0.1),
    "battery_voltage_mv": ("voltage_v", 0.001),
    "measured power": ("tx_power_dbm", 1.0),
    "battery_voltage_v": ("voltage_v", 1.0),
    "isEncrypted": ("encrypted", 1.0),
    "lightLevel": ("light_level", 1.0),
    "illuminance": ("illuminance_lux", 1.0),
    "sequence_number": ("measurement_sequence", 1.0),
    "motion_detected": ("motion", 1.0),
    "isOn": ("power", 1.0),
    "is_light": ("light", 1.0),
    "temp_alarm": ("temperature_alarm", 1.0),
}

# Keys whose meaning depends on the value's type: a boolean is a binary sensor.
_BOOL_ALIASES: dict[str, str] = {
    "battery": "battery_low",
    "gas": "gas_detected",
    "moisture": "moisture_detected",
    "power": "power",
}
_NUM_ALIASES: dict[str, str] = {"power": "power_w", "gas": "gas_m3", "moisture": "moisture_pct"}

_FIRST_INDEX = re.compile(r"^(.*)_1_([a-z0-9]+)$")

FAMILIES: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(p), name, supported)
    for p, name, supported in [
        (r"^bthome_v1", "BTHome v1", True),
        (r"^bthome_v2", "BTHome v2", True),
        (r"^atc_", "ATC1441 / pvvx", True),
        (r"^xiaomi_mibeacon", "Xiaomi MiBeacon", True),
        (r"^xiaomi_other", "Xiaomi scales / other UUIDs", True),
        (r"^ruuvi", "Ruuvi", True),
        (r"^(ibeacon|ble_monitor_ibeacon)", "iBeacon", True),
        (r"^altbeacon", "AltBeacon", True),
        (r"^eddystone", "Eddystone", True),
        (r"^govee", "Govee", True),
        (r"^inkbird", "Inkbird", True),
        (r"^sensorpush", "SensorPush", True),
        (r"^qingping", "Qingping", True),
        (r"^switchbot", "SwitchBot", True),
        (r"^thermobeacon", "ThermoBeacon", True),
        (r"^bluemaestro", "BlueMaestro", True),
        (r"^mopeka", "Mopeka", True),
        (r"^negative$", "Negative (must not decode)", True),
    ]
]


def family_of(fmt: str) -> str:
    """The docs-table family of a vector ``format`` (the format itself if none matches)."""
    for pattern, name, _ in FAMILIES:
        if pattern.search(fmt):
            return name
    return fmt


def family_supported(family: str) -> bool:
    """Whether a built-in parser is meant to cover the family (the 97% target applies)."""
    return any(name == family and supported for _, name, supported in FAMILIES)


def norm_event(text: str) -> str:
    """Event and state names compared case- and separator-insensitively."""
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def map_key(key: str, value: Any) -> tuple[str, float]:
    """Our metric/fact name for an expected key, and the factor for the expected value."""
    if key in ALIASES:
        return ALIASES[key]
    if isinstance(value, bool) and key in _BOOL_ALIASES:
        return _BOOL_ALIASES[key], 1.0
    if key in _NUM_ALIASES and not isinstance(value, bool) and value is not None:
        return _NUM_ALIASES[key], 1.0
    m = _FIRST_INDEX.match(key)
    if m and "probe" not in key:  # numbered probes keep their index (temperature_probe_1_c)
        key = f"{m.group(1)}_{m.group(2)}"
    key = key.replace(" ", "_")
    if key.endswith("_lx"):
        return key[:-3] + "_lux", 1.0
    if key.endswith("_mv"):
        return key[:-3] + "_v", 0.001
    if key.endswith("_pa"):
        return key[:-3] + "_hpa", 0.01
    return key, 1.0


def _switchbot_model_hint(ctx: ParseContext, mac: str, raw: dict[str, Any]) -> None:
    if raw.get("model_hint"):
        switchbot.set_model(ctx, mac, raw["model_hint"])


def _mopeka_air(ctx: ParseContext, mac: str, raw: dict[str, Any]) -> None:
    mopeka.set_medium(ctx, mac, "air")


# Configuration a source test handed its decoder, re-created in our ParseContext before the
# vector is decoded: (regex on the vector's ``source``, setup(ctx, mac, raw vector)).
CONTEXT_SETUP: list[tuple[re.Pattern[str], Callable[[ParseContext, str, dict[str, Any]], None]]] = [
    (re.compile(r"pySwitchbot/"), _switchbot_model_hint),  # parse_advertisement_data(model=...)
    (re.compile(r"mopeka-iot-ble/.*::test_tdr40_air"), _mopeka_air),  # MediumType.AIR
]


# --- Xiaomi MiBeacon: the two source libraries' conventions -------------------------------
# ble_monitor publishes events as flat keys whose value is the action; these keys say "an event
# with this action happened" (any button): the action is compared, the key name is naming.
EVENT_ACTION_KEYS: frozenset[str] = frozenset(
    {"button", "dimmer", "button switch", "result", "action", "door action"}
)
# ble_monitor action words -> ours (the same payload value, other spelling).
EVENT_SYNONYMS: dict[str, str] = {
    "single_press": "press",
    "short_press": "press",
    "toggle": "press",
    "left": "rotate_left",
    "right": "rotate_right",
    "rotate_left_(pressed)": "rotate_left_pressed",
    "rotate_right_(pressed)": "rotate_right_pressed",
    "low_quality_(too_light,_fuzzy)": "low_quality_too_light_fuzzy",
    "lock": "lock",
}
# ble_monitor's YLYK01YL remote button names -> the button key suffix we (and xiaomi-ble) use.
_REMOTE_BUTTONS: dict[str, str] = {"sun": "brightness", "+": "plus", "m": "M", "-": "min"}
_QUAD = {"1": "left", "2": "mid_left", "3": "mid_right", "4": "right"}
_SWITCH_KEY = re.compile(r"^(one|two|three|four) btn switch ?(.*)$")


def event_key_for(key: str, want: Any) -> str | None:
    """The event key a ble_monitor "which button" key names (``remote``, ``two btn switch
    left``...), or None if ``key`` is not one of them."""
    if key == "remote":
        name = str(want)
        return f"button_{_REMOTE_BUTTONS.get(name, name)}"
    m = _SWITCH_KEY.match(key)
    if m is None:
        return None
    which = m.group(2)
    if not which:
        return "button"
    return f"button_{_QUAD.get(which, which)}"


def norm_action(text: str) -> str:
    """An event action compared across libraries (``single press`` == ``press``)."""
    n = norm_event(text)
    return EVENT_SYNONYMS.get(n, n)


# xiaomi-ble's event_properties names -> the names of our event's extras.
EVENT_PROPERTIES: dict[str, str] = {
    "number_of_presses": "presses",
    "steps": "steps",
    "duration": "duration_s",
}

_XIAOMI = re.compile(r"^xiaomi_mibeacon")
_XIAOMI_BLE = re.compile(r"^Bluetooth-Devices/xiaomi-ble/")
_BLE_MONITOR_XIAOMI = re.compile(r"^custom-components/ble_monitor/test/test_xiaomi_parser\.py")

# (regex on the vector's format, expected key) -> (our key, factor): per-format aliases.
FORMAT_ALIASES: list[tuple[re.Pattern[str], dict[str, tuple[str, float]]]] = [
    (
        _XIAOMI,
        {
            "counter": ("count", 1.0),  # the toothbrush's brushing counter, not a crypto counter
            "method": ("lock_method", 1.0),
            "locktype": ("lock_type", 1.0),
            "error": ("lock_error", 1.0),
            "no motion time": ("no_motion_s", 1.0),
            "armed away": ("armed", 1.0),
            "pressure present duration": ("pressure_present_duration_s", 1.0),
            "pressure not present duration": ("pressure_not_present_duration_s", 1.0),
            "remote single press": ("power", 1.0),  # on = 1 / off = 0 of the YLYK01YL remote
            "remote long press": ("power", 1.0),
        },
    ),
]

# Keys that are a source library's bookkeeping rather than payload data.
NOT_PAYLOAD = NOT_PAYLOAD | {
    "motion timer",  # ble_monitor: "start my own timer to clear motion", not in the frame
}

DERIVED.update(
    {
        (fmt, "voltage_v"): "xiaomi-ble estimates voltage from battery % (MiBeacon has none)"
        for fmt in ("xiaomi_mibeacon", "xiaomi_mibeacon_encrypted")
    }
)

# Tests that fed a wrong key although their name does not say so: (source prefix, why).
WRONG_KEY_TESTS: dict[str, str] = {
    "custom-components/ble_monitor/test/test_xiaomi_parser.py::TestXiaomi::"
    "test_Xiaomi_RTCGQ02LM@": (
        "docstring 'with wrong encryption key'; asserts sensor_msg['data'] is False"
    ),
}

# Where the source's expectation covers adverts the vector does not carry: (test-name
# regex, keys, why).  These keys are listed as not compared; the rest of the vector is.
INCOMPLETE_INPUT: list[tuple[re.Pattern[str], frozenset[str], str]] = [
    (
        re.compile(r"xiaomi-ble/.*::test_Xiaomi_HHCCJCY01_all_values@"),
        frozenset({"illuminance_lx", "conductivity_us_cm", "moisture_pct"}),
        "xiaomi-ble fed three earlier adverts to one parser; the vector carries only the last",
    ),
]

# A source's policy applied to a published value: (source regex, key, why, our value -> theirs).
POLICIES: list[tuple[re.Pattern[str], str, str, Callable[[Any], Any]]] = [
    (
        re.compile(r"xiaomi-ble/.*::test_Xiaomi_(LYWSD03MMC|MHO_C401)"),
        "humidity_pct",
        "xiaomi-ble truncates LYWSD03MMC/MHO-C401 humidity to whole % (compared truncated)",
        lambda v: int(v) if isinstance(v, int | float) else v,
    ),
]

# Readings that a source does not publish although the payload carries them, so that its
# "complete" expectation does not list them: (source regex, model regex, readings, why).
UNPUBLISHED: list[tuple[re.Pattern[str], re.Pattern[str], frozenset[str], str]] = [
    (
        _XIAOMI_BLE,
        re.compile(r".*"),
        frozenset({"no_motion_s"}),
        "xiaomi-ble does not publish the no-motion seconds of 0x1017/0x101B/0x4818",
    ),
    (
        _XIAOMI_BLE,
        re.compile(r"^MUE4094RT$"),
        frozenset({"motion"}),
        "xiaomi-ble reports 0x0003 (MUE4094RT) only as an event, not as a motion state",
    ),
]


FORMAT_ALIASES.append(
    (
        re.compile(r"^mi_scale_v[12]$"),
        {
            "non-stabilized weight": ("mass_non_stabilized_kg", 1.0),
            "weight unit": ("weight_unit", 1.0),
            "weight removed": ("weight_removed", 1.0),
            "impedance": ("impedance_ohm", 1.0),
        },
    )
)
DERIVED.update(
    {
        (fmt, "packet_id"): "ble_monitor uses the raw payload as its de-duplication id"
        for fmt in ("hhcc", "mi_scale_v1", "mi_scale_v2")
    }
)


def format_alias(fmt: str, key: str, value: Any) -> tuple[str, float] | None:
    """A per-format alias for ``key``, if one applies."""
    if key == "key id" and _XIAOMI.search(fmt) and isinstance(value, int):
        return "key_index", 1.0  # ble_monitor: the key's number (a text value is key_id)
    for pattern, table in FORMAT_ALIASES:
        if pattern.search(fmt) and key in table:
            return table[key]
    return None
