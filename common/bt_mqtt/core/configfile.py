"""Loading YAML configuration into attrs classes with cattrs, with errors a person can act on.

Every problem is reported as ``FILE: KEY.PATH: PROBLEM``; unknown keys are errors.  A file is
refused (``ConfigError``) before it can cost much time or memory: at most ``MAX_FILE_BYTES``,
nesting at most ``MAX_DEPTH`` levels and at most ``MAX_NODES`` values counted with every alias
expanded (an "alias bomb" of a few hundred bytes would otherwise expand to billions), and no
recursive aliases.  Error messages never show a secret (``bt_mqtt.core.redact``) and never quote
the file's text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final, TypeVar

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

from bt_mqtt.core.redact import redact

T = TypeVar("T")

MAX_FILE_BYTES: Final = 2 * 1024 * 1024
MAX_DEPTH: Final = 64
MAX_NODES: Final = 200_000
MAX_LINES: Final = 50  # problems listed in one error (the rest are counted)
MAX_LINE_CHARS: Final = 400


class ConfigError(Exception):
    """A configuration that cannot be used.  The message names the file, the key and the problem;
    secrets in it are masked (``redact``)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


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
        for key in sorted(exc.extra_fields, key=repr):  # keys of any YAML type
            shown = key if isinstance(key, str) and key.isprintable() else repr(key)
            out.append(f"{path + '.' if path else ''}{shown}: unknown key")
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


class _Refused(yaml.YAMLError):
    """A document over the bounds above."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a bound on nesting while composing (it recurses per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Count the document's values and depth as if every alias were expanded (without expanding
    it: each node is measured once), and find recursive aliases; raise ``_Refused``."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            active.discard(key)
            if size[key] > MAX_NODES:
                raise _Refused(
                    f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)",
                    node.start_mark,
                )
            if depth[key] > MAX_DEPTH:
                raise _Refused(
                    f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded",
                    node.start_mark,
                )
            continue
        if key in size:
            continue
        if key in active:
            raise _Refused("an alias refers to a node that contains it", node.start_mark)
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _where(mark: Any) -> str:
    return "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without quoting the file (a snippet could show a secret)."""
    if isinstance(exc, _Refused):
        return f"refused{_where(exc.mark)}: {exc.problem}"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "not valid YAML"
        context = (
            f" ({exc.context}{_where(exc.context_mark)})" if exc.problem and exc.context else ""
        )
        return f"invalid YAML{_where(mark)}: {what}{context}"
    return f"invalid YAML: {type(exc).__name__}"


def parse_yaml(text: str) -> Any:
    """Parse one YAML document within the bounds above; raises ``yaml.YAMLError``."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping; an unreadable, malformed or oversized file is a ``ConfigError``."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{p}: configuration is larger than {MAX_FILE_BYTES} bytes; refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: configuration is not UTF-8 text (byte {exc.start})") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: {_yaml_problem(exc)}") from None
    except RecursionError:  # not expected within the bounds; never a traceback
        raise ConfigError(f"{p}: configuration is nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, not {type(data).__name__}")
    return data


def _error_text(source: str, lines: list[str]) -> str:
    shown = [
        f"{source}: {line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + '…'}"
        for line in lines[:MAX_LINES]
    ]
    if len(lines) > MAX_LINES:
        shown.append(f"{source}: … and {len(lines) - MAX_LINES} more problems")
    return "\n".join(shown)


def structure(conv: cattrs.Converter, data: dict[str, Any], cls: type[T], source: str) -> T:
    """Structure ``data`` into ``cls``; every problem is listed in one ``ConfigError``."""
    try:
        return conv.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError, IterableValidationError) as exc:
        raise ConfigError(_error_text(source, describe_error(exc))) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(_error_text(source, [str(exc)])) from None


def unstructure(conv: cattrs.Converter, obj: Any) -> Any:
    """The plain-data form of a configuration object (for ``--print-config``)."""
    return conv.unstructure(obj)


def check_validators(obj: Any, source: str) -> None:
    """Run attrs validators again (after post-processing); wrap failures as ``ConfigError``."""
    try:
        attrs.validate(obj)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
