"""Shared configuration validators: their messages name the key, their schema matches them."""

from __future__ import annotations

import re

import attrs
import pytest
from attrs import define, field

from bt_mqtt.core.configfields import at_least, each, matches, one_of
from bt_mqtt.core.schema import json_schema, validate


@define
class Sample:
    mode: str = field(default="a", validator=one_of(("a", "b")))
    n: float = field(default=1.0, validator=at_least(0.0, exclusive=True))
    tag: str | None = field(default=None, validator=matches(re.compile(r"[a-z]+"), "lower case"))
    macs: list[str] = field(factory=list, validator=each(re.compile(r"[0-9A-F]{2}"), "a byte"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "c"}, "mode: 'c' is not one of a, b"),
        ({"n": 0.0}, "n: 0.0 must be > 0.0"),
        ({"tag": "ABC"}, "tag: 'ABC' is not lower case"),
        ({"macs": ["0A", "zz"]}, "macs[1]: 'zz' is not a byte"),
    ],
)
def test_messages_name_the_attribute(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Sample(**changes)  # type: ignore[arg-type]


def test_schema_agrees_with_the_validators() -> None:
    schema = json_schema(Sample)
    props = schema["properties"]
    assert props["mode"]["enum"] == ["a", "b"]
    assert props["n"]["exclusiveMinimum"] == 0.0
    assert props["macs"]["items"]["pattern"] == "^(?:[0-9A-F]{2})$"
    good = attrs.asdict(Sample(tag="ok", macs=["0A"]))
    assert validate(good, schema) == []
    for bad in ({"mode": "c"}, {"n": 0}, {"tag": "ABC"}, {"macs": ["zz"]}):
        assert validate({**good, **bad}, schema), bad
