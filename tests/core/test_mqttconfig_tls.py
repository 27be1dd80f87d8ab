"""A bad ``mqtt.tls`` file stops every program at start with exit 2 naming the key (one shared
check, ``MqttConfig.tls_problems``): the subscriber and the console as the agent does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bt_mqtt.core.mqttconfig import MqttConfig, TlsConfig

PROGRAMS = {
    "subscriber": [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config"],
    "console": [sys.executable, "-m", "bt_mqtt.console.main", "--config"],
}


def _cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    not_cert = tmp_path / "notacert.pem"
    not_cert.write_text("this is not a certificate\n")
    return {
        "missing": (tmp_path / "missing.pem", "mqtt.tls.ca_file: cannot read"),
        "not_a_certificate": (not_cert, "mqtt.tls: the certificate files are not usable"),
    }


def test_tls_problems_name_the_key(tmp_path: Path) -> None:
    assert MqttConfig().tls_problems() == []
    for path, text in _cases(tmp_path).values():
        problems = MqttConfig(tls=TlsConfig(ca_file=str(path))).tls_problems()
        assert len(problems) == 1 and problems[0].startswith(text)


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("case", ["missing", "not_a_certificate"])
def test_bad_ca_file_is_exit_2_naming_the_key(tmp_path: Path, program: str, case: str) -> None:
    path, text = _cases(tmp_path)[case]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"mqtt: {{host: 127.0.0.1, tls: {{ca_file: '{path}'}}}}\n")
    proc = subprocess.run(
        [*PROGRAMS[program], str(cfg)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{cfg}: {text}" in proc.stderr
    assert "Traceback" not in proc.stderr
