"""Agent configuration: defaults, and exit 2 with the file, key and problem named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bt_mqtt.agent.config import AgentConfig, CommandsConfig, load_config, state_path
from bt_mqtt.agent.main import main
from tests.agent.helpers import run_agent, write_config
from tests.fixtures.tls import make_pki

DESIGN_EXAMPLE = """\
scanner_id: livingroom-pi
mqtt:
  host: localhost
  port: 1883
  username: null
  tls: false
  topic_prefix: bt-mqtt
bluetooth:
  backend: bluez
  adapter: hci0
  mode: passive
  replay: {file: null, speed: 1.0, loop: false}
dedup:
  window_s: 10
  max_interval_s: 300
filters:
  blocklist: {macs: [], prefixes: [], company_ids: [], service_uuids: [], names: []}
  allowlist: null
  min_rssi: null
heartbeat:
  interval_s: 60
log:
  level: info
  format: json
"""


def test_design_example_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(DESIGN_EXAMPLE)
    cfg = load_config(path)
    assert isinstance(cfg, AgentConfig)
    assert cfg.scanner_id == "livingroom-pi"
    assert cfg.mqtt.tls is None and cfg.mqtt.port == 1883
    assert cfg.bluetooth.backend == "bluez" and cfg.bluetooth.watchdog_s == 120
    assert cfg.dedup.window_s == 10.0 and cfg.dedup.max_entries == 10000
    assert cfg.filters.allowlist is None and cfg.filters.blocklist.macs == []
    assert (cfg.spool.max_messages, cfg.spool.max_bytes) == (20_000, 8 * 2**20)


def test_minimal_config_and_tls_mapping(tmp_path: Path) -> None:
    ca = make_pki(tmp_path / "pki").ca_file
    path = write_config(
        tmp_path / "a.yaml", {"scanner_id": "pi_1", "mqtt": {"tls": {"ca_file": str(ca)}}}
    )
    cfg = load_config(path)
    assert cfg.mqtt.tls is not None and cfg.mqtt.tls.ca_file == str(ca)
    assert cfg.heartbeat.interval_s == 60 and cfg.log.format == "json"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"scanner_id": "pi", "mqtt": {"hots": "x"}}, "mqtt.hots: unknown key"),
    ({"scanner_id": "pi", "colour": "red"}, "colour: unknown key"),
    ({"scanner_id": "pi", "mqtt": {"port": "1883"}}, "mqtt.port: expected int"),
    ({"scanner_id": "pi", "mqtt": {"port": 70000}}, "mqtt.port: port 70000"),
    ({"scanner_id": "Living Room"}, "scanner_id: 'Living Room'"),
    ({"scanner_id": "x" * 65}, "scanner_id:"),
    ({}, "scanner_id: required key is missing"),
    ({"scanner_id": "pi", "bluetooth": {"backend": "hci"}}, "bluetooth.backend: 'hci'"),
    ({"scanner_id": "pi", "bluetooth": {"mode": "loud"}}, "bluetooth.mode: 'loud'"),
    ({"scanner_id": "pi", "bluetooth": {"backend": "replay"}}, "bluetooth.replay.file: required"),
    (
        {
            "scanner_id": "pi",
            "bluetooth": {"backend": "replay", "replay": {"file": "/nonexistent"}},
        },
        "bluetooth.replay.file: cannot read",
    ),
    ({"scanner_id": "pi", "bluetooth": {"replay": {"speed": -1}}}, "bluetooth.replay.speed"),
    ({"scanner_id": "pi", "dedup": {"window_s": "10s"}}, "dedup.window_s: expected float"),
    ({"scanner_id": "pi", "dedup": {"max_entries": 0}}, "dedup.max_entries"),
    (
        {"scanner_id": "pi", "filters": {"blocklist": {"macs": ["nope"]}}},
        "filters.blocklist.macs[0]: 'nope' is not a MAC address",
    ),
    (
        {"scanner_id": "pi", "filters": {"allowlist": {"company_ids": [1, 70000]}}},
        "filters.allowlist.company_ids[1]",
    ),
    (
        {"scanner_id": "pi", "filters": {"blocklist": {"service_uuids": ["fe9"]}}},
        "filters.blocklist.service_uuids[0]",
    ),
    ({"scanner_id": "pi", "filters": {"min_rssi": "low"}}, "filters.min_rssi"),
    ({"scanner_id": "pi", "heartbeat": {"interval_s": 0}}, "heartbeat.interval_s"),
    ({"scanner_id": "pi", "spool": {"max_messages": 10}}, "spool.max_messages: 10 must be >= 1000"),
    ({"scanner_id": "pi", "spool": {"max_mb": 0.5}}, "spool.max_mb: 0.5 must be >= 1.0"),
    ({"scanner_id": "pi", "spool": {"max_mb": "8M"}}, "spool.max_mb: expected float"),
    ({"scanner_id": "pi", "spool": {"max_bytes": 1}}, "spool.max_bytes: unknown key"),
    ({"scanner_id": "pi", "log": {"level": "loud"}}, "log.level: 'loud'"),
    ({"scanner_id": "pi", "log": {"format": "xml"}}, "log.format: 'xml'"),
    ({"scanner_id": "pi", "mqtt": {"tls": "yes"}}, "mqtt.tls: expected false, true or a mapping"),
    ({"scanner_id": "pi", "mqtt": {"password_file": "/nonexistent"}}, "mqtt.password_file"),
    ({"scanner_id": "pi", "mqtt": {"password": "a", "password_file": "b"}}, "mqtt.password"),
]


@pytest.mark.parametrize(("data", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_config_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], expected: str
) -> None:
    path = write_config(tmp_path / "agent.yaml", data)
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(path), "--check-config"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}: {expected}" in err


def test_unreadable_and_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(missing)])
    assert exc.value.code == 2
    assert f"{missing}: cannot read configuration" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("scanner_id: [unclosed\n")
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(broken)])
    assert exc.value.code == 2
    assert f"{broken}: invalid YAML" in capsys.readouterr().err


def test_command_line_exit_codes(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good.yaml", {"scanner_id": "pi"})
    ok = run_agent("--config", str(good), "--check-config")
    assert ok.returncode == 0, ok.stderr
    assert "configuration OK" in ok.stdout
    bad = write_config(tmp_path / "bad.yaml", {"scanner_id": "pi", "dedup": {"windw_s": 1}})
    res = run_agent("--config", str(bad), "--check-config")
    assert res.returncode == 2
    assert f"{bad}: dedup.windw_s: unknown key" in res.stderr
    assert run_agent("--bogus").returncode == 2
    assert run_agent().returncode == 2  # --config is required
    version = run_agent("--version")
    assert version.returncode == 0 and version.stdout.startswith("bt-mqtt-agent ")
    assert run_agent("--help").returncode == 0


def test_check_config_does_not_import_gmqtt_or_bleak(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good.yaml", {"scanner_id": "pi"})
    code = (
        "import sys\n"
        "from bt_mqtt.agent.main import main\n"
        "try:\n"
        f"    main(['--config', {str(good)!r}, '--check-config'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('bleak', 'gmqtt', 'dbus_fast') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")


def test_state_path_prefers_the_key_then_systemds_state_folder_then_beside_the_file(
    tmp_path: Path,
) -> None:
    """The Pi image's configuration file sits in a folder the agent cannot write: under systemd
    with ``StateDirectory=`` the command state goes to ``$STATE_DIRECTORY`` instead."""
    conf = str(tmp_path / "agent.yaml")
    cfg = AgentConfig(scanner_id="pi")
    assert state_path(cfg, conf, {}) == str(tmp_path / "agent.state.json")
    systemd = {"STATE_DIRECTORY": "/var/lib/bt-mqtt-agent:/var/lib/other"}
    assert state_path(cfg, conf, systemd) == "/var/lib/bt-mqtt-agent/commands.state.json"
    chosen = AgentConfig(scanner_id="pi", commands=CommandsConfig(state_file="/srv/s.json"))
    assert state_path(chosen, conf, systemd) == "/srv/s.json"
