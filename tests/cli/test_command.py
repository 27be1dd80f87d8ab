"""``bt-mqtt command``: usage errors exit 2, an unreachable broker 1 (the exchange itself is
tested against real agents in tests/agent/test_agent_commands.py and tests/deploy)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bt_mqtt.cli.command import UsageError, parse_args_list
from tests.fixtures.procs import free_port


def bt_mqtt(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bt_mqtt.cli.main", "command", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("Bad Id", "status"), "scanner id 'Bad Id'"),
        (("pi", "explode"), "invalid choice"),
        (("pi", "set-dedup", "window_s"), "is not key=value"),
        (("pi", "set-dedup", "{not json"), "not a JSON object"),
        (("pi", "status", "--timeout", "0"), "--timeout"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], why: str) -> None:
    res = bt_mqtt(*args)
    assert res.returncode == 2 and why in res.stderr, res.stderr


def test_an_unreachable_broker_exits_1() -> None:
    res = bt_mqtt("pi", "status", "--port", str(free_port()), "--timeout", "2")
    assert res.returncode == 1 and "cannot reach the broker" in res.stderr, res.stderr


def test_args_are_json_or_key_value() -> None:
    assert parse_args_list(['{"a": [1]}']) == {"a": [1]}
    assert parse_args_list(["n=5", "s=text", "x=null"]) == {"n": 5, "s": "text", "x": None}
    with pytest.raises(UsageError):
        parse_args_list(["[1]"])
