"""The commands the Nix code runs (systemd ExecStart, the container, apps, the image's import
script) parse with the programs' real argparse parsers.

Each command runs in a child Python whose ``ArgumentParser.parse_args`` reports the parsed
namespace and stops the program, so nothing but the argument parsing happens.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.nix.helpers import ROOT, contract, substitute

_PROBE = r"""
import argparse, importlib, json, sys

class _Parsed(BaseException):
    pass

_orig = argparse.ArgumentParser.parse_args

def _probe(self, args=None, namespace=None):
    ns = _orig(self, args, namespace)
    print(json.dumps({k: v for k, v in vars(ns).items()
                      if isinstance(v, (str, int, float, bool, type(None)))}))
    raise _Parsed

argparse.ArgumentParser.parse_args = _probe
target, argv = sys.argv[1], sys.argv[2:]
module, func = target.split(":")
sys.argv = argv
try:
    getattr(importlib.import_module(module), func)()
except _Parsed:
    sys.exit(0)
sys.exit(f"{target} returned without calling parse_args")
"""


def parse(argv: list[str]) -> dict[str, Any]:
    """The namespace ``argv`` (program name first) parses to, or a failed test."""
    target = contract()["entryPoints"][argv[0]]
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, target, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, f"{' '.join(argv)}: exit {res.returncode}\n{res.stderr}"
    ns: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return ns


@pytest.mark.parametrize("name", sorted(contract()["commands"]))
def test_command_parses(name: str) -> None:
    argv = contract()["commands"][name]
    assert argv[0] in contract()["entryPoints"], f"{name}: {argv[0]} is no console script"
    config = "/etc/bt-mqtt/probe.yaml"
    ns = parse(substitute(argv, config))
    values = set(ns.values())
    if "@CONFIG@" in argv:
        assert config in values, f"{name}: the config path was not taken as the config"
    # Subcommand words must be recognised as subcommands, not swallowed as values.
    for word in argv[1:]:
        if word.isalpha():
            assert word in values, f"{name}: {word!r} was not parsed as a subcommand"


def test_a_bad_command_is_caught() -> None:
    """The probe really rejects what the parser rejects."""
    target = contract()["entryPoints"]["bt-mqtt-subscriber"]
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, target, "bt-mqtt-subscriber", "--config", "x", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert "invalid choice" in res.stderr


def test_agent_check_config_flag_is_what_the_image_script_runs() -> None:
    argv = contract()["commands"]["agentCheckConfig"]
    script = (ROOT / "image" / "import-boot-files.sh").read_text()
    pattern = r"\s+".join(r"\S+" if a == "@CONFIG@" else re.escape(a) for a in argv)
    assert re.search(pattern, script), f"the import script does not run {' '.join(argv)}"


def test_container_and_modules_use_contract_commands() -> None:
    """The Nix files take argv from the contract instead of spelling commands themselves."""
    files = {
        "nix/container.nix": ["subscriberRun"],
        "nix/modules/agent.nix": ["agent", "agentCheckConfig"],
        "nix/modules/subscriber.nix": ["subscriberRun", "subscriberMigrate", "subscriberRetention"],
    }
    for path, names in files.items():
        text = (ROOT / path).read_text()
        for name in names:
            assert re.search(rf"commands\.{name}\b|command \"{name}\"", text), f"{path}: {name}"
        for program in contract()["entryPoints"]:
            assert f'"{program} ' not in text, f"{path} spells out a {program} command line"
