"""Helpers for agent tests: configuration files, replay files and the agent as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bt_mqtt.demo.services import die_with_parent
from tests.fixtures.mosquitto import Broker


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def agent_config(
    broker: Broker, replay_file: Path, scanner_id: str = "test-scanner", **sections: Any
) -> dict[str, Any]:
    """A config for the replay backend against ``broker``; ``sections`` override top-level keys."""
    cfg: dict[str, Any] = {
        "scanner_id": scanner_id,
        "mqtt": {"host": broker.host, "port": broker.port},
        "bluetooth": {"backend": "replay", "replay": {"file": str(replay_file), "speed": 0}},
        "log": {"level": "info", "format": "json"},
    }
    cfg.update(sections)
    return cfg


def write_replay(path: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def start_agent(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl runs there
        )


def run_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bt_mqtt.agent.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def log_events(log_path: Path) -> list[dict[str, Any]]:
    """The JSON log lines the agent wrote (non-JSON lines skipped)."""
    out = []
    for line in log_path.read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
