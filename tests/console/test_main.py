"""The command line: conventions, configuration errors, MQTT-only operation without psycopg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "bt_mqtt.console.main"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_help_and_version() -> None:
    res = run("--help")
    assert res.returncode == 0
    assert "--database-url" in res.stdout
    assert "--fps" in res.stdout
    res = run("--version")
    assert res.returncode == 0
    assert res.stdout.startswith("bt-mqtt-console ")


def test_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "sub.yaml"
    cfg.write_text("mqtt:\n  port: 99999\n")
    res = run("--config", str(cfg))
    assert res.returncode == 2
    assert "port" in res.stderr
    assert "99999" in res.stderr
    assert run("--fps", "0").returncode == 2
    assert run("--no-such-flag").returncode == 2


SNIPPET = """
import sys
from bt_mqtt.console.main import build_app, build_parser
app = build_app(build_parser().parse_args(sys.argv[1:]))
print(app.db is not None, app.fps, app.source.cfg.host, app.source.cfg.port,
      app.source.cfg.topic_prefix, "psycopg" in sys.modules)
"""


def probe(*args: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(
        [sys.executable, "-c", SNIPPET, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_mqtt_only_without_a_database_url_never_imports_psycopg(tmp_path: Path) -> None:
    cfg = tmp_path / "sub.yaml"
    cfg.write_text("mqtt:\n  host: broker.lan\n  topic_prefix: home\n")
    env = {"PATH": "/usr/bin:/bin"}
    assert (
        probe("--config", str(cfg), "--fps", "2", env=env) == "False 2.0 broker.lan 1883 home False"
    )
    assert probe("--port", "1999", env=env) == "False 4.0 localhost 1999 bt-mqtt False"


@pytest.mark.slow
def test_database_used_only_when_a_url_is_given(tmp_path: Path) -> None:
    cfg = tmp_path / "sub.yaml"
    cfg.write_text("database:\n  url: postgresql://db.lan/btmqtt\n")
    env = {"PATH": "/usr/bin:/bin"}
    # The connection is opened lazily: configuring it still does not import psycopg.
    assert probe("--config", str(cfg), env=env).startswith("True ")
    assert probe("--config", str(cfg), "--no-database", env=env).startswith("False ")
    assert probe("--database-url", "postgresql://x/y", env=env).startswith("True ")
