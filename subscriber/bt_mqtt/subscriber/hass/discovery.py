"""HA MQTT discovery config payloads (pure: no I/O, no clock).

The topics are built by ``bt_mqtt.core.topics.Topics`` (their one home): a retained config per
entity under HA's prefix; ``node`` is ``btmqtt_<12 hex digits of the MAC>``,
``btmqtt_scanner_<scanner id>``.  Device metrics read the bridge's retained state topics; a
scanner's entities read the agent's own status topic (so its last will reaches HA without the
bridge), except transit loss, which the bridge computes; an alert's binary sensor reads the
retained alert topic itself (so it follows the alert even while the bridge is down).

``unique_id`` is ``btmqtt_<hex mac>_<metric>`` (``btmqtt_scanner_<id>_<name>``,
``btmqtt_alert_<kind>_<subject>``): stable across restarts, renames and corrections, so
retained configs never produce duplicates.
"""

from __future__ import annotations

import json
from typing import Any, Final

from attrs import define

from bt_mqtt.core.topics import Topics
from bt_mqtt.core.topics import device_node as hex_node
from bt_mqtt.subscriber.hass.entities import BINARY_SENSOR, SENSOR, EntityKind

ORIGIN_NAME: Final = "BT-MQTT"
ONLINE: Final = "online"
OFFLINE: Final = "offline"


def device_node(mac: str) -> str:
    return f"btmqtt_{hex_node(mac)}"


def scanner_node(scanner_id: str) -> str:
    return f"btmqtt_scanner_{scanner_id}"


COMPONENTS: Final = (SENSOR, BINARY_SENSOR)  # every platform the bridge publishes configs for


def bridge_availability(topics: Topics) -> list[dict[str, str]]:
    return [
        {
            "topic": topics.bridge_status(),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
        }
    ]


@define(frozen=True)
class DeviceInfo:
    """What HA shows about a physical device."""

    mac: str
    name: str
    manufacturer: str | None = None
    model: str | None = None
    area: str | None = None
    via_scanner: str | None = None


def _origin(version: str) -> dict[str, Any]:
    return {"name": ORIGIN_NAME, "sw_version": version}


def device_block(info: DeviceInfo) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [device_node(info.mac)],
        "connections": [["mac", info.mac.lower()]],
        "name": info.name,
    }
    if info.manufacturer:
        block["manufacturer"] = info.manufacturer
    if info.model:
        block["model"] = info.model
    if info.area:
        block["suggested_area"] = info.area
    if info.via_scanner:
        block["via_device"] = scanner_node(info.via_scanner)
    return block


def entity_config(
    topics: Topics,
    info: DeviceInfo,
    metric: str,
    kind: EntityKind,
    *,
    expire_after_s: int | None,
    version: str,
) -> dict[str, Any]:
    """The discovery config of one metric of one device."""
    cfg: dict[str, Any] = {
        "name": kind.label,
        "unique_id": f"{device_node(info.mac)}_{metric}",
        "state_topic": topics.device_state(info.mac, metric),
        "availability": bridge_availability(topics),
        "device": device_block(info),
        "origin": _origin(version),
    }
    if kind.device_class is not None:
        cfg["device_class"] = kind.device_class
    if kind.platform == BINARY_SENSOR:
        cfg["payload_on"] = "1"
        cfg["payload_off"] = "0"
    else:
        if kind.unit is not None:
            cfg["unit_of_measurement"] = kind.unit
        if kind.state_class is not None:
            cfg["state_class"] = kind.state_class
        if kind.precision is not None:
            cfg["suggested_display_precision"] = kind.precision
    if kind.category is not None:
        cfg["entity_category"] = kind.category
    if not kind.enabled:
        cfg["enabled_by_default"] = False
    if expire_after_s is not None:
        cfg["expire_after"] = expire_after_s
    return cfg


@define(frozen=True)
class ScannerEntity:
    """One entity of a scanner device; ``field`` is read from the agent's heartbeat, unless
    ``bridge`` (then the bridge publishes it on ``Topics.scanner_state``)."""

    object_id: str
    platform: str
    label: str
    field: str | None
    device_class: str | None = None
    unit: str | None = None
    precision: int | None = None
    category: str | None = None
    bridge: bool = False


SCANNER_ENTITIES: Final[tuple[ScannerEntity, ...]] = (
    ScannerEntity("status", BINARY_SENSOR, "Status", "status", "connectivity"),
    ScannerEntity(
        "adverts_per_s", SENSOR, "Adverts per second", "received_per_s", None, "adverts/s", 1
    ),
    ScannerEntity(
        "published_per_s", SENSOR, "Published per second", "published_per_s", None, "adverts/s", 1
    ),
    ScannerEntity(
        "last_advert_age_s", SENSOR, "Last advert age", "last_advert_age_s", "duration", "s", 0
    ),
    ScannerEntity("cpu_pct", SENSOR, "CPU", "cpu_pct", None, "%", 1, "diagnostic"),
    ScannerEntity("rss_mb", SENSOR, "Memory", "rss_mb", "data_size", "MB", 1, "diagnostic"),
    ScannerEntity("devices_seen", SENSOR, "Devices heard", "devices_seen", None, None, 0),
    ScannerEntity("transit_loss_pct", SENSOR, "Transit loss", None, None, "%", 2, bridge=True),
)


def scanner_device(scanner_id: str, version: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [scanner_node(scanner_id)],
        "name": f"BT-MQTT scanner {scanner_id}",
        "manufacturer": ORIGIN_NAME,
        "model": "bt-mqtt-agent",
    }
    if version:
        block["sw_version"] = version
    return block


def _field_template(name: str) -> str:
    # "None" is HA's payload for "no value" (the offline last will has no figures)
    return f"{{{{ value_json.{name} if value_json.{name} is defined else None }}}}"


def scanner_config(
    topics: Topics,
    scanner_id: str,
    entity: ScannerEntity,
    *,
    agent_version: str | None,
    version: str,
) -> dict[str, Any]:
    """The discovery config of one scanner entity."""
    status_topic = topics.status(scanner_id)
    cfg: dict[str, Any] = {
        "name": entity.label,
        "unique_id": f"{scanner_node(scanner_id)}_{entity.object_id}",
        "device": scanner_device(scanner_id, agent_version),
        "origin": _origin(version),
    }
    if entity.platform == BINARY_SENSOR:
        cfg["state_topic"] = status_topic
        cfg["value_template"] = "{{ 'ON' if value_json.status == 'online' else 'OFF' }}"
    elif entity.bridge:
        cfg["state_topic"] = topics.scanner_state(scanner_id, entity.object_id)
        cfg["availability"] = [{"topic": topics.bridge_status()}]
        cfg["state_class"] = "measurement"
    else:
        cfg["state_topic"] = status_topic
        cfg["value_template"] = _field_template(entity.field or entity.object_id)
        cfg["availability"] = [
            {
                "topic": status_topic,
                "value_template": "{{ value_json.status }}",
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            }
        ]
        cfg["state_class"] = "measurement"
    if entity.device_class:
        cfg["device_class"] = entity.device_class
    if entity.unit:
        cfg["unit_of_measurement"] = entity.unit
    if entity.precision is not None and entity.platform == SENSOR:
        cfg["suggested_display_precision"] = entity.precision
    if entity.category:
        cfg["entity_category"] = entity.category
    return cfg


def bare_device(mac: str) -> dict[str, Any]:
    """The device block of a device HA has not been told about otherwise (an alert's)."""
    return {
        "identifiers": [device_node(mac)],
        "connections": [["mac", mac.lower()]],
        "name": f"BT device {mac}",
    }


def alert_label(kind: str) -> str:
    """``scanner_offline`` -> ``Alert: scanner offline``."""
    return "Alert: " + kind.replace("_", " ")


def alert_config(
    topics: Topics,
    kind: str,
    subject: str,
    node: str,
    device: dict[str, Any],
    *,
    version: str,
) -> dict[str, Any]:
    """The ``problem`` binary sensor of one alert kind and subject: on while it fires, off once
    resolved; it reads the retained alert message itself (its fields become attributes)."""
    topic = topics.alert(kind, subject)
    return {
        "name": alert_label(kind),
        "unique_id": f"{node}_alert_{kind}",
        "state_topic": topic,
        "value_template": "{{ 'ON' if value_json.state == 'firing' else 'OFF' }}",
        "json_attributes_topic": topic,
        "device_class": "problem",
        "device": device,
        "origin": _origin(version),
    }


def encode(config: dict[str, Any] | None) -> bytes:
    """A config as the retained payload; None -> the empty payload that removes the entity."""
    if config is None:
        return b""
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()


def format_value(value: float) -> str:
    """A reading as state text: integers without ``.0``, others with up to 10 significant
    digits (``21.5``, ``-0.4``, ``1013.25``)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".10g")
