"""JSON Schema generation from attrs classes, and the small validator."""

from __future__ import annotations

import enum
import json
from typing import Literal

import attrs
import pytest
from attrs import define, field

from bt_mqtt.agent.config import AgentConfig
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.schema import json_schema, jsonable, schema_json, validate
from bt_mqtt.subscriber.config import SubscriberConfig


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@define
class Inner:
    """An inner block.

    Second paragraph is not part of the description.
    """

    size: int = field(default=3, validator=[attrs.validators.ge(1), attrs.validators.lt(10)])
    tags: list[str] = field(factory=list)


@define
class Outer:
    name: str = field(validator=attrs.validators.matches_re(r"[a-z]+"))
    mode: str = field(default="a", validator=attrs.validators.in_(("a", "b")))
    colour: Colour = Colour.RED
    kind: Literal["x", "y"] = "x"
    ratio: float | None = None
    inner: Inner = field(factory=Inner)
    maybe: Inner | None = None
    table: dict[str, int] = field(factory=dict)
    pair: tuple[int, str] = (1, "a")
    code: str = field(default="ab", metadata={"schema": {"minLength": 2}})
    opt: int | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.le(5))
    )


def test_schema_of_a_small_class() -> None:
    s = json_schema(Outer)
    props = s["properties"]
    assert s["required"] == ["name"]
    assert s["additionalProperties"] is False
    assert props["name"] == {"type": "string", "pattern": "^(?:[a-z]+)$"}
    assert props["mode"] == {"type": "string", "default": "a", "enum": ["a", "b"]}
    assert props["colour"] == {"enum": ["red", "blue"], "default": "red"}
    assert props["kind"] == {"enum": ["x", "y"], "default": "x"}
    assert props["ratio"] == {"type": ["number", "null"], "default": None}
    assert props["inner"] == {"$ref": "#/$defs/Inner", "default": {"size": 3, "tags": []}}
    assert props["maybe"]["anyOf"] == [{"$ref": "#/$defs/Inner"}, {"type": "null"}]
    assert props["table"]["additionalProperties"] == {"type": "integer"}
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["code"]["minLength"] == 2
    assert props["opt"]["maximum"] == 5
    inner = s["$defs"]["Inner"]
    assert inner["properties"]["size"] == {
        "type": "integer",
        "default": 3,
        "minimum": 1,
        "exclusiveMaximum": 10,
    }
    assert inner["description"] == "An inner block."


def test_schema_is_json_and_printable() -> None:
    assert json.loads(schema_json(Outer))["title"] == "Outer"


def test_not_attrs_is_refused() -> None:
    with pytest.raises(TypeError):
        json_schema(dict)


def test_validate_accepts_good_data() -> None:
    data = {"name": "abc", "mode": "b", "inner": {"size": 9, "tags": ["t"]}, "pair": [2, "z"]}
    assert validate(data, json_schema(Outer)) == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "name: required key is missing"),
        ({"name": "ABC"}, "name: 'ABC' does not match"),
        ({"name": "a", "mode": "c"}, "mode: 'c' is not one of"),
        ({"name": "a", "nope": 1}, "nope: unknown key"),
        ({"name": "a", "inner": {"size": 10}}, "inner.size: 10 violates exclusiveMaximum"),
        ({"name": "a", "inner": {"size": True}}, "inner.size: expected integer"),
        ({"name": "a", "inner": {"tags": [1]}}, "inner.tags[0]: expected string"),
        ({"name": "a", "maybe": 3}, "maybe: 3 matches none"),
        ({"name": "a", "table": {"k": "v"}}, "table.k: expected integer"),
        ({"name": "a", "pair": [1, "a", 2]}, "pair[2]: no item allowed"),
        ({"name": "a", "code": "x"}, "code: length 1"),
    ],
)
def test_validate_names_the_bad_key(data: dict[str, object], problem: str) -> None:
    problems = validate(data, json_schema(Outer))
    assert any(p.startswith(problem) for p in problems), problems


def test_tls_is_false_true_null_or_a_mapping() -> None:
    s = json_schema(MqttConfig)
    for tls in (False, True, None, {"ca_file": "/ca.pem"}):
        assert validate({"tls": tls}, s) == [], tls
    assert validate({"tls": {"ca": "x"}}, s) != []
    assert validate({"tls": "yes"}, s) != []


def test_jsonable() -> None:
    assert jsonable(Inner()) == {"size": 3, "tags": []}
    assert jsonable({1: {3, 2}, "c": Colour.BLUE}) == {"1": [2, 3], "c": "blue"}


def test_real_config_classes() -> None:
    agent = json_schema(AgentConfig)
    assert agent["required"] == ["scanner_id"]
    assert set(agent["properties"]) >= {"scanner_id", "mqtt", "bluetooth", "dedup", "filters"}
    design_example = {
        "scanner_id": "livingroom-pi",
        "mqtt": {"host": "localhost", "port": 1883, "username": None, "tls": False},
        "bluetooth": {"backend": "bluez", "adapter": "hci0", "mode": "passive"},
        "dedup": {"window_s": 10, "max_interval_s": 300},
        "filters": {"blocklist": {"macs": [], "prefixes": []}, "allowlist": None},
        "heartbeat": {"interval_s": 60},
        "log": {"level": "info", "format": "json"},
    }
    assert validate(design_example, agent) == []
    assert validate({"scanner_id": "x", "mqtt": {"port": "1883"}}, agent) == [
        "mqtt.port: expected integer, got '1883'"
    ]
    sub = json_schema(SubscriberConfig)
    assert "client_id" in sub["$defs"]["SubscriberMqttConfig"]["properties"]
    assert (
        validate({"database": {"url": "postgresql:///x"}, "retention": {"raw_days": 9}}, sub) == []
    )
