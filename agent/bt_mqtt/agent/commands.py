"""The agent's command core: a received command -> a checked ``Order``, or a rejection.

Pure code (no MQTT, no clock): ``Gate.admit`` takes the topic's target (this scanner's id or
``all``), whether the message was retained, and the payload; it returns the ``Order`` to carry
out or raises ``CommandRejected`` with the reason, counting either way (``counters`` go into
the heartbeat).  A rejected command changes nothing.  Rules:

- commands are obeyed only when ``commands.enabled`` is true, only from this scanner's own
  topic or ``all``, never from a retained message (it would run again at every start), and a
  request id seen recently is not run twice (a QoS 1 redelivery);
- ``reboot`` only with ``commands.allow_reboot``;
- ``set-filters`` and ``set-dedup`` take keys of the YAML's ``filters`` and ``dedup`` sections:
  the keys given replace the current ones, the others stay; the result is checked by the same
  converter and validators as the configuration file;
- ``set-log-level`` takes ``{"level": "debug"|...}``, ``get-logs`` ``{"lines": 1..}`` (default
  ``DEFAULT_LOG_LINES``); the other verbs take no arguments.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Final

import attrs
from attrs import define, field

from bt_mqtt.agent.config import DedupConfig, FiltersConfig, make_converter
from bt_mqtt.core import command as cmd
from bt_mqtt.core import configfile
from bt_mqtt.core.command import CommandRejected, Request
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.logs import LEVELS
from bt_mqtt.core.topics import ALL_SCANNERS

log = logging.getLogger(__name__)

DEFAULT_LOG_LINES: Final = 50
SEEN_IDS: Final = 256
_NO_ARGS: Final = frozenset(
    {cmd.STATUS, cmd.RESTART_SCAN, cmd.POWER_CYCLE, cmd.RESTART_AGENT, cmd.REBOOT, cmd.GET_CONFIG}
)


@define(frozen=True)
class Order:
    """A checked command: ``request`` as received; for ``set-filters``/``set-dedup`` the new
    section (``filters``/``dedup``), for ``set-log-level`` ``level``, for ``get-logs``
    ``lines``."""

    request: Request
    filters: FiltersConfig | None = None
    dedup: DedupConfig | None = None
    level: str | None = None
    lines: int = DEFAULT_LOG_LINES

    @property
    def verb(self) -> str:
        return self.request.command


@define
class CommandCounters:
    """Command counters since start (in the heartbeat's ``counters``)."""

    commands_received: int = 0
    commands_ok: int = 0
    commands_failed: int = 0
    commands_rejected: int = 0


def merged_section(conv: Any, current: Any, args: dict[str, Any], cls: type[Any], what: str) -> Any:
    """``current`` (an attrs section) with the keys of ``args`` replaced, checked like the YAML
    (``CommandRejected`` naming the key and problem)."""
    data = {**conv.unstructure(current), **args}
    try:
        return configfile.structure(conv, data, cls, f"{what} args")
    except ConfigError as exc:
        raise CommandRejected(str(exc)) from None


@define
class Gate:
    """Admission of commands for one scanner; ``filters``/``dedup`` are the sections in force
    (the caller updates them after applying an order)."""

    scanner_id: str
    enabled: bool
    allow_reboot: bool
    filters: FiltersConfig
    dedup: DedupConfig
    max_log_lines: int = 1000
    counters: CommandCounters = field(factory=CommandCounters)
    _seen: deque[str] = field(factory=lambda: deque(maxlen=SEEN_IDS))
    _conv: Any = field(factory=make_converter, repr=False)

    def admit(self, target: str | None, retained: bool, payload: bytes) -> Order:
        """The order to carry out, or ``CommandRejected`` (counted) with the reason."""
        self.counters.commands_received += 1
        try:
            return self._admit(target, retained, payload)
        except CommandRejected:
            self.counters.commands_rejected += 1
            raise

    def _admit(self, target: str | None, retained: bool, payload: bytes) -> Order:
        req = cmd.parse_request(payload)
        rid, verb = req.id, req.command
        if not self.enabled:
            raise CommandRejected("commands are disabled on this scanner", rid, verb)
        if target not in (self.scanner_id, ALL_SCANNERS):
            raise CommandRejected(
                f"sent to {target!r}: this scanner obeys only {self.scanner_id!r} and "
                f"{ALL_SCANNERS!r}",
                rid,
                verb,
            )
        if retained:
            raise CommandRejected("a retained command is not obeyed (it would rerun)", rid, verb)
        if rid in self._seen:
            raise CommandRejected(f"request id {rid} was already handled", rid, verb)
        if verb == cmd.REBOOT and not self.allow_reboot:
            raise CommandRejected(
                "reboot is not allowed on this scanner (commands.allow_reboot is false)", rid, verb
            )
        try:
            order = self._check_args(req)
        except CommandRejected as exc:
            raise CommandRejected(exc.reason, rid, verb) from None
        self._seen.append(rid)
        return order

    def _check_args(self, req: Request) -> Order:
        verb, args = req.command, req.args
        if verb in _NO_ARGS:
            if args:
                raise CommandRejected(f"args: {verb} takes none, got {', '.join(sorted(args))}")
            return Order(req)
        if verb == cmd.SET_FILTERS:
            filters = merged_section(self._conv, self.filters, args, FiltersConfig, verb)
            return Order(req, filters=filters)
        if verb == cmd.SET_DEDUP:
            return Order(req, dedup=merged_section(self._conv, self.dedup, args, DedupConfig, verb))
        if verb == cmd.SET_LOG_LEVEL:
            level = args.get("level")
            if set(args) != {"level"} or level not in LEVELS:
                raise CommandRejected(
                    f'args: set-log-level takes {{"level": one of {", ".join(LEVELS)}}}, '
                    f"got {args!r:.100}"
                )
            return Order(req, level=level)
        if verb == cmd.GET_LOGS:
            lines = args.get("lines", DEFAULT_LOG_LINES)
            if (
                set(args) - {"lines"}
                or isinstance(lines, bool)
                or not isinstance(lines, int)
                or not 1 <= lines <= self.max_log_lines
            ):
                raise CommandRejected(
                    f'args: get-logs takes {{"lines": 1..{self.max_log_lines}}}, got {args!r:.100}'
                )
            return Order(req, lines=lines)
        raise CommandRejected(f"command {verb!r} is not handled")  # parse_request knows VERBS

    def applied(self, order: Order) -> None:
        """Record the sections ``order`` put in force."""
        if order.filters is not None:
            self.filters = order.filters
        if order.dedup is not None:
            self.dedup = order.dedup

    def finished(self, ok: bool) -> None:
        """Count the outcome of an admitted order."""
        if ok:
            self.counters.commands_ok += 1
        else:
            self.counters.commands_failed += 1

    def counter_dict(self) -> dict[str, int]:
        return attrs.asdict(self.counters)
