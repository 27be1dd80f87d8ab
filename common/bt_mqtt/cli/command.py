"""``bt-mqtt command SCANNER VERB [ARGS...]``: send one command to a scanner, wait for its reply.

The broker and account come from the subscriber's configuration file (``--config``: its
``mqtt`` section, password from ``BT_MQTT_MQTT_PASSWORD``, ``password_file`` or ``password``),
else ``--host``/``--port`` without an account.  ``ARGS`` are one JSON object, or
``key=value`` pairs (each value read as JSON when it parses, else as a string):

    bt-mqtt command --config /etc/bt-mqtt/subscriber.yaml livingroom-pi status
    bt-mqtt command livingroom-pi set-dedup window_s=5
    bt-mqtt command livingroom-pi set-filters '{"min_rssi": -85}'

The request (``core.command.Request``, a fresh id) goes to ``{prefix}/command/SCANNER`` at QoS 1
after the subscription to the reply topic is acknowledged; the reply with that id is printed as
one JSON line.  With SCANNER ``all`` every reply within ``--timeout`` is printed.

Exit status: 0 when the reply says ok (for ``all``: at least one reply and every one ok), 1 when
a reply says it failed or the broker cannot be reached, 2 on bad usage or configuration,
``EXIT_TIMEOUT`` (3) when no reply came within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any, Final

from bt_mqtt.core import command as cmd
from bt_mqtt.core.cli import EXIT_OK, EXIT_USAGE, fail_config
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.safetext import escape
from bt_mqtt.core.topics import ALL_SCANNERS, check_scanner_id

log = logging.getLogger(__name__)

PROG: Final = "bt-mqtt command"
EXIT_FAILED: Final = 1
EXIT_TIMEOUT: Final = 3
DEFAULT_TIMEOUT_S: Final = 10.0


class UsageError(ValueError):
    """Bad arguments: reported on stderr with exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bt-mqtt command``."""
    parser.add_argument("scanner", metavar="SCANNER", help="scanner id, or 'all'")
    parser.add_argument("verb", metavar="VERB", choices=cmd.VERBS, help=", ".join(cmd.VERBS))
    parser.add_argument("args", metavar="ARGS", nargs="*", help="a JSON object, or key=value pairs")
    parser.add_argument("--config", metavar="FILE", help="the subscriber's YAML configuration")
    parser.add_argument("--host", help="broker host (without --config; default localhost)")
    parser.add_argument("--port", type=int, help="broker port (without --config; default 1883)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the reply (default {DEFAULT_TIMEOUT_S:.0f})",
    )


def parse_args_list(items: list[str]) -> dict[str, Any]:
    """``ARGS`` as the request's ``args`` object (``UsageError`` naming the bad item)."""
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            obj = json.loads(items[0])
        except ValueError as exc:
            raise UsageError(f"ARGS: not a JSON object: {exc}") from None
        if not isinstance(obj, dict):
            raise UsageError("ARGS: not a JSON object")
        return obj
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"ARGS: {item!r} is not key=value (or give one JSON object)")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def _connection(args: argparse.Namespace) -> tuple[MqttConfig, str | None]:
    if args.config is None:
        return MqttConfig(host=args.host or "localhost", port=args.port or 1883), None
    from bt_mqtt.subscriber import config as subconfig  # noqa: PLC0415 - only with --config

    env = dict(os.environ)
    cfg = subconfig.load_config(args.config, env)
    mqtt: MqttConfig = cfg.mqtt
    if args.host is not None or args.port is not None:
        import attrs  # noqa: PLC0415

        mqtt = attrs.evolve(mqtt, host=args.host or mqtt.host, port=args.port or mqtt.port)
    return mqtt, subconfig.mqtt_password(cfg, args.config, env)


def run(args: argparse.Namespace) -> int:
    """Run ``bt-mqtt command``; returns the exit status."""
    try:
        check_scanner_id(args.scanner)
        request = cmd.Request(cmd.new_id(), args.verb, parse_args_list(args.args))
        if not args.timeout > 0:
            raise UsageError(f"--timeout: {args.timeout} is not > 0")
    except (UsageError, ValueError) as exc:
        sys.stderr.write(f"{PROG}: error: {escape(str(exc))}\n")
        return EXIT_USAGE
    try:
        mqtt, password = _connection(args)
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    try:
        replies = asyncio.run(exchange(mqtt, password, args.scanner, request, args.timeout))
    except (OSError, TimeoutError, ConnectionError) as exc:
        sys.stderr.write(f"{PROG}: cannot reach the broker {mqtt.host}:{mqtt.port}: {exc}\n")
        return EXIT_FAILED
    for reply in replies:
        sys.stdout.write(reply.encode().decode() + "\n")
        if not reply.ok:
            sys.stderr.write(f"{PROG}: {reply.command} failed: {escape(reply.error or '?')}\n")
    if not replies:
        sys.stderr.write(
            f"{PROG}: no reply from {args.scanner} within {args.timeout:g}s "
            "(offline, commands disabled, or not allowed to read its command topic)\n"
        )
        return EXIT_TIMEOUT
    return EXIT_OK if all(r.ok for r in replies) else EXIT_FAILED


def _who() -> str:
    """``user@host``: who sent the command (the subscriber records it)."""
    import getpass  # noqa: PLC0415
    import socket  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


async def exchange(
    mqtt: MqttConfig, password: str | None, scanner: str, request: cmd.Request, timeout_s: float
) -> list[cmd.Reply]:
    """Publish ``request`` to ``scanner`` and collect the replies with its id: the first one,
    or (``scanner`` all) every one within ``timeout_s``."""
    import gmqtt  # noqa: PLC0415 - only when sending

    from bt_mqtt.core.mqttclient import build_client  # noqa: PLC0415

    topics = mqtt.topics()
    reply_filter = topics.reply_filter() if scanner == ALL_SCANNERS else topics.reply(scanner)
    client = build_client(mqtt, f"bt-mqtt-command-{request.id}", password=password)
    replies: list[cmd.Reply] = []
    done = asyncio.Event()
    subscribed = asyncio.Event()

    def on_message(_c: Any, _topic: str, payload: bytes, _qos: int, _props: Any) -> int:
        try:
            reply = cmd.parse_reply(payload)
        except cmd.CommandRejected as exc:
            log.debug("unreadable reply ignored: %s", exc)
            return 0
        if reply.id == request.id:
            replies.append(reply)
            if scanner != ALL_SCANNERS:
                done.set()
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        await asyncio.wait_for(
            client.connect(
                mqtt.host, mqtt.port, ssl=mqtt.ssl_context(), keepalive=mqtt.keepalive_s
            ),
            timeout_s,
        )
    except gmqtt.MQTTConnectError as exc:  # a wrong password, an unknown account
        raise ConnectionError(f"refused by the broker: {exc}") from None
    try:
        client.subscribe(reply_filter, qos=1)
        await asyncio.wait_for(subscribed.wait(), max(0.1, deadline - loop.time()))
        client.publish(
            topics.command(scanner), request.encode(), qos=1, user_property=[("by", _who())]
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(0.0, deadline - loop.time()))
    finally:
        client.stop_reconnect()
        await asyncio.wait_for(client.disconnect(), 5)
    return replies
