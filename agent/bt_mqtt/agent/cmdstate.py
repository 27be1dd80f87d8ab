"""The state file: ``set-filters`` and ``set-dedup`` kept across agent restarts.

A JSON object ``{"filters": {...}, "dedup": {...}}`` (either key optional), each section in the
YAML's shape, written atomically (a temporary file renamed over it) next to the configuration
(``config.state_path``).  ``load`` checks it with the configuration's converter and validators
and raises ``StateError`` naming the file and the problem; the agent then logs it and starts
with the configuration file's sections.
"""

from __future__ import annotations

import json
import os
from typing import Any

from attrs import define

from bt_mqtt.agent.config import DedupConfig, FiltersConfig, make_converter
from bt_mqtt.core import configfile
from bt_mqtt.core.configfile import ConfigError


class StateError(ValueError):
    """The state file cannot be read or does not hold valid sections."""


@define(frozen=True)
class Overrides:
    """Sections set by commands (None: the configuration file's)."""

    filters: FiltersConfig | None = None
    dedup: DedupConfig | None = None


def load(path: str) -> Overrides:
    """The overrides in ``path``; empty when there is no such file; ``StateError`` otherwise."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return Overrides()
    except OSError as exc:
        raise StateError(f"{path}: cannot read the command state file: {exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{path}: the command state file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StateError(f"{path}: the command state file is not a JSON object")
    unknown = sorted(set(data) - {"filters", "dedup"})
    if unknown:
        raise StateError(f"{path}: unknown key(s) {', '.join(unknown)} (filters, dedup)")
    conv = make_converter()
    out: dict[str, Any] = {}
    for key, cls in (("filters", FiltersConfig), ("dedup", DedupConfig)):
        if key in data:
            try:
                out[key] = configfile.structure(conv, {key: data[key]}, _wrapper(cls), path)
            except ConfigError as exc:
                raise StateError(str(exc)) from None
    return Overrides(
        filters=out["filters"].filters if "filters" in out else None,
        dedup=out["dedup"].dedup if "dedup" in out else None,
    )


@define(frozen=True)
class _Filters:
    filters: FiltersConfig


@define(frozen=True)
class _Dedup:
    dedup: DedupConfig


def _wrapper(cls: type[Any]) -> type[Any]:
    """A one-key class, so that errors name the key path (``filters.blocklist.macs[0]``)."""
    return _Filters if cls is FiltersConfig else _Dedup


def save(path: str, overrides: Overrides) -> None:
    """Write ``overrides`` to ``path`` atomically (``OSError`` when the folder is not
    writable)."""
    conv = make_converter()
    data: dict[str, Any] = {}
    if overrides.filters is not None:
        data["filters"] = conv.unstructure(overrides.filters)
    if overrides.dedup is not None:
        data["dedup"] = conv.unstructure(overrides.dedup)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
