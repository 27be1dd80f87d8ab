"""JSON Schema (draft 2020-12) generated from attrs configuration classes, and a small validator.

The Python classes are the one source of truth for configuration keys: ``json_schema(cls)``
describes them for other tools (the Nix modules' tests, editors, ``--print-schema``), and
``validate(data, schema)`` checks a plain mapping against such a schema without importing the
classes' loaders.

What is derived: field names, types (``str int float bool None``, ``Literal``, ``Enum``,
unions, ``list/tuple/set``, ``dict``, nested attrs classes as ``$defs``), defaults, required
keys (fields without a default), ``additionalProperties: false`` (the loader forbids unknown
keys), and the constraints of attrs' own validators (``in_``, ``matches_re``, ``ge/gt/le/lt``,
``min_len/max_len``, ``optional``, ``and_``, ``deep_iterable``).  Hand-written validator
functions cannot be read: put the schema in the field's metadata instead,
``field(..., metadata={"schema": {"pattern": "^[a-z]+$"}})``; it is merged last.
Types that the converter structures specially are described by ``overrides``
(``mqtt.tls``: ``false``, ``true``, ``null`` or a mapping, by default).
"""

from __future__ import annotations

import enum
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from bt_mqtt.core.mqttconfig import TlsConfig

log = logging.getLogger(__name__)

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]
SubSchema = Callable[[Any], Schema]
Override = Callable[[SubSchema], Schema]

_SIMPLE: Final[dict[Any, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_ARRAYS: Final = (list, tuple, set, frozenset)


def _tls(sub: SubSchema) -> Schema:
    return {"anyOf": [{"type": "boolean"}, {"type": "null"}, sub(TlsConfig)]}


DEFAULT_OVERRIDES: Final[Mapping[Any, Override]] = {TlsConfig | None: _tls}


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: attrs instances as mappings, enums as values, sets sorted."""
    if attrs.has(type(value)):
        return {a.name: jsonable(getattr(value, a.name)) for a in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class _Builder:
    def __init__(self, overrides: Mapping[Any, Override]) -> None:
        self.overrides = overrides
        self.defs: dict[str, Schema] = {}

    def of_type(self, tp: Any) -> Schema:
        for key, make in self.overrides.items():
            if tp == key:
                return make(self.of_type)
        if tp is Any or tp is object:
            return {}
        if tp in _SIMPLE:
            return {"type": _SIMPLE[tp]}
        if isinstance(tp, type) and attrs.has(tp):
            return self.of_class(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [jsonable(m.value) for m in tp]}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin is typing.Union or origin is types.UnionType:
            return self.union(args)
        if origin in (list, set, frozenset) or _is_abc(origin, "Sequence", "Set", "Iterable"):
            item = self.of_type(args[0]) if args else {}
            return {"type": "array", "items": item}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of_type(args[0])}
            items = [self.of_type(a) for a in args]
            return {"type": "array", "prefixItems": items, "items": False}
        if origin is dict or _is_abc(origin, "Mapping", "MutableMapping"):
            value = self.of_type(args[1]) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": value}
        if tp in _ARRAYS:
            return {"type": "array"}
        if tp is dict:
            return {"type": "object"}
        log.debug("no schema for type %r; accepting anything", tp)
        return {}

    def union(self, args: tuple[Any, ...]) -> Schema:
        parts = [self.of_type(a) for a in args]
        if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
            return {"type": [p["type"] for p in parts]}
        return {"anyOf": parts}

    def of_class(self, cls: type) -> Schema:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: breaks cycles
            self.defs[name] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object_schema(self, cls: type) -> Schema:
        hints = typing.get_type_hints(cls)
        props: dict[str, Schema] = {}
        required: list[str] = []
        for a in attrs.fields(cls):
            key = a.alias if a.alias and a.alias != a.name.lstrip("_") else a.name
            prop = dict(self.of_type(hints.get(a.name, a.type)))
            if a.default is attrs.NOTHING:
                required.append(key)
            else:
                factory = a.default if isinstance(a.default, attrs.Factory) else None  # type: ignore[arg-type]
                if factory is None:
                    prop["default"] = jsonable(a.default)
                elif not factory.takes_self:
                    prop["default"] = jsonable(factory.factory())
            _apply_validator(prop, a.validator)
            extra = a.metadata.get("schema")
            if isinstance(extra, Mapping):
                prop.update(extra)
            props[key] = prop
        out: Schema = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            out["required"] = required
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            out["description"] = " ".join(doc.split())
        return out


def _is_abc(origin: Any, *names: str) -> bool:
    return (
        origin is not None
        and getattr(origin, "__module__", "") == "collections.abc"
        and (getattr(origin, "__name__", "") in names)
    )


_OPS: Final = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}


def _apply_validator(prop: Schema, v: Any) -> None:
    """Fold what attrs' built-in validators say into ``prop`` (unknown validators are skipped)."""
    if v is None:
        return
    own = getattr(v, "schema", None)  # bt_mqtt.core.configfields validators describe themselves
    if isinstance(own, Mapping):
        for key, value in own.items():
            if key == "items" and isinstance(prop.get("items"), dict):
                prop["items"].update(value)
            else:
                prop[key] = value
        return
    inner = getattr(v, "_validators", None)
    if inner is not None:  # and_(...) or a list of validators
        for sub in inner:
            _apply_validator(prop, sub)
        return
    if type(v).__name__ == "_OptionalValidator":
        _apply_validator(prop, v.validator)
        return
    if type(v).__name__ == "_DeepIterable":
        items = prop.get("items")
        if isinstance(items, dict):
            _apply_validator(items, v.member_validator)
        return
    if type(v).__name__ == "_InValidator":
        options = v.options
        if isinstance(options, type) and issubclass(options, enum.Enum):
            values = [m.value for m in options]
        else:
            values = list(options)
        if all(isinstance(o, str | int | float | bool) for o in values):
            prop["enum"] = (
                sorted(values, key=repr) if isinstance(options, set | frozenset) else values
            )
        return
    if type(v).__name__ == "_MatchesReValidator":
        pattern = v.pattern.pattern
        if v.match_func == v.pattern.fullmatch:
            pattern = f"^(?:{pattern})$"
        prop["pattern"] = pattern
        return
    op = getattr(v, "compare_op", None)
    if op in _OPS:
        prop[_OPS[op]] = v.bound
        return
    if type(v).__name__ == "_MinLengthValidator":
        prop["minItems" if prop.get("type") == "array" else "minLength"] = v.min_length
    elif type(v).__name__ == "_MaxLengthValidator":
        prop["maxItems" if prop.get("type") == "array" else "maxLength"] = v.max_length


def json_schema(
    cls: type, *, title: str | None = None, overrides: Mapping[Any, Override] | None = None
) -> Schema:
    """The JSON Schema of attrs class ``cls``: the root object, nested classes under ``$defs``."""
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    builder = _Builder(DEFAULT_OVERRIDES if overrides is None else overrides)
    root = builder.object_schema(cls)
    out: Schema = {"$schema": DIALECT, "title": title or cls.__name__, **root}
    if builder.defs:
        out["$defs"] = dict(sorted(builder.defs.items()))
    return out


def schema_json(cls: type, *, title: str | None = None) -> str:
    """``json_schema(cls)`` as indented JSON text, for ``--print-schema``."""
    return json.dumps(json_schema(cls, title=title), indent=2, sort_keys=False) + "\n"


# --- validation -------------------------------------------------------------------------------

_TYPE_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "object": lambda x: isinstance(x, Mapping),
    "array": lambda x: isinstance(x, list | tuple),
}


def validate(data: Any, schema: Schema) -> list[str]:
    """Problems of ``data`` against ``schema`` as ``key.path: problem`` lines (empty: valid).

    Supports the subset ``json_schema`` emits: ``$ref`` to ``#/$defs``, ``type``, ``enum``,
    ``anyOf``, ``properties``/``required``/``additionalProperties``, ``items``/``prefixItems``,
    numeric bounds, ``pattern``, lengths.
    """
    out: list[str] = []
    _check(data, schema, schema, "", out)
    return out


def _check(data: Any, s: Schema, root: Schema, path: str, out: list[str]) -> None:
    where = path or "(top level)"
    if "$ref" in s:
        ref = s["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        _check(data, root["$defs"][ref.removeprefix("#/$defs/")], root, path, out)
    if "anyOf" in s:
        if not any(not validate_sub(data, alt, root) for alt in s["anyOf"]):
            out.append(f"{where}: {data!r} matches none of the allowed forms")
        return
    kinds = s.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPE_CHECKS[k](data) for k in allowed):
            out.append(f"{where}: expected {' or '.join(allowed)}, got {data!r}")
            return
    if "enum" in s and data not in s["enum"]:
        out.append(f"{where}: {data!r} is not one of {s['enum']!r}")
    if isinstance(data, str):
        if "pattern" in s and not re.search(s["pattern"], data):
            out.append(f"{where}: {data!r} does not match {s['pattern']!r}")
        if len(data) < s.get("minLength", 0) or len(data) > s.get("maxLength", len(data)):
            out.append(f"{where}: length {len(data)} is out of bounds")
    if isinstance(data, int | float) and not isinstance(data, bool):
        bounds: tuple[tuple[str, Callable[[Any], bool]], ...] = (
            ("minimum", lambda b: bool(data < b)),
            ("exclusiveMinimum", lambda b: bool(data <= b)),
            ("maximum", lambda b: bool(data > b)),
            ("exclusiveMaximum", lambda b: bool(data >= b)),
        )
        for key, bad in bounds:
            if key in s and bad(s[key]):
                out.append(f"{where}: {data!r} violates {key} {s[key]!r}")
    if isinstance(data, Mapping):
        _check_object(data, s, root, path, out)
    if isinstance(data, list | tuple):
        prefix = s.get("prefixItems", [])
        for i, item in enumerate(data):
            sub = prefix[i] if i < len(prefix) else s.get("items", {})
            if sub is False:
                out.append(f"{path}[{i}]: no item allowed here")
            elif isinstance(sub, dict):
                _check(item, sub, root, f"{path}[{i}]", out)


def _check_object(
    data: Mapping[Any, Any], s: Schema, root: Schema, path: str, out: list[str]
) -> None:
    props: dict[str, Schema] = s.get("properties", {})
    extra = s.get("additionalProperties", True)
    for key in s.get("required", []):
        if key not in data:
            out.append(f"{path + '.' if path else ''}{key}: required key is missing")
    for key, value in data.items():
        child = f"{path}.{key}" if path else str(key)
        if key in props:
            _check(value, props[key], root, child, out)
        elif extra is False:
            out.append(f"{child}: unknown key")
        elif isinstance(extra, dict):
            _check(value, extra, root, child, out)


def validate_sub(data: Any, s: Schema, root: Schema) -> list[str]:
    """Problems of ``data`` against sub-schema ``s`` whose ``$ref`` targets live in ``root``."""
    out: list[str] = []
    _check(data, s, root, "", out)
    return out
