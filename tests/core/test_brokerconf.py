"""One definition of the recommended Mosquitto settings, and everything that writes or quotes
them agrees with it (issue 12 item 2): the demo and test brokers, the example configuration, the
Nix contract (the NixOS module and the dev shell read it; tests/nix renders them) and the docs."""

from __future__ import annotations

import json
from pathlib import Path

from bt_mqtt.core.brokerconf import RECOMMENDED, conf_lines, conf_value
from bt_mqtt.demo.services import Mosquitto

ROOT = Path(__file__).resolve().parents[2]


def _lines(text: str) -> set[str]:
    return {" ".join(line.split()) for line in text.splitlines() if line.strip()}


def test_the_settings_keep_the_queue_and_bound_the_crash_window() -> None:
    assert RECOMMENDED["persistence"] is True
    assert RECOMMENDED["max_queued_messages"] == 0  # no cap: Mosquitto's 1,000 drops the rest
    assert RECOMMENDED["autosave_on_changes"] is False
    assert 0 < int(RECOMMENDED["autosave_interval"]) <= 60  # the default is 1,800 s


def test_the_nix_contract_has_the_same_settings() -> None:
    broker = json.loads((ROOT / "nix" / "contract.json").read_text())["broker"]
    broker.pop("_comment")
    assert broker == dict(RECOMMENDED)


def test_demo_and_test_brokers_use_them(tmp_path: Path) -> None:
    lines = _lines(Mosquitto(tmp_path).conf_text())
    assert _lines(conf_lines()) <= lines
    # a test's extra configuration comes after them, so it overrides
    text = Mosquitto(tmp_path, extra_conf="autosave_interval 1\n").conf_text()
    assert text.index("autosave_interval 1\n") > text.index("autosave_interval 60\n")


def test_the_example_conf_and_the_docs_quote_them() -> None:
    example = _lines((ROOT / "deploy" / "mosquitto" / "bt-mqtt.conf").read_text())
    assert _lines(conf_lines()) <= example
    docs = (ROOT / "docs" / "operations.md").read_text()
    for key, value in RECOMMENDED.items():
        assert f"{key} {conf_value(value)}" in docs, key
