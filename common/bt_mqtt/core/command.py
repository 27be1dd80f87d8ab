"""Scanner commands and their replies: the one home of both messages (docs/mqtt-schema.md).

A command goes to ``{prefix}/command/{scanner_id}`` or ``{prefix}/command/all`` (QoS 1) as a
JSON object ``{"id": "<request id>", "command": "<verb>", "args": {...}}``; the scanner answers
on ``{prefix}/scanner/{scanner_id}/reply`` with
``{"id", "command", "ok": true|false, "result", "error": "<reason>"|null, "ms": <int>}``.

Pure code, shared by the agent (``parse_request``, ``Reply``), the ``bt-mqtt command`` CLI
(``Request``, ``parse_reply``) and the subscriber (``parse_request``, ``parse_reply``).
``parse_request`` checks the envelope only (an object, a usable id, a known verb, ``args`` an
object); what each verb's arguments mean is checked by the agent.  Errors are
``CommandRejected`` with a reason that names the problem, and the id and verb when they could
be read, so even a malformed request gets a reply that its sender can match.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Final

from attrs import define, field

STATUS: Final = "status"
RESTART_SCAN: Final = "restart-scan"
POWER_CYCLE: Final = "power-cycle-adapter"
RESTART_AGENT: Final = "restart-agent"
REBOOT: Final = "reboot"
SET_FILTERS: Final = "set-filters"
SET_DEDUP: Final = "set-dedup"
SET_LOG_LEVEL: Final = "set-log-level"
GET_CONFIG: Final = "get-config"
GET_LOGS: Final = "get-logs"

VERBS: Final = (
    STATUS,
    RESTART_SCAN,
    POWER_CYCLE,
    RESTART_AGENT,
    REBOOT,
    SET_FILTERS,
    SET_DEDUP,
    SET_LOG_LEVEL,
    GET_CONFIG,
    GET_LOGS,
)
# what interrupts scanning or the machine: the console asks for a confirmation first
DISRUPTIVE: Final = frozenset({POWER_CYCLE, RESTART_AGENT, REBOOT})

MAX_REQUEST_BYTES: Final = 64 * 1024
ID_RE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
ID_RULE: Final = "1 to 64 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'"


class CommandRejected(ValueError):
    """A request that cannot be carried out: ``reason`` says why; ``id``/``command`` are the
    request's when they could be read (else None)."""

    def __init__(
        self, reason: str, request_id: str | None = None, command: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.id = request_id
        self.command = command


@define(frozen=True)
class Request:
    """One command as sent."""

    id: str
    command: str
    args: dict[str, Any] = field(factory=dict)

    def encode(self) -> bytes:
        return json.dumps(
            {"id": self.id, "command": self.command, "args": self.args}, separators=(",", ":")
        ).encode()


@define(frozen=True)
class Reply:
    """One answer.  ``ok`` False comes with ``error``; ``ms`` is the time the scanner took."""

    id: str | None
    command: str | None
    ok: bool
    result: Any = None
    error: str | None = None
    ms: int = 0

    def encode(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "command": self.command,
                "ok": self.ok,
                "result": self.result,
                "error": self.error,
                "ms": self.ms,
            },
            separators=(",", ":"),
            default=str,
        ).encode()


def new_id() -> str:
    """A fresh request id (16 hex digits)."""
    return os.urandom(8).hex()


def rejection(exc: CommandRejected, ms: int = 0) -> Reply:
    """The reply to a rejected request."""
    return Reply(exc.id, exc.command, False, None, exc.reason, ms)


def _object(payload: bytes, what: str, limit: int) -> dict[str, Any]:
    if len(payload) > limit:
        raise CommandRejected(f"{what} is {len(payload)} bytes, over {limit}")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandRejected(f"{what} is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CommandRejected(f"{what} is not a JSON object")
    return obj


def parse_request(payload: bytes) -> Request:
    """The request in ``payload``, or ``CommandRejected`` naming the problem."""
    obj = _object(payload, "command", MAX_REQUEST_BYTES)
    rid = obj.get("id")
    good_id = rid if isinstance(rid, str) and ID_RE.fullmatch(rid) else None
    verb = obj.get("command")
    good_verb = verb if isinstance(verb, str) and verb in VERBS else None
    if good_id is None:
        raise CommandRejected(f"id: {rid!r:.80} is not {ID_RULE}", None, good_verb)
    if good_verb is None:
        raise CommandRejected(
            f"command: {verb!r:.80} is not one of {', '.join(VERBS)}", good_id, None
        )
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CommandRejected(f"args: {type(args).__name__} is not an object", good_id, good_verb)
    unknown = sorted(set(obj) - {"id", "command", "args"})
    if unknown:
        raise CommandRejected(f"unknown key(s) {', '.join(unknown)}", good_id, good_verb)
    return Request(good_id, good_verb, args)


def parse_reply(payload: bytes) -> Reply:
    """The reply in ``payload`` (unknown keys ignored), or ``CommandRejected`` naming the
    problem."""
    obj = _object(payload, "reply", MAX_REQUEST_BYTES * 4)
    rid, verb, ok, error, ms = (obj.get(k) for k in ("id", "command", "ok", "error", "ms"))
    if rid is not None and not isinstance(rid, str):
        raise CommandRejected(f"reply id: {rid!r:.80} is not a string")
    if verb is not None and not isinstance(verb, str):
        raise CommandRejected(f"reply command: {verb!r:.80} is not a string")
    if not isinstance(ok, bool):
        raise CommandRejected(f"reply ok: {ok!r:.80} is not true or false")
    if error is not None and not isinstance(error, str):
        raise CommandRejected(f"reply error: {error!r:.80} is not a string")
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise CommandRejected(f"reply ms: {ms!r:.80} is not a whole number >= 0")
    return Reply(rid, verb, ok, obj.get("result"), error, ms)
