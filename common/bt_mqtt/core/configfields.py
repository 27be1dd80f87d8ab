"""Validators for configuration classes that also describe themselves for the JSON schema.

Each validator's message starts with the attribute's name so the loader can report the whole
key path (``bluetooth.mode: 'loud' is not one of passive, active``), and carries a ``schema``
attribute that ``bt_mqtt.core.schema`` merges into the field's schema (one source of truth for
the Python checks and the Nix modules).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Validator = Callable[[Any, Any, Any], None]


def _with_schema(check: Validator, schema: dict[str, Any]) -> Validator:
    check.schema = schema  # type: ignore[attr-defined]
    return check


def one_of(choices: tuple[str, ...]) -> Validator:
    """The value is one of ``choices``."""

    def check(_: Any, a: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{a.name}: {value!r} is not one of {', '.join(choices)}")

    return _with_schema(check, {"enum": list(choices)})


def at_least(low: float, *, exclusive: bool = False) -> Validator:
    """The number is ``>= low`` (``> low`` when exclusive); None passes."""

    def check(_: Any, a: Any, value: float | None) -> None:
        if value is None:
            return
        if value < low or (exclusive and value == low):
            op = ">" if exclusive else ">="
            raise ValueError(f"{a.name}: {value!r} must be {op} {low}")

    return _with_schema(check, {"exclusiveMinimum" if exclusive else "minimum": low})


def matches(pattern: re.Pattern[str], what: str) -> Validator:
    """The whole string matches ``pattern``; None passes."""

    def check(_: Any, a: Any, value: str | None) -> None:
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(f"{a.name}: {value!r} is not {what}")

    return _with_schema(check, {"pattern": f"^(?:{pattern.pattern})$"})


def each(pattern: re.Pattern[str], what: str) -> Validator:
    """Every string in the list matches ``pattern``."""

    def check(_: Any, a: Any, value: list[str]) -> None:
        for i, item in enumerate(value):
            if not pattern.fullmatch(item):
                raise ValueError(f"{a.name}[{i}]: {item!r} is not {what}")

    return _with_schema(check, {"items": {"pattern": f"^(?:{pattern.pattern})$"}})
