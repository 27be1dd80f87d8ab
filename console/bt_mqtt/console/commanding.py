"""Sending a scanner command from the console: the command line, the confirmation, the reply.

``parse_line("set-dedup window_s=5")`` -> (verb, args) as ``bt-mqtt command`` reads them
(``ValueError`` naming the problem).  ``ConfirmScreen`` asks before a disruptive command
(``core.command.DISRUPTIVE``: power-cycle-adapter, restart-agent, reboot).  A ``Commander``
sends one command and returns the replies (``main`` builds it on ``cli.command.exchange`` with
the console's broker account, which the sample ACL must allow to publish commands).
``reply_text`` and ``recent_text`` show replies and the recorded history (outside text: cleaned,
never markup).
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static

from bt_mqtt.cli.command import UsageError, parse_args_list
from bt_mqtt.console import safe
from bt_mqtt.core import command as cmd
from bt_mqtt.core.mqttconfig import MqttConfig

Commander = Callable[[str, str, dict[str, Any]], Awaitable[list[cmd.Reply]]]


def mqtt_commander(mqtt: MqttConfig, password: str | None, timeout_s: float) -> Commander:
    """A ``Commander`` that sends with ``cli.command.exchange`` (a fresh client per command)."""

    async def send(scanner: str, verb: str, args: dict[str, Any]) -> list[cmd.Reply]:
        from bt_mqtt.cli.command import exchange  # noqa: PLC0415 - gmqtt only when sending

        request = cmd.Request(cmd.new_id(), verb, args)
        return await exchange(mqtt, password, scanner, request, timeout_s)

    return send


def parse_line(text: str) -> tuple[str, dict[str, Any]]:
    """``VERB [JSON | key=value ...]`` -> (verb, args)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read the command: {exc}") from None
    if not words:
        raise ValueError("type a command: " + ", ".join(cmd.VERBS))
    verb, rest = words[0], words[1:]
    if verb not in cmd.VERBS:
        raise ValueError(f"{verb!r} is not one of " + ", ".join(cmd.VERBS))
    try:
        return verb, parse_args_list(rest)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class ConfirmScreen(ModalScreen[bool]):
    """``y`` sends, ``n`` or escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Send"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(safe.text(self.question + "  [y/n]"), id="confirm", markup=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def reply_text(scanner: str, verb: str, replies: Sequence[cmd.Reply]) -> Text:
    """One line per reply (or a timeout line)."""
    if not replies:
        return safe.text(f"{scanner} {verb}: no reply (offline, commands off, or not allowed)")
    out = Text()
    for i, r in enumerate(replies):
        word = "ok" if r.ok else f"FAILED: {r.error}"
        if i:
            out.append("\n")
        out.append_text(safe.text(f"{scanner} {verb}: {word} ({r.ms} ms)"))
    return out


def recent_text(rows: Sequence[dict[str, Any]]) -> Text:
    """The recorded commands of one scanner (newest first)."""
    out = safe.text("Recent commands:")
    for row in rows:
        at = row.get("at")
        when = at.strftime("%m-%d %H:%M:%S") if at is not None else "?"
        ok = row.get("ok")
        outcome = "pending" if ok is None else "ok" if ok else f"failed: {row.get('error')}"
        by = row.get("by")
        out.append("\n")
        out.append_text(
            safe.text(f"  {when} {row.get('verb')} {outcome}" + (f" by {by}" if by else ""))
        )
    return out
