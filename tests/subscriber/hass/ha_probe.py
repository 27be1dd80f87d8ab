"""A real Home Assistant (run under its own Python: ``.venv-ha/bin/python``) for the tests.

``ha_probe.py validate [PREFIX]`` reads a JSON list of ``[topic, payload]`` pairs on stdin and
prints ``{"version": ..., "problems": [...]}``: what HA's own discovery schemas and unit/state
class tables say about each (``validate`` below).

``ha_probe.py run CONFIG_DIR BROKER_HOST BROKER_PORT [PREFIX]`` starts Home Assistant in this
process with only its MQTT integration, connected to the broker with discovery on, prints
``{"event": "started"}``, then answers one JSON line per command read on stdin: ``dump`` (every
MQTT entity with its state, attributes, registry entry and device) or ``stop``.

Lines HA logs at WARNING or above are collected and returned with every ``dump``.
This file must import nothing from BT-MQTT (it runs in another virtualenv).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import voluptuous as vol
from homeassistant import bootstrap
from homeassistant.components import sensor as ha_sensor
from homeassistant.components.mqtt import binary_sensor as mqtt_binary_sensor
from homeassistant.components.mqtt import sensor as mqtt_sensor
from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS
from homeassistant.components.mqtt.discovery import (
    MQTT_ORIGIN_INFO_SCHEMA,
    SUPPORTED_COMPONENTS,
    TOPIC_MATCHER,
)
from homeassistant.components.mqtt.mixins import (
    MQTT_AVAILABILITY_LIST_SCHEMA,
    MQTT_ENTITY_DEVICE_INFO_SCHEMA,
)
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.runner import RuntimeConfig

SCHEMAS = {
    "sensor": (mqtt_sensor.DISCOVERY_SCHEMA, mqtt_sensor._PLATFORM_SCHEMA_BASE),
    "binary_sensor": (
        mqtt_binary_sensor.DISCOVERY_SCHEMA,
        mqtt_binary_sensor._PLATFORM_SCHEMA_BASE,
    ),
}


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def validate(topic: str, payload: str, prefix: str) -> list[str]:
    """Problems HA would find with one discovery message (empty: none).

    Beyond HA's discovery schema (which drops unknown keys silently) the payload must pass the
    platform schema without extra keys, and a sensor's unit and state class must be ones HA
    accepts for its device class (HA only logs a warning for those at run time).
    """
    problems: list[str] = []
    if not topic.startswith(prefix + "/"):
        return [f"{topic}: not under the discovery prefix {prefix!r}"]
    match = TOPIC_MATCHER.match(topic[len(prefix) + 1 :])
    if not match:
        return [f"{topic}: not a valid discovery topic"]
    component = match.group("component")
    if component not in SUPPORTED_COMPONENTS or component not in SCHEMAS:
        return [f"{topic}: component {component!r} not checked here"]
    try:
        config = json.loads(payload)
    except ValueError as exc:
        return [f"{topic}: not JSON: {exc}"]
    for key in config:
        if ABBREVIATIONS.get(key, key) != key:
            problems.append(f"{topic}: abbreviated key {key!r} (we publish full names)")
    for key in config.get("device", {}):
        if DEVICE_ABBREVIATIONS.get(key, key) != key:
            problems.append(f"{topic}: abbreviated device key {key!r}")
    discovery, strict = SCHEMAS[component]
    for name, schema in (("discovery", discovery), ("strict", strict)):
        try:
            schema(dict(config))
        except vol.Invalid as exc:
            problems.append(f"{topic}: {name} schema: {exc}")
    try:
        MQTT_ENTITY_DEVICE_INFO_SCHEMA(config.get("device"))
        if "origin" in config:
            MQTT_ORIGIN_INFO_SCHEMA(config["origin"])
        if "availability" in config:
            MQTT_AVAILABILITY_LIST_SCHEMA({"availability": config["availability"]})
    except vol.Invalid as exc:
        problems.append(f"{topic}: device/origin/availability: {exc}")
    if component == "sensor":
        dc, unit, sc = (
            config.get("device_class"),
            config.get("unit_of_measurement"),
            config.get("state_class"),
        )
        if dc is not None and dc not in {c.value for c in ha_sensor.SensorDeviceClass}:
            problems.append(f"{topic}: {dc!r} is not a sensor device class")
        elif dc is not None:
            units = ha_sensor.DEVICE_CLASS_UNITS.get(ha_sensor.SensorDeviceClass(dc))
            if units is not None and unit not in units:
                problems.append(f"{topic}: unit {unit!r} is not valid for device class {dc}")
            classes = ha_sensor.DEVICE_CLASS_STATE_CLASSES.get(ha_sensor.SensorDeviceClass(dc))
            if sc is not None and classes is not None and sc not in classes:
                problems.append(f"{topic}: state class {sc!r} is not valid for {dc}")
    if "unique_id" not in config:
        problems.append(f"{topic}: no unique_id")
    return problems


def write_config(config_dir: str, host: str, port: int, prefix: str) -> None:
    os.makedirs(os.path.join(config_dir, ".storage"), exist_ok=True)
    with open(os.path.join(config_dir, "configuration.yaml"), "w") as f:
        f.write(
            "homeassistant:\n  name: test\n  unit_system: metric\n  time_zone: UTC\n"
            "  latitude: 0\n  longitude: 0\n  elevation: 0\n  country: DE\n"
        )
    entry = {
        "entry_id": "btmqtttestentry",
        "version": 1,
        "minor_version": 1,
        "domain": "mqtt",
        "title": "test broker",
        "data": {"broker": host, "port": port, "discovery": True, "discovery_prefix": prefix},
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "unique_id": None,
        "disabled_by": None,
    }
    path = os.path.join(config_dir, ".storage", "core.config_entries")
    if not os.path.exists(path):
        with open(path, "w") as f:
            json.dump(
                {
                    "version": 1,
                    "minor_version": 1,
                    "key": "core.config_entries",
                    "data": {"entries": [entry]},
                },
                f,
            )


def dump(hass: Any, collect: Collect) -> dict[str, Any]:
    ents = er.async_get(hass)
    devs = dr.async_get(hass)
    out = []
    for entry in ents.entities.values():
        if entry.platform != "mqtt":
            continue
        state = hass.states.get(entry.entity_id)
        dev = devs.async_get(entry.device_id) if entry.device_id else None
        via = devs.async_get(dev.via_device_id) if dev and dev.via_device_id else None
        out.append(
            {
                "entity_id": entry.entity_id,
                "unique_id": entry.unique_id,
                "domain": entry.domain,
                "disabled": entry.disabled_by is not None,
                "entity_category": entry.entity_category,
                "state": state.state if state else None,
                "attributes": dict(state.attributes) if state else None,
                "device": None
                if dev is None
                else {
                    "name": dev.name,
                    "identifiers": sorted(list(i) for i in dev.identifiers),
                    "connections": sorted(list(c) for c in dev.connections),
                    "manufacturer": dev.manufacturer,
                    "model": dev.model,
                    "sw_version": dev.sw_version,
                    "area_id": dev.area_id,
                    "suggested_area": dev.suggested_area,
                    "via": None if via is None else sorted(list(i) for i in via.identifiers),
                },
            }
        )
    return {"entities": out, "devices": len(devs.devices), "log": list(collect.lines)}


async def run(config_dir: str, host: str, port: int, prefix: str) -> int:
    write_config(config_dir, host, port, prefix)
    hass = await bootstrap.async_setup_hass(
        RuntimeConfig(config_dir=config_dir, skip_pip=True, log_no_color=True)
    )
    if hass is None:
        emit(json.dumps({"event": "failed"}))
        return 1
    collect = Collect()
    logging.getLogger().addHandler(collect)
    await hass.async_start()
    emit(json.dumps({"event": "started", "version": HA_VERSION}))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "stop":
            break
        if line == "dump":
            await hass.async_block_till_done()
            emit(json.dumps(dump(hass, collect), default=str))
    await hass.async_stop()
    emit(json.dumps({"event": "stopped"}))
    return 0


def main() -> int:
    if sys.argv[1] == "validate":
        prefix = sys.argv[2] if len(sys.argv) > 2 else "homeassistant"
        msgs = json.load(sys.stdin)
        problems = [p for topic, payload in msgs for p in validate(topic, payload, prefix)]
        emit(json.dumps({"version": HA_VERSION, "checked": len(msgs), "problems": problems}))
        return 0
    prefix = sys.argv[5] if len(sys.argv) > 5 else "homeassistant"
    return asyncio.run(run(sys.argv[2], sys.argv[3], int(sys.argv[4]), prefix))


if __name__ == "__main__":
    sys.exit(main())
