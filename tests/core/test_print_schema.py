"""``--print-schema``: the programs print the JSON schema the Nix modules are generated against."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bt_mqtt.agent.config import AgentConfig
from bt_mqtt.core.schema import json_schema, validate
from bt_mqtt.subscriber.config import SubscriberConfig


@pytest.mark.parametrize(
    ("module", "cls"),
    [("bt_mqtt.agent.main", AgentConfig), ("bt_mqtt.subscriber.main", SubscriberConfig)],
)
def test_print_schema_is_the_classes_schema(module: str, cls: type) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--print-schema"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    printed = json.loads(out)
    assert printed["properties"] == json_schema(cls)["properties"]
    assert printed["additionalProperties"] is False


def test_agent_schema_rejects_what_the_loader_rejects() -> None:
    schema = json_schema(AgentConfig)
    good = {"scanner_id": "kitchen-pi", "bluetooth": {"mode": "active"}}
    assert validate(good, schema) == []
    for bad in (
        {"scanner_id": "Kitchen Pi"},
        {"scanner_id": "k", "bluetooth": {"mode": "loud"}},
        {"scanner_id": "k", "dedup": {"window_s": -1}},
        {"scanner_id": "k", "unknown": 1},
    ):
        assert validate(bad, schema), bad
