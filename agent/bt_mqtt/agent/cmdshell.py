"""The asyncio shell of the command core: subscribe, admit, carry out, reply.

Loaded only when ``commands.enabled`` is true.  ``CommandService`` sets the publisher's
command topics (``topics.command_filters``: this scanner's and ``all``, QoS 1) and handles each
message: ``commands.Gate`` admits it or gives the rejection, admitted orders run one at a time,
and every message is answered on ``{prefix}/scanner/{scanner_id}/reply`` (``core.command.Reply``
with the time taken).  At start it re-applies the state file (``cmdstate``), which
``set-filters``/``set-dedup`` write before the new sections take effect, so a command that
cannot be kept changes nothing.  ``restart-agent`` stops the agent with ``EXIT_RESTART`` once
its reply is written (the shutdown waits for the broker's acknowledgement).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final

import attrs

from bt_mqtt.agent import cmdstate, logring
from bt_mqtt.agent.commands import Gate, Order
from bt_mqtt.agent.config import make_converter
from bt_mqtt.agent.filters import Filter
from bt_mqtt.core import command as cmd
from bt_mqtt.core.command import CommandRejected, Reply
from bt_mqtt.core.redact import MASK
from bt_mqtt.core.topics import COMMAND

if TYPE_CHECKING:
    from bt_mqtt.agent.runner import Agent

log = logging.getLogger(__name__)

EXIT_RESTART: Final = 4  # non-zero, so that Restart=on-failure restarts the agent too
REBOOT_WAIT_S: Final = 30.0
_REPLY_RETRIES: Final = 100
_REPLY_RETRY_S: Final = 0.05


class CommandFailed(RuntimeError):
    """An admitted command that could not be carried out (the reply's ``error``)."""


class CommandService:
    """Commands for one agent process."""

    def __init__(self, agent: Agent, state_file: str | None) -> None:
        self.agent = agent
        cfg = agent.cfg
        self.state_file = state_file
        self.topics = cfg.mqtt.topics()
        self._conv = make_converter()
        filters, dedup = cfg.filters, cfg.dedup
        self.kept = cmdstate.Overrides()  # the sections commands set (what the state file holds)
        if state_file is not None:
            try:
                kept = cmdstate.load(state_file)
            except cmdstate.StateError as exc:
                log.error(
                    "%s; starting with the configuration file's filters and dedup",
                    exc,
                    extra={"event": "command_state_invalid", "file": state_file},
                )
                kept = cmdstate.Overrides()
            if kept.filters is not None:
                filters = kept.filters
                agent.pipeline.set_filter(Filter(filters))
            if kept.dedup is not None:
                dedup = kept.dedup
                agent.pipeline.dedup.configure(
                    dedup.window_s, dedup.max_interval_s, dedup.max_entries
                )
            self.kept = kept
            if kept != cmdstate.Overrides():
                log.info(
                    "applied the filters/dedup kept by earlier commands from %s",
                    state_file,
                    extra={"event": "command_state_applied"},
                )
        self.gate = Gate(
            cfg.scanner_id,
            cfg.commands.enabled,
            cfg.commands.allow_reboot,
            filters,
            dedup,
            max_log_lines=cfg.commands.log_lines,
        )
        self.ring = logring.install(cfg.commands.log_lines)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Reply]] = set()
        pub = agent.publisher
        pub.command_filters = self.topics.command_filters(cfg.scanner_id)
        pub.on_command = self.on_message

    def counters(self) -> dict[str, int]:
        return self.gate.counter_dict()

    def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """From the publisher's client, for every message on a command topic."""
        task = asyncio.get_running_loop().create_task(
            self.handle(topic, payload, retained, time.monotonic())
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, topic: str, payload: bytes, retained: bool, t0: float) -> Reply:
        """Admit, run and answer one message; returns the reply sent."""
        route = self.topics.classify(topic)
        target = route.scanner_id if route is not None and route.kind == COMMAND else None
        try:
            order = self.gate.admit(target, retained, payload)
        except CommandRejected as exc:
            log.warning(
                "command rejected (%s): %s",
                exc.command or "?",
                exc.reason,
                extra={"event": "command_rejected", "id": exc.id, "topic": topic},
            )
            return await self._reply(cmd.rejection(exc, _ms(t0)))
        log.info(
            "command %s (id %s) from %s",
            order.verb,
            order.request.id,
            topic,
            extra={"event": "command", "id": order.request.id, "command": order.verb},
        )
        ok, result, error = True, None, None
        async with self._lock:
            try:
                result = await self._run(order)
            except (CommandFailed, OSError) as exc:
                ok, error = False, str(exc)
            except Exception as exc:  # a command must never stop the agent
                log.exception("command %s failed", order.verb)
                ok, error = False, f"{type(exc).__name__}: {exc}"
        self.gate.finished(ok)
        if not ok:
            log.warning(
                "command %s (id %s) failed: %s",
                order.verb,
                order.request.id,
                error,
                extra={"event": "command_failed", "id": order.request.id},
            )
        reply = await self._reply(Reply(order.request.id, order.verb, ok, result, error, _ms(t0)))
        if ok and order.verb == cmd.RESTART_AGENT:
            self.agent.request_exit(EXIT_RESTART, "restart-agent command")
        return reply

    async def _reply(self, reply: Reply) -> Reply:
        payload = reply.encode()
        for _ in range(_REPLY_RETRIES):  # no packet id free, or reconnecting: a moment later
            if self.agent.publisher.publish_reply(payload):
                break
            await asyncio.sleep(_REPLY_RETRY_S)
        else:
            log.warning(
                "could not send the reply to command %s (id %s)",
                reply.command,
                reply.id,
                extra={"event": "command_reply_lost"},
            )
        return reply

    # -- the verbs ---------------------------------------------------------------------------
    async def _run(self, order: Order) -> Any:
        verb = order.verb
        agent = self.agent
        if verb == cmd.STATUS:
            payload = agent.heartbeat_payload()
            if not agent.publisher.publish_status(payload):
                raise CommandFailed("the heartbeat could not be published")
            return json.loads(payload)
        if verb == cmd.RESTART_SCAN:
            await agent.backend.restart_discovery()
            return {"scan_mode": agent.backend.adapter_state().scan_mode}
        if verb == cmd.POWER_CYCLE:
            await agent.backend.power_cycle()
            state = agent.backend.adapter_state()
            return {"scan_mode": state.scan_mode, "powered": state.powered}
        if verb == cmd.RESTART_AGENT:
            return {"exit_code": EXIT_RESTART}
        if verb == cmd.REBOOT:
            return await self._reboot()
        if verb == cmd.SET_FILTERS:
            assert order.filters is not None
            self._keep(filters=order.filters)
            agent.pipeline.set_filter(Filter(order.filters))
            self.gate.applied(order)
            return {"filters": self._conv.unstructure(order.filters), "kept": self._kept()}
        if verb == cmd.SET_DEDUP:
            d = order.dedup
            assert d is not None
            self._keep(dedup=d)
            agent.pipeline.dedup.configure(d.window_s, d.max_interval_s, d.max_entries)
            self.gate.applied(order)
            return {"dedup": self._conv.unstructure(d), "kept": self._kept()}
        if verb == cmd.SET_LOG_LEVEL:
            assert order.level is not None
            logging.getLogger().setLevel(order.level.upper())
            return {"level": order.level}
        if verb == cmd.GET_CONFIG:
            return self.effective_config()
        if verb == cmd.GET_LOGS:
            return {"lines": self.ring.last(order.lines)}
        raise CommandFailed(f"command {verb!r} is not handled")

    def _kept(self) -> str | None:
        return self.state_file

    def _keep(self, **sections: Any) -> None:
        """Write the state file with ``sections`` replaced (before they take effect); only
        sections set by commands are kept there, the others follow the configuration file."""
        if self.state_file is None:
            return
        kept = attrs.evolve(self.kept, **sections)
        try:
            cmdstate.save(self.state_file, kept)
        except OSError as exc:
            raise CommandFailed(
                f"cannot write the command state file {self.state_file}: {exc}; nothing changed"
            ) from None
        self.kept = kept

    def effective_config(self) -> dict[str, Any]:
        """The configuration in force (filters and dedup as commands set them), secrets
        masked."""
        cfg = attrs.evolve(self.agent.cfg, filters=self.gate.filters, dedup=self.gate.dedup)
        data: dict[str, Any] = self._conv.unstructure(cfg)
        if data["mqtt"].get("password") is not None:
            data["mqtt"]["password"] = MASK
        data["log"]["level"] = logging.getLevelName(logging.getLogger().level).lower()
        data["commands"]["state_file"] = self.state_file
        return data

    async def _reboot(self) -> dict[str, Any]:
        argv = list(self.agent.cfg.commands.reboot_command)
        log.warning("rebooting: running %s", argv, extra={"event": "command_reboot"})
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as exc:
            raise CommandFailed(f"cannot run {argv}: {exc}") from None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), REBOOT_WAIT_S)
        except TimeoutError:
            proc.kill()
            raise CommandFailed(f"{argv} did not finish within {REBOOT_WAIT_S:.0f}s") from None
        text = out.decode("utf-8", "replace").strip()[-500:]
        if proc.returncode != 0:
            raise CommandFailed(f"{argv} exited with {proc.returncode}: {text}")
        return {"command": argv, "exit_code": 0, "output": text}


def _ms(t0: float) -> int:
    return max(0, round((time.monotonic() - t0) * 1000))
