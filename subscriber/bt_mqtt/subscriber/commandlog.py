"""The record of scanner commands: every command and reply seen on the broker, in
``scanner_commands`` (migrations/0009_commands.sql).

Kept out of the ingest path: its own MQTT client (``<mqtt.client_id>-commands``, clean
session) subscribed at QoS 1 to ``{prefix}/command/+`` and ``{prefix}/scanner/+/reply``, its
own database connection, one small upsert per message (commands are rare).  ``to_row`` is the
pure part: a message -> the row to upsert, keyed by (request id, scanner): a command's row has
the target (a scanner id or ``all``), a reply's the scanner that answered, and either may come
first.  A command's sender is known only if it says so: the MQTT 5 user property ``by`` (the
``bt-mqtt command`` CLI sets it to ``user@host``).  A message that is not a readable command or
reply is counted (``unreadable``), logged and kept in a row of its own (``request_id`` null,
``error`` saying why, ``result`` the payload's first ``KEEP_BYTES`` as text); the agent answers
a malformed command with a rejection, which is stored as a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from attrs import define

from bt_mqtt.core import command as cmd
from bt_mqtt.core.topics import COMMAND, REPLY, Route
from bt_mqtt.subscriber.metrics import Metrics

log = logging.getLogger(__name__)

BY_PROPERTY: Final = "by"
QUEUE_MAX: Final = 1000
KEEP_BYTES: Final = 4096
UNREADABLE: Final = "unreadable"
_RETRY_S: Final = 2.0

UPSERT_COMMAND: Final = """
INSERT INTO scanner_commands (request_id, scanner_id, verb, args, requested_at, requested_by)
VALUES (%(request_id)s, %(scanner_id)s, %(verb)s, %(args)s::jsonb, %(at)s, %(by)s)
ON CONFLICT (request_id, scanner_id) DO UPDATE SET
    verb = coalesce(scanner_commands.verb, excluded.verb), args = excluded.args,
    requested_at = excluded.requested_at, requested_by = excluded.requested_by
"""
UPSERT_REPLY: Final = """
INSERT INTO scanner_commands
    (request_id, scanner_id, verb, args, requested_at, requested_by,
     replied_at, ok, result, error, ms)
SELECT %(request_id)s, %(scanner_id)s, %(verb)s, a.args, a.requested_at, a.requested_by,
       %(at)s, %(ok)s, %(result)s::jsonb, %(error)s, %(ms)s
FROM (SELECT NULL) AS x
LEFT JOIN LATERAL (
    SELECT args, requested_at, requested_by FROM scanner_commands
    WHERE request_id = %(request_id)s AND scanner_id = 'all' LIMIT 1
) AS a ON true
ON CONFLICT (request_id, scanner_id) DO UPDATE SET
    verb = excluded.verb, replied_at = excluded.replied_at, ok = excluded.ok,
    result = excluded.result, error = excluded.error, ms = excluded.ms
"""


INSERT_UNREADABLE: Final = """
INSERT INTO scanner_commands (scanner_id, requested_at, error, result)
VALUES (%(scanner_id)s, %(at)s, %(error)s, %(result)s::jsonb)
"""


@define(frozen=True)
class Row:
    """What one message adds: ``kind`` is ``COMMAND`` or ``REPLY``; ``params`` the SQL's."""

    kind: str
    params: dict[str, Any]


def _scrub(value: Any) -> Any:
    """``value`` with NUL characters shown as ``\\x00`` (PostgreSQL text and jsonb refuse
    them)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00") if "\x00" in value else value
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(_scrub(value), separators=(",", ":"), default=str)


def sender(props: Any) -> str | None:
    """The ``by`` user property of an MQTT 5 message (gmqtt: a list of (name, value))."""
    if not isinstance(props, dict):
        return None
    for item in props.get("user_property") or ():
        if isinstance(item, tuple | list) and len(item) == 2 and item[0] == BY_PROPERTY:
            return str(item[1])[:200]
    return None


def to_row(route: Route | None, payload: bytes, props: Any, now: datetime) -> Row:
    """The row for one message; ``CommandRejected`` when it is not a readable command or
    reply."""
    if route is None or route.scanner_id is None:
        raise cmd.CommandRejected("not a command or reply topic")
    if route.kind == COMMAND:
        req = cmd.parse_request(payload)
        return Row(
            COMMAND,
            {
                "request_id": req.id,
                "scanner_id": route.scanner_id,
                "verb": req.command,
                "args": _json(req.args),
                "at": now,
                "by": _scrub(sender(props)),
            },
        )
    if route.kind == REPLY:
        reply = cmd.parse_reply(payload)
        return Row(
            REPLY,
            {
                "request_id": _scrub(reply.id),
                "scanner_id": route.scanner_id,
                "verb": _scrub(reply.command),
                "at": now,
                "ok": reply.ok,
                "result": _json(reply.result),
                "error": _scrub(reply.error),
                "ms": min(reply.ms, 2**31 - 1),
            },
        )
    raise cmd.CommandRejected(f"not a command or reply topic ({route.kind})")


def unreadable_row(
    route: Route | None, topic: str, payload: bytes, reason: str, now: datetime
) -> Row:
    """A row keeping a message that is not a readable command or reply."""
    kind = route.kind if route is not None else "message"
    scanner = route.scanner_id if route is not None and route.scanner_id else topic[:200]
    return Row(
        UNREADABLE,
        {
            "scanner_id": scanner,
            "at": now,
            "error": _scrub(f"unreadable {kind}: {reason}"[:1000]),
            "result": _json(payload[:KEEP_BYTES].decode("utf-8", "backslashreplace")),
        },
    )


class CommandLog:
    """Records commands and replies beside the ingest (``run`` until ``stop``)."""

    def __init__(
        self,
        cfg: Any,
        conninfo: dict[str, Any],
        *,
        mqtt_password: str | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self.conninfo = {**conninfo, "application_name": "bt-mqtt-subscriber-commands"}
        self._password = mqtt_password
        self.topics = cfg.mqtt.topics()
        self.queue: asyncio.Queue[Row] = asyncio.Queue(QUEUE_MAX)

    def on_message(self, topic: str, payload: bytes, props: Any) -> None:
        now = datetime.now(UTC)
        route = self.topics.classify(topic)
        try:
            row = to_row(route, payload, props, now)
        except cmd.CommandRejected as exc:
            self.metrics.commands_unreadable += 1
            log.info(
                "unreadable message on %s: %s",
                topic,
                exc.reason,
                extra={
                    "event": "command_log_unreadable",
                    "unreadable": self.metrics.commands_unreadable,
                },
            )
            row = unreadable_row(route, topic, payload, exc.reason, now)
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.metrics.commands_not_stored += 1
            log.warning(
                "command log queue full: a %s on %s not recorded",
                row.kind,
                topic,
                extra={"event": "command_log_dropped", "dropped": self.metrics.commands_not_stored},
            )

    async def run(self, stop: asyncio.Event) -> None:
        from bt_mqtt.core.mqttclient import build_client, connect_with_backoff  # noqa: PLC0415

        m = self.cfg.mqtt
        client = build_client(m, f"{m.client_id}-commands", password=self._password)
        filters = [self.topics.command_filter(), self.topics.reply_filter()]

        def on_connect(*_: Any) -> None:
            known = {s.topic: s for s in client.subscriptions}
            for f in filters:
                if f in known:
                    client.resubscribe(known[f])
                else:
                    client.subscribe(f, qos=1)

        def on_message(_c: Any, topic: str, payload: bytes, _qos: int, props: Any) -> int:
            self.on_message(topic, payload, props)
            return 0

        def on_subscribe(*_: Any) -> None:
            log.info(
                "recording scanner commands and replies",
                extra={"event": "command_log_subscribed"},
            )

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        writer = asyncio.create_task(self._write(stop), name="command-log-writer")
        try:
            if await connect_with_backoff(client, m, stop=stop):
                await stop.wait()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            client.stop_reconnect()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5)

    async def _write(self, stop: asyncio.Event) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        row: Row | None = None
        while not stop.is_set():
            if row is None:
                row = await self.queue.get()
            current = row
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
                sql = {COMMAND: UPSERT_COMMAND, REPLY: UPSERT_REPLY}.get(
                    current.kind, INSERT_UNREADABLE
                )
                await conn.execute(sql, current.params)
                self.metrics.commands_recorded += 1
                row = None
            except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
                self.metrics.commands_not_stored += 1  # this row cannot be stored: not retried
                log.error(
                    "command log: a %s could not be stored: %s",
                    current.kind,
                    exc,
                    extra={
                        "event": "command_log_dropped",
                        "dropped": self.metrics.commands_not_stored,
                    },
                )
                row = None
            except psycopg.Error as exc:
                log.warning(
                    "command log: database unavailable: %s; retrying",
                    exc,
                    extra={"event": "db_unavailable"},
                )
                if conn is not None:
                    await conn.close()
                conn = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _RETRY_S)
        if conn is not None:
            await conn.close()
