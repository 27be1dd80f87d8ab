"""A real Home Assistant (2024.1.6, its MQTT integration) against a real Mosquitto and the bridge.

What a user sees: the devices and scanners appear by themselves with the right units, classes,
names, area and via-device; corrected values; values at once after HA restarts; a scanner's
last will turns it offline; alerts are problem binary sensors on their scanner or device,
following firing/resolved; a device the configuration excludes disappears; the bridge going
away makes its entities unavailable.
"""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import pytest

from bt_mqtt.demo import encoders
from bt_mqtt.subscriber.devicesettings import DeviceSettings
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import read_retained
from tests.fixtures.waiting import wait_until
from tests.subscriber.hass.helpers import SCANNER, RunningBridge, advert, config, heartbeat, publish

pytestmark = pytest.mark.slow

ATC = "A4:C1:38:12:34:56"
BTHOME = "D4:11:22:33:44:55"  # random static: a sensor's
PHONE = "5A:11:22:33:44:55"  # resolvable private: a phone's


def traffic(broker: Broker, seq0: int = 1) -> None:
    advert(broker, encoders.atc1441(ATC, -55, 1, 21.7, 45, 80, 2.95), seq0)
    sensor = encoders.bthome_plain(BTHOME, -70, 1, 19.25, 51.5, 64)
    advert(broker, attrs.evolve(sensor, address_type="random"), seq0 + 1)
    # decodable, but from a private address that changes every few minutes: never offered
    phone = encoders.bthome_plain(PHONE, -60, 1, 30.0, 20.0, 99)
    advert(broker, attrs.evolve(phone, address_type="random"), seq0 + 2)


def uid(mac: str, metric: str) -> str:
    return f"btmqtt_{mac.replace(':', '').lower()}_{metric}"


def test_home_assistant_shows_devices_and_scanners(mosquitto: Broker, home_assistant: Any) -> None:
    ha = home_assistant(mosquitto)
    bridge = RunningBridge(
        config(
            mosquitto,
            **{
                ATC: DeviceSettings(name="Kitchen", area="Kitchen", offsets={"temperature_c": -0.5})
            },
        )
    )
    try:
        heartbeat(mosquitto)
        wait_until(  # the bridge says online once subscribed: adverts before that are not heard
            lambda: read_retained(mosquitto, "bt-mqtt/ha/status") == b"online", "the bridge", 30
        )
        traffic(mosquitto)
        temp = uid(ATC, "temperature_c")
        ents = ha.wait_for(
            lambda e: (
                e.get(temp, {}).get("state") == "21.2"
                and e.get(uid(BTHOME, "humidity_pct"), {}).get("state") == "51.5"
                and e.get(f"btmqtt_scanner_{SCANNER}_adverts_per_s", {}).get("state") == "12.5"
            )
        )
        t = ents[temp]
        assert t["entity_id"] == "sensor.kitchen_temperature"
        assert t["attributes"]["unit_of_measurement"] == "°C"
        assert t["attributes"]["device_class"] == "temperature"
        assert t["attributes"]["state_class"] == "measurement"
        assert t["device"]["name"] == "Kitchen"
        assert t["device"]["suggested_area"] == "Kitchen"
        assert t["device"]["area_id"] == "kitchen"
        assert t["device"]["via"] == [["mqtt", f"btmqtt_scanner_{SCANNER}"]]
        assert t["device"]["connections"] == [["mac", ATC.lower()]]
        batt = ents[uid(ATC, "battery_pct")]
        assert (batt["state"], batt["attributes"]["device_class"]) == ("80", "battery")
        assert batt["entity_category"] == "diagnostic"
        assert ents[uid(ATC, "humidity_pct")]["attributes"]["unit_of_measurement"] == "%"
        assert ents[uid(BTHOME, "temperature_c")]["state"] == "19.25"
        assert not [u for u in ents if "5a1122334455" in u]  # the phone
        status = ents[f"btmqtt_scanner_{SCANNER}_status"]
        assert (status["state"], status["attributes"]["device_class"]) == ("on", "connectivity")
        assert status["device"]["name"] == f"BT-MQTT scanner {SCANNER}"
        assert status["device"]["sw_version"] == "0.1.0"
        assert ents[f"btmqtt_scanner_{SCANNER}_cpu_pct"]["state"] == "7.5"
        log = ha.dump()["log"]
        assert not [line for line in log if "mqtt" in line or "sensor" in line], log

        # HA restarts: with no new advert, every entity has its value within seconds (not
        # "unknown" until the value next changes), and no duplicates appear
        values = {u: e["state"] for u, e in ents.items()}
        ha.stop()
        ha.start()
        ents = ha.wait_for(lambda e: {u: x["state"] for u, x in e.items()} == values, timeout=15)
        assert len(ents) == len(values)
        # HA's birth message (after its discovery cool-down) reached the bridge, which said
        # everything again: still no duplicates, same values
        deadline = time.monotonic() + 30
        while bridge.bridge.stats["births"] < 1:
            assert time.monotonic() < deadline, "the bridge never saw HA's birth message"
            time.sleep(0.2)
        time.sleep(2)  # birth_delay_s, then the states
        assert {u: e["state"] for u, e in ha.entities().items()} == values

        # the scanner's last will: offline, its figures unavailable
        publish(
            mosquitto,
            f"bt-mqtt/scanner/{SCANNER}/status",
            json.dumps({"status": "offline", "scanner_id": SCANNER, "reason": "gone"}).encode(),
            retain=True,
        )
        ents = ha.wait_for(lambda e: e[f"btmqtt_scanner_{SCANNER}_status"]["state"] == "off")
        assert ents[f"btmqtt_scanner_{SCANNER}_cpu_pct"]["state"] == "unavailable"

        # alerts: a problem binary sensor on the scanner it concerns, on while firing
        alert_topic = f"bt-mqtt/alert/scanner_offline/{SCANNER}"
        body = {"state": "firing", "kind": "scanner_offline", "subject": SCANNER, "message": "x"}
        publish(mosquitto, alert_topic, json.dumps(body).encode(), retain=True)
        alert = f"btmqtt_scanner_{SCANNER}_alert_scanner_offline"
        ents = ha.wait_for(lambda e: e.get(alert, {}).get("state") == "on")
        assert ents[alert]["attributes"]["device_class"] == "problem"
        assert ents[alert]["attributes"]["message"] == "x"
        assert ents[alert]["device"]["name"] == f"BT-MQTT scanner {SCANNER}"
        battery = f"{uid(ATC, '')}alert_battery_low"
        low = {"state": "firing", "kind": "battery_low", "subject": ATC, "message": "low"}
        publish(mosquitto, f"bt-mqtt/alert/battery_low/{ATC}", json.dumps(low).encode(), True)
        ents = ha.wait_for(lambda e: e.get(battery, {}).get("state") == "on")
        assert ents[battery]["device"]["name"] == "Kitchen"  # the thermometer's own device
        body["state"] = "resolved"
        publish(mosquitto, alert_topic, json.dumps(body).encode(), retain=True)
        ha.wait_for(lambda e: e[alert]["state"] == "off")
    finally:
        bridge.stop()
    # the bridge stopped: its device entities are unavailable
    ents = ha.wait_for(lambda e: e[temp]["state"] == "unavailable")

    # the kitchen thermometer is now ignored: its entities go, the other device stays
    bridge = RunningBridge(config(mosquitto, **{ATC: DeviceSettings(ignore=True)}))
    try:
        ents = ha.wait_for(lambda e: temp not in e and uid(BTHOME, "temperature_c") in e)
        assert not [u for u in ents if u.startswith(uid(ATC, ""))]
        assert ents[uid(BTHOME, "temperature_c")]["state"] == "19.25"
    finally:
        bridge.stop()
