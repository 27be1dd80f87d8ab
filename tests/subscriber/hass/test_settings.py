"""``devices:`` and ``homeassistant:`` in the subscriber's configuration: valid files load,
every mistake is an error naming its key, and the command exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.subscriber.config import load_config
from bt_mqtt.subscriber.devicesettings import Devices


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sub.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
homeassistant: {discovery: true, devices: listed, min_interval_s: 5}
devices:
  "a4:c1:38:12:34:56": {name: Kitchen, area: Kitchen, offsets: {temperature_c: -0.5}}
  "D4:11:22:33:44:55": {ignore: true}
""",
        ),
        env={},
    )
    assert cfg.homeassistant.discovery and cfg.homeassistant.devices == "listed"
    devices = Devices(cfg.devices)
    assert devices.get("A4:C1:38:12:34:56").name == "Kitchen"
    assert devices.corrected("A4:C1:38:12:34:56", "temperature_c", 21.5) == 21.0
    assert devices.corrected("A4:C1:38:12:34:56", "humidity_pct", 40.0) == 40.0
    assert devices.get("D4:11:22:33:44:55").ignore
    assert not devices.listed("00:11:22:33:44:55")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("homeassistant: {devices: some}", "homeassistant.devices: 'some' is not one of"),
        ("homeassistant: {prefix: 'home/#'}", "homeassistant.prefix: 'home/#' is not"),
        ("homeassistant: {discovery: yes please}", "homeassistant.discovery"),
        ("homeassistant: {expire_min_s: 900, expire_max_s: 600}", "homeassistant.expire_min_s"),
        ("devices: {kitchen: {}}", "devices: 'kitchen' is not a MAC address"),
        (
            "devices: {'A4:C1:38:12:34:56': {offsets: {count: 1}}}",
            "devices.A4:C1:38:12:34:56.offsets.count: offsets apply to",
        ),
        (
            "devices: {'A4:C1:38:12:34:56': {offsets: {temperature_c: .nan}}}",
            "offsets.temperature_c: nan is not a finite number",
        ),
        ("devices: {'A4:C1:38:12:34:56': {nmae: x}}", "nmae"),
        ("devices: {'A4:C1:38:12:34:56': {name: ''}}", "devices.A4:C1:38:12:34:56.name"),
        (
            "devices: {'A4:C1:38:12:34:56': {}, 'a4:c1:38:12:34:56': {}}",
            "the same device as",
        ),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert message in str(info.value)
    assert str(tmp_path / "sub.yaml") in str(info.value)


def test_the_command_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "devices: {kitchen: {}}")
    out = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(path), "hass-remove"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "devices: 'kitchen' is not a MAC address" in out.stderr
