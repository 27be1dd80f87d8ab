"""Loading YAML configuration into attrs classes with cattrs, with errors a person can act on.

Every problem is reported as ``FILE: KEY.PATH: PROBLEM``; unknown keys are errors.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
import yaml
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration that cannot be used.  The message names the file, the key and the problem."""


def make_converter() -> cattrs.Converter:
    """A converter that refuses unknown keys and does not coerce types silently."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def strict(kind: type) -> Any:
        def hook(value: Any, _: type) -> Any:
            if isinstance(value, bool) or not isinstance(value, kind):
                if kind is float and isinstance(value, int) and not isinstance(value, bool):
                    return float(value)
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
            return value

        return hook

    for kind in (int, float, str):
        conv.register_structure_hook(kind, strict(kind))

    def bool_hook(value: Any, _: type) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value

    conv.register_structure_hook(bool, bool_hook)
    return conv


_KEYED_MESSAGE = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])*): (.*)", re.DOTALL)


def _child(path: str, note: Any) -> str:
    name = getattr(note, "name", None)
    if isinstance(note, AttributeValidationNote) and name is not None:
        return f"{path}.{name}" if path else str(name)
    if isinstance(note, IterableValidationNote):
        return f"{path}[{note.index!r}]" if isinstance(note.index, str) else f"{path}[{note.index}]"
    return path


def _describe(exc: BaseException, path: str, out: list[str]) -> None:
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out.append(f"{path + '.' if path else ''}{key}: unknown key")
        return
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            note: Any = None
            for n in getattr(sub, "__notes__", None) or []:
                if isinstance(n, AttributeValidationNote | IterableValidationNote):
                    note = n
            _describe(sub, _child(path, note), out)
        return
    if isinstance(exc, KeyError):
        out.append(f"{path}: required key is missing")
        return
    text = str(exc)
    # Validators name their attribute first ("port: 70000 is outside ..."); when the error was
    # raised by a nested class's constructor, join that name onto the path ("mqtt.port: ...").
    m = _KEYED_MESSAGE.fullmatch(text)
    if m is not None and isinstance(exc, ValueError):
        path = f"{path}.{m.group(1)}" if path else m.group(1)
        text = m.group(2)
    out.append(f"{path or '(top level)'}: {text}")


def describe_error(exc: BaseException) -> list[str]:
    """Flatten a cattrs error tree into ``key.path: problem`` lines."""
    out: list[str] = []
    _describe(exc, "", out)
    return out


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping; an unreadable or malformed file is a ``ConfigError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: configuration is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, not {type(data).__name__}")
    return data


def structure(conv: cattrs.Converter, data: dict[str, Any], cls: type[T], source: str) -> T:
    """Structure ``data`` into ``cls``; every problem is listed in one ``ConfigError``."""
    try:
        return conv.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError, IterableValidationError) as exc:
        lines = describe_error(exc)
        raise ConfigError("\n".join(f"{source}: {line}" for line in lines)) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def unstructure(conv: cattrs.Converter, obj: Any) -> Any:
    """The plain-data form of a configuration object (for ``--print-config``)."""
    return conv.unstructure(obj)


def check_validators(obj: Any, source: str) -> None:
    """Run attrs validators again (after post-processing); wrap failures as ``ConfigError``."""
    try:
        attrs.validate(obj)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
