"""Every discovery message the bridge emits, checked by Home Assistant's own code.

The tracker is fed every test vector our parsers decode (so every metric they produce), every
metric of the BTHome object table and a scanner heartbeat; each config it publishes goes to
``ha_probe.py validate`` under HA 2024.1's Python: the MQTT discovery topic pattern, the
sensor/binary_sensor discovery schema and its strict form (no unknown keys), the device, origin
and availability schemas, and HA's table of units and state classes per device class.
"""

from __future__ import annotations

from collections import defaultdict

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.bthome_objects import BIN, NUM, OBJECTS
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.hass import discovery as disc
from bt_mqtt.subscriber.hass.config import HomeAssistantConfig
from bt_mqtt.subscriber.hass.entities import SKIPPED, describe, offered
from bt_mqtt.subscriber.hass.tracker import Tracker
from tests.fixtures.homeassistant import validate_discovery
from tests.parsers.vector_load import groups, load_vectors


def decoded_vectors() -> list[tuple[Advert, ParseResult]]:
    reg = Registry.default(plugins=False, theengs=False)
    out = []
    for group in groups(load_vectors()):
        ctx = ParseContext()
        for v in group:
            if v.bindkey:
                ctx.bindkeys[v.advert.mac.upper()] = v.bindkey
            try:
                result = reg.parse(v.advert, ctx)
            except Exception:  # negative vectors: the parser tests judge them
                continue
            if result is not None and result.readings:
                out.append((v.advert, result))
    return out


def all_configs() -> tuple[dict[str, bytes], dict[str, set[str]]]:
    """Every config topic -> payload the tracker publishes, and metric -> parsers seen."""
    topics = Topics()
    tracker = Tracker(HomeAssistantConfig(discovery=True), Devices(), topics, "test")
    configs: dict[str, bytes] = {}
    seen: dict[str, set[str]] = defaultdict(set)
    now = 1000.0
    for i, (advert, result) in enumerate(decoded_vectors()):
        # one device per vector (vectors reuse addresses); public so none is refused
        mac = f"02:00:00:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"
        adv = Advert(mac=mac, rssi=-60, address_type="public", name=advert.name)
        for metric in result.readings:
            seen[metric].add(result.parser)
        for msg in tracker.advert(now, "scanner-1", adv, result):
            if msg.topic.endswith("/config"):
                configs[msg.topic] = msg.payload
    bthome = ParseResult(
        "bthome",
        readings={entry[0]: 1.0 for entry in OBJECTS.values() if entry[5] in (NUM, BIN)},
    )
    adv = Advert(mac="02:FF:FF:FF:FF:FF", rssi=-50, address_type="public")
    hb = {"status": "online", "version": "1.2.3", "received_per_s": 3.5}
    for msg in tracker.advert(now, "scanner-2", adv, bthome) + tracker.heartbeat(
        now, "scanner-2", hb
    ):
        if msg.topic.endswith("/config"):
            configs[msg.topic] = msg.payload
    # alerts: on a scanner, on a known device, on a device HA has not seen otherwise
    for kind, subject in (
        ("scanner_offline", "scanner-2"),
        ("battery_low", "02:FF:FF:FF:FF:FF"),
        ("freezer_warm", "02:EE:EE:EE:EE:EE"),
    ):
        for msg in tracker.alert(kind, subject, present=True):
            configs[msg.topic] = msg.payload
    return configs, seen


def test_every_discovery_payload_passes_home_assistants_schemas() -> None:
    configs, seen = all_configs()
    offered_metrics = {m for m, parsers in seen.items() if any(offered(m, p) for p in parsers)}
    # the vectors exercise most of what the parsers can say: a shrinking set means lost coverage
    assert len(offered_metrics) >= 100, sorted(offered_metrics)
    scanner_configs = [t for t in configs if "/btmqtt_scanner_" in t and "/alert_" not in t]
    assert len(scanner_configs) == len(disc.SCANNER_ENTITIES) * 2
    assert len([t for t in configs if "/alert_" in t]) == 3
    verdict = validate_discovery(sorted(configs.items()))
    assert verdict["version"] == "2024.1.6"
    assert verdict["checked"] == len(configs)
    assert verdict["problems"] == []


def test_every_decoded_metric_is_offered_or_deliberately_skipped() -> None:
    _, seen = all_configs()
    for metric, parsers in seen.items():
        for parser in parsers:
            if not offered(metric, parser):
                assert metric in SKIPPED or metric in ("distance_m", "tx_power_dbm"), (
                    metric,
                    parser,
                )


def test_known_metrics_get_the_device_class_and_unit_users_expect() -> None:
    expect = {
        "temperature_c": ("sensor", "temperature", "°C", "measurement"),
        "temperature_probe_2_c": ("sensor", "temperature", "°C", "measurement"),
        "humidity_pct": ("sensor", "humidity", "%", "measurement"),
        "pressure_hpa": ("sensor", "atmospheric_pressure", "hPa", "measurement"),
        "battery_pct": ("sensor", "battery", "%", "measurement"),
        "voltage_v": ("sensor", "voltage", "V", "measurement"),
        "co2_ppm": ("sensor", "carbon_dioxide", "ppm", "measurement"),
        "pm25_ugm3": ("sensor", "pm25", "µg/m³", "measurement"),
        "illuminance_lux": ("sensor", "illuminance", "lx", "measurement"),
        "moisture_pct": ("sensor", "moisture", "%", "measurement"),
        "mass_kg": ("sensor", "weight", "kg", "measurement"),
        "energy_kwh": ("sensor", "energy", "kWh", "total_increasing"),
        "tank_level_mm": ("sensor", "distance", "mm", "measurement"),
        "door": ("binary_sensor", "door", None, None),
        "motion": ("binary_sensor", "motion", None, None),
    }
    for metric, (platform, device_class, unit, state_class) in expect.items():
        kind = describe(metric)
        got = (kind.platform, kind.device_class, kind.unit, kind.state_class)
        assert got == (platform, device_class, unit, state_class), metric
