"""HA MQTT discovery topics and retained config payloads (pure: no I/O, no clock).

Every topic the HA bridge uses is built by ``Topics`` (one home; to move into
``bt_mqtt.core.topics`` once that module exists):

- ``{ha_prefix}/{platform}/{node}/{object}/config`` -- retained discovery config, one per entity;
  ``node`` is ``btmqtt_<12 hex digits of the MAC>`` or ``btmqtt_scanner_<scanner id>``.
- ``{topic_prefix}/ha/device/{hex mac}/{metric}`` -- retained state of one metric (a number, or
  ``1``/``0`` for binary sensors).
- ``{topic_prefix}/ha/scanner/{scanner_id}/{name}`` -- retained state the bridge computes for a
  scanner (``transit_loss_pct``); the rest of a scanner's entities read the agent's own status
  topic, so its last will reaches HA without the bridge.
- ``{topic_prefix}/ha/status`` -- the bridge's availability, ``online``/``offline`` (last will).
- ``{ha_prefix}/status`` -- HA's birth/will message (``online`` after HA started).

``unique_id`` is ``btmqtt_<hex mac>_<metric>`` (``btmqtt_scanner_<id>_<name>``): stable across
restarts, renames and corrections, so retained configs never produce duplicates.
"""

from __future__ import annotations

import json
from typing import Any, Final

from attrs import define

from bt_mqtt.subscriber.hass.entities import BINARY_SENSOR, SENSOR, EntityKind

ORIGIN_NAME: Final = "BT-MQTT"
ONLINE: Final = "online"
OFFLINE: Final = "offline"


def mac_hex(mac: str) -> str:
    """``AA:BB:CC:DD:EE:FF`` -> ``aabbccddeeff``."""
    return mac.replace(":", "").lower()


def device_node(mac: str) -> str:
    return f"btmqtt_{mac_hex(mac)}"


def scanner_node(scanner_id: str) -> str:
    return f"btmqtt_scanner_{scanner_id}"


@define(frozen=True)
class Topics:
    """The bridge's topics, from the HA discovery prefix and BT-MQTT's topic prefix."""

    ha_prefix: str = "homeassistant"
    topic_prefix: str = "bt-mqtt"

    def config(self, platform: str, node: str, object_id: str) -> str:
        return f"{self.ha_prefix}/{platform}/{node}/{object_id}/config"

    def device_state(self, mac: str, metric: str) -> str:
        return f"{self.topic_prefix}/ha/device/{mac_hex(mac)}/{metric}"

    def scanner_state(self, scanner_id: str, name: str) -> str:
        return f"{self.topic_prefix}/ha/scanner/{scanner_id}/{name}"

    def scanner_status(self, scanner_id: str) -> str:
        """The agent's heartbeat topic (retained, last will ``offline``)."""
        return f"{self.topic_prefix}/scanner/{scanner_id}/status"

    @property
    def bridge_status(self) -> str:
        return f"{self.topic_prefix}/ha/status"

    @property
    def ha_status(self) -> str:
        return f"{self.ha_prefix}/status"

    @property
    def raw_filter(self) -> str:
        return f"{self.topic_prefix}/raw/+"

    @property
    def status_filter(self) -> str:
        return f"{self.topic_prefix}/scanner/+/status"

    def config_filter(self) -> list[str]:
        """Filters matching every config this bridge may have published (for cleanup)."""
        return [f"{self.ha_prefix}/{p}/+/+/config" for p in (SENSOR, BINARY_SENSOR)]


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
        "availability": [
            {
                "topic": topics.bridge_status,
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            }
        ],
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
    status_topic = topics.scanner_status(scanner_id)
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
        cfg["availability"] = [{"topic": topics.bridge_status}]
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
