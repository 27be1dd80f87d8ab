"""The bridge against a real broker: what it retains, what it rejects, and ``hass-remove``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import yaml

from bt_mqtt.core import wire
from bt_mqtt.demo import encoders
from bt_mqtt.subscriber.hass.bridge import Bridge, remove_all
from bt_mqtt.subscriber.ledger import Loss
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import read_retained
from tests.subscriber.hass.helpers import SCANNER, RunningBridge, advert, config, publish

ATC = "A4:C1:38:12:34:56"
TEMP_CONFIG = "homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config"
TEMP_STATE = "bt-mqtt/ha/device/a4c138123456/temperature_c"


def wait(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_retained_configs_states_and_rejects(mosquitto: Broker) -> None:
    bridge = RunningBridge(config(mosquitto))
    try:
        wait(lambda: read_retained(mosquitto, "bt-mqtt/ha/status") == b"online")
        adv = encoders.atc1441(ATC, -55, 1, 21.7, 45, 80, 2.95)
        advert(mosquitto, adv, 1)
        advert(mosquitto, attrs.evolve(adv, rssi=-58), 2)
        # what the planner rejects never reaches the bridge (the ingest keeps it)
        publish(mosquitto, f"bt-mqtt/raw/{SCANNER}", b"{not json")
        other = wire.encode(adv, "someone-else", "b", 1, wire.format_ts(time.time()))
        publish(mosquitto, f"bt-mqtt/raw/{SCANNER}", other)  # scanner id differs from topic
        publish(mosquitto, f"bt-mqtt/scanner/{SCANNER}/status", b"[1]")  # not a heartbeat
        stats = bridge.bridge.stats
        wait(lambda: stats["invalid"] == 1)
        assert (stats["batches"], stats["adverts"], stats["decoded"]) == (2, 2, 2)
        cfg = json.loads(read_retained(mosquitto, TEMP_CONFIG) or b"{}")
        assert cfg["unique_id"] == "btmqtt_a4c138123456_temperature_c"
        assert read_retained(mosquitto, TEMP_STATE) == b"21.7"
    finally:
        bridge.stop()
    # a clean stop says offline itself (the last will covers a crash)
    assert read_retained(mosquitto, "bt-mqtt/ha/status") == b"offline"


def test_transit_loss_comes_from_the_ingest_ledger(mosquitto: Broker) -> None:
    figures = {"pi": Loss(published=200, received=190, missing=10, agent_dropped=0)}
    bridge = Bridge(config(mosquitto), mqtt_password=None, loss=lambda: figures)
    assert bridge._loss_pct("pi") == 5.0
    assert bridge._loss_pct("other") is None
    figures["pi"] = Loss(0, 0, 0, 0)
    assert bridge._loss_pct("pi") is None


def test_hass_remove_empties_everything_the_bridge_made(mosquitto: Broker, tmp_path: Path) -> None:
    bridge = RunningBridge(config(mosquitto))
    try:
        wait(lambda: read_retained(mosquitto, "bt-mqtt/ha/status") == b"online")  # subscribed
        advert(mosquitto, encoders.atc1441(ATC, -55, 1, 21.7, 45, 80, 2.95), 1)
        wait(lambda: read_retained(mosquitto, TEMP_STATE) is not None)
    finally:
        bridge.stop()
    # someone else's discovery config under the same prefix is left alone
    publish(mosquitto, "homeassistant/sensor/other/x/config", b'{"name":"x"}', retain=True)
    path = tmp_path / "sub.yaml"
    path.write_text(yaml.safe_dump({"mqtt": {"host": mosquitto.host, "port": mosquitto.port}}))
    out = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(path), "hass-remove"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    # 4 ATC metrics and 8 scanner entities
    assert out.stdout.strip() == "removed 12 Home Assistant entities"
    assert read_retained(mosquitto, TEMP_CONFIG) is None
    assert read_retained(mosquitto, TEMP_STATE) is None
    assert (
        read_retained(mosquitto, f"homeassistant/sensor/btmqtt_scanner_{SCANNER}/cpu_pct/config")
        is None
    )
    assert read_retained(mosquitto, "homeassistant/sensor/other/x/config") == b'{"name":"x"}'
    # nothing left to remove
    assert asyncio.run(remove_all(config(mosquitto), mqtt_password=None, settle_s=1.0)) == 0


def test_subscriber_run_starts_the_bridge_beside_the_ingest(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    from tests.fixtures.waiting import wait_until  # noqa: PLC0415
    from tests.subscriber.harness import (  # noqa: PLC0415
        count,
        start_subscriber,
        stop,
        write_config,
    )

    cfg = write_config(
        tmp_path / "sub.yaml",
        mosquitto.port,
        pg_database,
        homeassistant={"discovery": True},
        devices={ATC: {"name": "Kitchen", "offsets": {"temperature_c": 0.3}}},
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_until(
            lambda: "ha_connected" in log.read_text(), "the HA bridge", 60, proc=proc, log=log
        )
        wait_until(
            lambda: "mqtt_connected" in log.read_text(), "the ingest", 60, proc=proc, log=log
        )
        advert(mosquitto, encoders.atc1441(ATC, -55, 1, 21.7, 45, 80, 2.95), 1)
        raw = "SELECT count(*) FROM raw_advertisements"
        wait_until(
            lambda: count(pg_database, raw) == 1, "the advert archived", 30, proc=proc, log=log
        )
        wait(lambda: read_retained(mosquitto, TEMP_STATE) == b"22", timeout=30)
        # the database stores the same corrected value HA shows
        temps = "SELECT round(value * 10) FROM sensor_readings WHERE metric = 'temperature_c'"
        assert count(pg_database, temps) == 220
        cfg_msg = json.loads(read_retained(mosquitto, TEMP_CONFIG) or b"{}")
        assert cfg_msg["device"]["name"] == "Kitchen"
    finally:
        assert stop(proc) == 0
    assert '"event": "ha_stopped"' in log.read_text()
    assert read_retained(mosquitto, "bt-mqtt/ha/status") == b"offline"
