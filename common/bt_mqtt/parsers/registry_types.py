"""The records the parser registry keeps and returns: counters, outcomes, plugin problems.

Plain attrs classes with no behaviour beyond ``RegistryStats.as_dict``; the registry
(``bt_mqtt.parsers.registry``) fills them in.  Import them from there.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

from bt_mqtt.parsers.api import ParseResult


@define(slots=True)
class LastError:
    """The most recent failure of one parser, for a person to inspect."""

    mac: str
    kind: str  # "parse" or "decrypt"
    error: str


@define(slots=True)
class RegistryStats:
    """Counters since the registry was built.  Plain dicts keyed by parser name.

    ``adverts = decoded + failed + unknown``; the per-parser dicts count what each parser did
    (a merged advertisement is a hit for each parser that contributed).
    """

    adverts: int = 0
    decoded: int = 0
    failed: int = 0
    unknown: int = 0
    hits: dict[str, int] = field(factory=dict)
    errors: dict[str, int] = field(factory=dict)
    decrypt_failures: dict[str, int] = field(factory=dict)
    last_error: dict[str, LastError] = field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for the console, logs and metrics)."""
        return {
            "adverts": self.adverts,
            "decoded": self.decoded,
            "failed": self.failed,
            "unknown": self.unknown,
            "hits": dict(self.hits),
            "errors": dict(self.errors),
            "decrypt_failures": dict(self.decrypt_failures),
            "last_error": {
                k: {"mac": v.mac, "kind": v.kind, "error": v.error}
                for k, v in self.last_error.items()
            },
        }


@define(slots=True)
class Outcome:
    """What happened to one advertisement: who claimed it, the result, or why it failed.

    ``parser`` is the primary parser's name, or the first failing parser's when there is no
    result; ``error`` is ``None`` on success, else a short text; ``decrypt_failed`` marks a
    ``DecryptionError``.
    """

    parser: str | None
    result: ParseResult | None
    error: str | None = None
    decrypt_failed: bool = False


@define(slots=True)
class PluginProblem:
    """An entry point that could not be loaded or registered."""

    entry_point: str
    error: str
