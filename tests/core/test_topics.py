"""The topic module: every topic built, subscribed to and classified in one place."""

from __future__ import annotations

import pytest

from bt_mqtt.core import topics
from bt_mqtt.core.topics import ALERT, COMMAND, RAW, REPLY, STATUS, Route, Topics

T = Topics()


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest), for checking the filters."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def test_topics_as_documented() -> None:
    assert T.raw("livingroom-pi") == "bt-mqtt/raw/livingroom-pi"
    assert T.status("garden") == "bt-mqtt/scanner/garden/status"
    assert T.command("garden") == "bt-mqtt/command/garden"
    assert T.command(topics.ALL_SCANNERS) == "bt-mqtt/command/all"
    assert T.reply("garden") == "bt-mqtt/scanner/garden/reply"
    assert T.alert("scanner_offline", "garden") == "bt-mqtt/alert/scanner_offline/garden"
    assert T.alert("battery_low", "A4:C1:38:12:34:56") == (
        "bt-mqtt/alert/battery_low/A4:C1:38:12:34:56"
    )
    assert T.discovery("sensor", "bt-mqtt_a4c138123456", "temperature_c") == (
        "homeassistant/sensor/bt-mqtt_a4c138123456/temperature_c/config"
    )
    assert T.ha_status() == "homeassistant/status"
    assert T.device_state("A4:C1:38:12:34:56", "temperature_c") == (
        "bt-mqtt/ha/device/a4c138123456/temperature_c"
    )
    assert T.scanner_state("garden", "transit_loss_pct") == (
        "bt-mqtt/ha/scanner/garden/transit_loss_pct"
    )
    assert T.bridge_status() == "bt-mqtt/ha/status"
    assert T.discovery_filters(("sensor",)) == ["homeassistant/sensor/+/+/config"]
    assert T.bridge_filter() == "bt-mqtt/ha/#"
    other = Topics("site/a", "ha")
    assert other.raw("s1") == "site/a/raw/s1"
    assert other.discovery("binary_sensor", "n", "o") == "ha/binary_sensor/n/o/config"


def test_what_is_built_is_classified_back_and_matches_its_filter() -> None:
    built = [
        (T.raw("s1"), Route(RAW, "s1"), T.raw_filter()),
        (T.status("s_1"), Route(STATUS, "s_1"), T.status_filter()),
        (T.reply("s-1"), Route(REPLY, "s-1"), T.reply_filter()),
        (T.command("s1"), Route(COMMAND, "s1"), T.command_filters("s1")[0]),
        (T.command("all"), Route(COMMAND, "all"), T.command_filters("s1")[1]),
        (
            T.alert("sensor_silent", "AA:BB:CC:DD:EE:FF"),
            Route(ALERT, alert_kind="sensor_silent", subject="AA:BB:CC:DD:EE:FF"),
            T.alert_filter(),
        ),
    ]
    for topic, route, topic_filter in built:
        assert T.classify(topic) == route, topic
        assert _matches(topic_filter, topic), (topic_filter, topic)
    assert T.ingest_filters() == ["bt-mqtt/raw/+", "bt-mqtt/scanner/+/status"]
    assert not _matches(T.raw_filter(), T.status("s1"))
    assert topics.shared("g1", "bt-mqtt/raw/+") == "$share/g1/bt-mqtt/raw/+"
    assert topics.shared(None, "bt-mqtt/raw/+") == "bt-mqtt/raw/+"


@pytest.mark.parametrize(
    "topic",
    [
        "bt-mqtt/raw/BAD ID",
        "bt-mqtt/raw/Upper",
        "bt-mqtt/raw/",
        "bt-mqtt/raw/a/b",
        "bt-mqtt/raw/+",
        "bt-mqtt/raw/" + "a" * 65,
        "bt-mqtt/scanner/\u202e/status",
        "bt-mqtt/scanner/s1/status/x",
        "bt-mqtt/scanner/s1",
        "bt-mqtt/scanner//status",
        "bt-mqtt/scanner/s1/other",
        "bt-mqtt/command/s1/x",
        "bt-mqtt/alert/Scanner/x",
        "bt-mqtt/alert/scanner_offline",
        "bt-mqtt/alert/scanner_offline/a/b",
        "bt-mqtt/other/s1",
        "bt-mqttx/raw/s1",
        "other/raw/s1",
        "raw/s1",
    ],
)
def test_topics_that_are_not_ours(topic: str) -> None:
    assert T.classify(topic) is None


def test_bad_names_are_refused_when_building_naming_the_value() -> None:
    with pytest.raises(ValueError, match="scanner id 'BAD ID' is not 1 to 64"):
        T.raw("BAD ID")
    with pytest.raises(ValueError, match="scanner id '\\+'"):
        T.command("+")
    with pytest.raises(ValueError, match="alert kind 'a/b'"):
        T.alert("a/b", "x")
    with pytest.raises(ValueError, match="alert subject '#'"):
        T.alert("battery_low", "#")
    with pytest.raises(ValueError, match="node id 'a b'"):
        T.discovery("sensor", "a b", "x")
    with pytest.raises(ValueError, match="component 'Sensor'"):
        T.discovery("Sensor", "a", "x")
    with pytest.raises(ValueError, match="'aa:bb:cc:dd:ee:ff' is not an upper-case"):
        T.device_state("aa:bb:cc:dd:ee:ff", "x")
    for prefix in ("", "/a", "a/", "a/#", "a+", "a b"):
        with pytest.raises(ValueError, match="is not a usable topic prefix"):
            Topics(prefix)
    assert topics.check_scanner_id("ok_1-x") == "ok_1-x"


def test_classify_stays_right_past_its_cache() -> None:
    t = Topics()
    for _ in range(2):
        for i in range(topics.CACHE_MAX + 10):
            assert t.classify(f"bt-mqtt/raw/s{i}") == Route(RAW, f"s{i}")
        assert t.classify("bt-mqtt/raw/BAD ID") is None
