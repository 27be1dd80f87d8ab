"""Password files: read and stripped; world-readable ones work but are logged as a warning."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.secretfile import read_secret


def test_private_file_is_read_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pw = tmp_path / "pw"
    pw.write_text("S3cret\n")
    pw.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert read_secret(str(pw), "mqtt.password_file", "agent.yaml") == "S3cret"
    assert caplog.records == []


def test_world_readable_file_is_named_with_its_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("S3cret\n")
    pw.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert read_secret(str(pw), "mqtt.password_file", "agent.yaml") == "S3cret"
    (rec,) = caplog.records
    msg = rec.getMessage()
    assert rec.levelno == logging.WARNING and str(pw) in msg and "-rw-r--r--" in msg
    assert "mqtt.password_file" in msg and "S3cret" not in msg
    assert rec.mode == "0644"  # type: ignore[attr-defined]


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent.yaml: mqtt.password_file: cannot read '/nope"):
        read_secret("/nope/pw", "mqtt.password_file", "agent.yaml")


def test_agent_warns_in_its_log(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("S3cret\n")
    pw.chmod(0o604)
    conf = tmp_path / "agent.yaml"
    conf.write_text(yaml.safe_dump({"scanner_id": "pi", "mqtt": {"password_file": str(pw)}}))
    res = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(conf), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert f"{pw} is readable by every user (mode -rw----r--)" in res.stderr
