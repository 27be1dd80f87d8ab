"""The HA bridge's decisions (pure): what is announced, which states are sent and when."""

from __future__ import annotations

import json
from typing import Any

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseResult
from bt_mqtt.subscriber.devicesettings import Devices, DeviceSettings
from bt_mqtt.subscriber.hass.config import HomeAssistantConfig
from bt_mqtt.subscriber.hass.tracker import Publish, Tracker

MAC = "A4:C1:38:12:34:56"
T = Topics()


def make(settings: dict[str, DeviceSettings] | None = None, **kw: Any) -> Tracker:
    return Tracker(HomeAssistantConfig(discovery=True, **kw), Devices(settings), T, "9.9")


def advert(mac: str = MAC, rssi: int = -60, address_type: str | None = "public") -> Advert:
    return Advert(mac=mac, rssi=rssi, address_type=address_type, name="ATC_123456")


def atc(temp: float = 21.5, hum: float = 40.0, **extra: float) -> ParseResult:
    return ParseResult("atc", {"temperature_c": temp, "humidity_pct": hum, **extra})


def configs(msgs: list[Publish]) -> dict[str, Any]:
    return {m.topic: json.loads(m.payload) for m in msgs if m.topic.endswith("/config")}


def states(msgs: list[Publish]) -> dict[str, str]:
    return {m.topic: m.payload.decode() for m in msgs if "/ha/device/" in m.topic}


def feed(tr: Tracker, now: float, result: ParseResult, **kw: Any) -> list[Publish]:
    scanner = kw.pop("scanner", "pi")
    kw.pop("seq", None)
    return tr.advert(now, scanner, advert(**kw), result)


def test_first_decoded_advert_announces_device_scanner_and_states() -> None:
    tr = make()
    msgs = feed(tr, 0.0, atc())
    cfg = configs(msgs)
    temp = cfg["homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config"]
    assert temp["unique_id"] == "btmqtt_a4c138123456_temperature_c"
    assert temp["device_class"] == "temperature"
    assert temp["unit_of_measurement"] == "°C"
    assert temp["state_topic"] == "bt-mqtt/ha/device/a4c138123456/temperature_c"
    assert temp["device"]["name"] == "ATC_123456"
    assert temp["device"]["via_device"] == "btmqtt_scanner_pi"
    assert temp["device"]["connections"] == [["mac", "a4:c1:38:12:34:56"]]
    assert temp["availability"][0]["topic"] == "bt-mqtt/ha/status"
    assert temp["expire_after"] == 1800  # expire_initial_s until gaps are known
    assert "homeassistant/binary_sensor/btmqtt_scanner_pi/status/config" in cfg
    assert all(m.retain for m in msgs)
    assert states(msgs) == {
        "bt-mqtt/ha/device/a4c138123456/temperature_c": "21.5",
        "bt-mqtt/ha/device/a4c138123456/humidity_pct": "40",
    }
    # a second advert with the same content: nothing new to say
    assert feed(tr, 5.0, atc(), seq=2) == []


def test_undecoded_or_private_random_addresses_never_appear() -> None:
    tr = make()
    undecoded = configs(tr.advert(0, "pi", advert(), None))
    assert undecoded and all("/btmqtt_scanner_pi/" in t for t in undecoded)  # the scanner only
    assert tr.advert(0, "pi", advert(), ParseResult("ibeacon", {})) == []
    rpa = feed(tr, 0, atc(), mac="5A:11:22:33:44:55", address_type="random")
    nrpa = feed(tr, 0, atc(), mac="1A:11:22:33:44:55", address_type="random")
    assert rpa == [] and nrpa == []
    assert tr.refused == 2
    static = feed(tr, 0, atc(), mac="D4:11:22:33:44:55", address_type="random")
    assert configs(static)  # random static addresses belong to devices, not phones


def test_allowlist_ignore_and_per_device_switch() -> None:
    listed = {MAC: DeviceSettings(name="Kitchen")}
    tr = make(listed, devices="listed")
    assert not [
        t for t in configs(feed(tr, 0, atc(), mac="A4:C1:38:00:00:01")) if "/btmqtt_a4" in t
    ]
    assert tr.refused == 1
    assert configs(feed(tr, 0, atc()))
    tr = make({MAC: DeviceSettings(ignore=True)})
    assert not [m for m in feed(tr, 0, atc()) if "btmqtt_a4c1" in m.topic]
    tr = make({MAC: DeviceSettings(homeassistant=False)})
    assert not [m for m in feed(tr, 0, atc()) if "btmqtt_a4c1" in m.topic]
    tr = make({"5A:11:22:33:44:55": DeviceSettings(homeassistant=True)})
    assert configs(feed(tr, 0, atc(), mac="5A:11:22:33:44:55", address_type="random"))


def test_name_area_and_offsets_from_the_configuration() -> None:
    settings = DeviceSettings(
        name="Kitchen", area="Kitchen", offsets={"temperature_c": -0.4, "humidity_pct": 2.5}
    )
    tr = make({MAC: settings})
    msgs = feed(tr, 0, atc(21.5, 40.0))
    temp = configs(msgs)["homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config"]
    assert temp["device"]["name"] == "Kitchen"
    assert temp["device"]["suggested_area"] == "Kitchen"
    assert states(msgs) == {
        "bt-mqtt/ha/device/a4c138123456/temperature_c": "21.1",
        "bt-mqtt/ha/device/a4c138123456/humidity_pct": "42.5",
    }


def test_sensor_changes_wait_for_min_interval_binary_changes_do_not() -> None:
    tr = make(min_interval_s=30)
    feed(tr, 0, ParseResult("bthome", {"temperature_c": 20.0, "door": 0}))
    out = feed(tr, 5, ParseResult("bthome", {"temperature_c": 20.5, "door": 1}), seq=2)
    assert states(out) == {"bt-mqtt/ha/device/a4c138123456/door": "1"}
    out = feed(tr, 10, ParseResult("bthome", {"temperature_c": 20.7, "door": 1}), seq=3)
    assert states(out) == {}
    assert states(tr.tick(29.0)) == {}
    # the newest value held back goes out once the interval has passed, and only once
    assert states(tr.tick(30.0)) == {"bt-mqtt/ha/device/a4c138123456/temperature_c": "20.7"}
    assert tr.tick(31.0) == []


def test_unchanged_state_is_refreshed_only_while_the_device_is_heard() -> None:
    tr = make()
    feed(tr, 0, atc())
    # expire_after is 1800 s: refresh an unchanged value every 600 s, if heard
    assert states(feed(tr, 599, atc(), seq=2)) == {}
    assert len(states(feed(tr, 601, atc(), seq=3))) == 2
    assert tr.tick(5000) == []  # silent device: nothing, so HA's expire_after fires


def test_expire_after_follows_the_observed_advertising_interval() -> None:
    tr = make(expire_min_s=60, expire_initial_s=1800)
    now = 0.0
    feed(tr, now, atc())
    reannounced = []
    for i in range(5):
        now += 20.0
        out = feed(tr, now, atc(), seq=i + 2)
        reannounced += list(configs(out).values())
    assert tr.expire_after(MAC) == 60  # 3 x 20 s
    assert reannounced and reannounced[-1]["expire_after"] == 60
    # adverts heard by two scanners within a second are one advert, not a 0.05 s interval
    tr.advert(now + 0.05, "other", advert(rssi=-90), atc())
    assert tr.expire_after(MAC) == 60


def test_via_device_is_the_loudest_scanner_with_hysteresis() -> None:
    tr = make()
    feed(tr, 0, atc(), scanner="far", rssi=-80)
    assert tr.via(MAC) == "far"
    feed(tr, 10, atc(), scanner="near", rssi=-78)  # not 5 dB louder
    assert tr.via(MAC) == "far"
    for i in range(10):
        feed(tr, 20 + i, atc(), scanner="near", rssi=-50, seq=i + 2)
    assert tr.via(MAC) == "far"  # held for VIA_HOLD_S after the last change
    out = feed(tr, 700, atc(), scanner="near", rssi=-50, seq=50)
    assert tr.via(MAC) == "near"
    cfg = configs(out)["homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config"]
    assert cfg["device"]["via_device"] == "btmqtt_scanner_near"


def test_ha_birth_republishes_configs_then_current_states() -> None:
    tr = make()
    feed(tr, 0, atc(22.25))
    tr.heartbeat(0, "pi", {"status": "online", "version": "1.0"})
    out = tr.ha_online()
    topics = [m.topic for m in out]
    assert "homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config" in topics
    assert "homeassistant/binary_sensor/btmqtt_scanner_pi/status/config" in topics
    last_config = max(i for i, t in enumerate(topics) if t.endswith("/config"))
    first_state = min(i for i, t in enumerate(topics) if "/ha/device/" in t)
    assert last_config < first_state
    assert states(out)["bt-mqtt/ha/device/a4c138123456/temperature_c"] == "22.25"


def test_forget_empties_configs_and_states() -> None:
    tr = make()
    feed(tr, 0, atc())
    out = tr.forget(MAC)
    assert {m.topic for m in out} == {
        "homeassistant/sensor/btmqtt_a4c138123456/temperature_c/config",
        "homeassistant/sensor/btmqtt_a4c138123456/humidity_pct/config",
        "bt-mqtt/ha/device/a4c138123456/temperature_c",
        "bt-mqtt/ha/device/a4c138123456/humidity_pct",
    }
    assert all(m.payload == b"" and m.retain for m in out)


def test_scanner_transit_loss_and_version() -> None:
    tr = make()
    assert configs(tr.advert(0, "pi", advert(), None))  # the scanner is announced
    out = tr.heartbeat(0, "pi", {"status": "online", "version": "2.0"}, 100 * 1 / 13)
    cfg = configs(out)
    assert cfg["homeassistant/sensor/btmqtt_scanner_pi/cpu_pct/config"]["device"]["sw_version"] == (
        "2.0"
    )
    loss = [m for m in out if m.topic == "bt-mqtt/ha/scanner/pi/transit_loss_pct"]
    assert loss and loss[0].payload == b"7.69"
    # no figure from the ledger (yet): nothing said
    out = tr.heartbeat(0, "pi", {"status": "online", "version": "2.0"})
    assert not [m for m in out if "transit_loss" in m.topic]


def test_alerts_become_problem_binary_sensors_on_their_scanner_or_device() -> None:
    tr = make()
    feed(tr, 0, atc())  # the device is known: the alert joins its HA device
    out = tr.alert("battery_low", MAC, present=True)
    cfg = configs(out)["homeassistant/binary_sensor/btmqtt_a4c138123456/alert_battery_low/config"]
    assert cfg["device_class"] == "problem"
    assert cfg["unique_id"] == "btmqtt_a4c138123456_alert_battery_low"
    assert (
        cfg["state_topic"]
        == cfg["json_attributes_topic"]
        == ("bt-mqtt/alert/battery_low/A4:C1:38:12:34:56")
    )
    assert "firing" in cfg["value_template"]
    assert cfg["device"]["name"] == "ATC_123456"
    assert tr.alert("battery_low", MAC, present=True) == []  # announced once
    sc = configs(tr.alert("scanner_offline", "pi", present=True))
    scfg = sc["homeassistant/binary_sensor/btmqtt_scanner_pi/alert_scanner_offline/config"]
    assert scfg["device"]["identifiers"] == ["btmqtt_scanner_pi"]
    unknown = configs(tr.alert("sensor_silent", "D4:11:22:33:44:55", present=True))
    (ucfg,) = unknown.values()
    assert ucfg["device"]["name"] == "BT device D4:11:22:33:44:55"
    assert tr.alert("custom", "not a subject", present=True) == []
    # HA restarts: the alert configs are said again
    again = configs(tr.ha_online())
    assert "homeassistant/binary_sensor/btmqtt_scanner_pi/alert_scanner_offline/config" in again
    # the alert's retained topic emptied: its entity goes
    gone = tr.alert("scanner_offline", "pi", present=False)
    assert [(m.topic, m.payload) for m in gone] == [
        ("homeassistant/binary_sensor/btmqtt_scanner_pi/alert_scanner_offline/config", b"")
    ]


def test_alerts_of_devices_kept_out_of_ha_are_not_offered() -> None:
    tr = make({MAC: DeviceSettings(ignore=True)})
    assert tr.alert("battery_low", MAC, present=True) == []
    listed = make({MAC: DeviceSettings(name="x")}, devices="listed")
    assert listed.alert("battery_low", "D4:11:22:33:44:55", present=True) == []
    assert listed.alert("battery_low", MAC, present=True)
