"""The agent keeps what it does not need out of the process (RSS matters on the Pi Zero W)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from bt_mqtt.agent.config import load_config
from bt_mqtt.agent.main import _leave_out_openssl
_leave_out_openssl(load_config(sys.argv[1]))
import asyncio
import bt_mqtt.agent.runner, bt_mqtt.agent.backends.bluez
maps = open("/proc/self/maps").read()
print(sys.modules.get("ssl") is not None, "libssl" in maps)
"""


@pytest.mark.parametrize(("tls", "expected"), [(False, "False False"), (True, "True True")])
def test_libssl_is_loaded_only_for_tls(tmp_path: Path, tls: bool, expected: str) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("scanner_id: pi\nmqtt: {tls: %s}\n" % ("true" if tls else "false"))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(cfg)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == expected


def test_the_agent_imports_nothing_of_the_subscriber_console_or_parsers() -> None:
    probe = (
        "import sys, bt_mqtt.agent.main, bt_mqtt.agent.runner, bt_mqtt.agent.backends.bluez\n"
        "heavy = ('bt_mqtt.subscriber', 'bt_mqtt.console', 'bt_mqtt.parsers', 'bt_mqtt.demo',\n"
        "         'textual', 'psycopg', 'bleak', 'cryptography')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_the_command_path_loads_only_when_commands_are_enabled(tmp_path: Path) -> None:
    probe = (
        "import sys, asyncio\n"
        "from bt_mqtt.agent.config import load_config\n"
        "from bt_mqtt.agent.runner import Agent\n"
        "async def main():\n"
        "    Agent(load_config(sys.argv[1]))\n"
        "asyncio.run(main())\n"
        "mods = ('bt_mqtt.agent.cmdshell', 'bt_mqtt.agent.commands', 'bt_mqtt.core.command',\n"
        "        'bt_mqtt.agent.logring', 'bt_mqtt.agent.cmdstate')\n"
        "print(sorted(m for m in sys.modules if m in mods))\n"
    )
    replay = tmp_path / "replay.jsonl"
    replay.write_text("")
    out = {}
    for enabled in (False, True):
        cfg = tmp_path / f"agent-{enabled}.yaml"
        cfg.write_text(
            "scanner_id: pi\n"
            f"bluetooth: {{backend: replay, replay: {{file: {replay}}}}}\n"
            f"commands: {{enabled: {str(enabled).lower()}}}\n"
        )
        out[enabled] = subprocess.run(
            [sys.executable, "-c", probe, str(cfg)], capture_output=True, text=True, check=True
        ).stdout.strip()
    assert out[False] == "[]"
    assert out[True] == str(
        sorted(
            [
                "bt_mqtt.agent.cmdshell",
                "bt_mqtt.agent.cmdstate",
                "bt_mqtt.agent.commands",
                "bt_mqtt.agent.logring",
                "bt_mqtt.core.command",
            ]
        )
    )
