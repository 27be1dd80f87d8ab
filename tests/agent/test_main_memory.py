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
