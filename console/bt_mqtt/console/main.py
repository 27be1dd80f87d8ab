"""``bt-mqtt-console``: command line, configuration and wiring of the Textual app.

Reads the subscriber's configuration file (``--config``; MQTT settings, ``parsers.bindkeys``,
``database.url``).  The database is used only when a URL is given explicitly (the file's
``database.url``, ``BT_MQTT_DATABASE_URL`` or ``--database-url``); without one the console runs
on MQTT alone and never imports psycopg.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

import attrs

from bt_mqtt.core.cli import EXIT_OK, ArgumentParser, fail_config
from bt_mqtt.core.configfile import ConfigError, load_yaml

if TYPE_CHECKING:
    from bt_mqtt.console.app import ConsoleApp

log = logging.getLogger(__name__)

PROG = "bt-mqtt-console"


def build_parser() -> ArgumentParser:
    p = ArgumentParser(PROG, "Live BLE adverts, scanner health and parser hits from BT-MQTT.")
    p.add_argument("--config", metavar="FILE", help="the subscriber's YAML configuration")
    p.add_argument("--host", help="MQTT broker host (overrides mqtt.host)")
    p.add_argument("--port", type=int, help="MQTT broker port (overrides mqtt.port)")
    p.add_argument("--topic-prefix", help="topic prefix (overrides mqtt.topic_prefix)")
    p.add_argument("--database-url", help="PostgreSQL URL for history (read-only use)")
    p.add_argument("--no-database", action="store_true", help="ignore any configured database")
    p.add_argument("--fps", type=float, default=4.0, help="redraws per second (default 4)")
    p.add_argument("--max-devices", type=int, default=10_000, help="devices kept in memory")
    p.add_argument("--device-ttl", type=float, default=3600.0, help="forget devices after S s")
    p.add_argument("--silent-after", type=float, default=120.0, help="scanner silent after S s")
    p.add_argument("--ansi", action="store_true", help="use the terminal's 16 ANSI colours")
    p.add_argument("--log-file", help="write logs here (the terminal belongs to the UI)")
    p.add_argument("--serve", type=int, metavar="PORT", help="serve in a browser (textual-serve)")
    return p


def _serve(port: int, argv: list[str]) -> int:
    try:
        server_mod = importlib.import_module("textual_serve.server")
    except ImportError:
        fail_config(PROG, "--serve needs the textual-serve package (pip install textual-serve)")
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--serve":
            skip = True
        elif not arg.startswith("--serve="):
            rest.append(arg)
    command = shlex.join([sys.executable, "-m", "bt_mqtt.console.main", *rest])
    server_mod.Server(command, port=port).serve()
    return EXIT_OK


COMMAND_TIMEOUT_S = 10.0


def build_app(args: argparse.Namespace) -> ConsoleApp:
    """The configured, not yet running app (exits 2 on a configuration error)."""
    if args.fps <= 0 or args.fps > 60:
        fail_config(PROG, f"--fps: {args.fps} is outside (0, 60]")
    if args.log_file:
        logging.basicConfig(filename=args.log_file, level=logging.INFO)
    else:  # the terminal belongs to the UI: problems show in the status line, not as log text
        logging.getLogger().addHandler(logging.NullHandler())

    from bt_mqtt.subscriber import config as subconfig  # noqa: PLC0415
    from bt_mqtt.subscriber.devicesettings import Devices  # noqa: PLC0415

    env = dict(os.environ)
    try:
        cfg = subconfig.load_config(args.config, env)
        source = args.config or "(defaults)"
        mqtt = cfg.mqtt
        changes: dict[str, Any] = {}
        if args.host:
            changes["host"] = args.host
        if args.port is not None:
            changes["port"] = args.port
        if args.topic_prefix:
            changes["topic_prefix"] = args.topic_prefix
        if changes:
            mqtt = attrs.evolve(mqtt, **changes)
        password = subconfig.mqtt_password(cfg, source, env)
        explicit = bool(args.database_url or env.get(subconfig.ENV_DATABASE_URL))
        if args.config and not explicit:
            data = load_yaml(args.config)
            explicit = isinstance(data.get("database"), dict) and "url" in data["database"]
        conninfo: dict[str, Any] | None = None
        if explicit and not args.no_database:
            if args.database_url:
                cfg = attrs.evolve(cfg, database=attrs.evolve(cfg.database, url=args.database_url))
            db_password = subconfig.database_password(cfg, source, env)
            conninfo = subconfig.conninfo(cfg, db_password)
        bindkeys = subconfig.bindkeys(cfg)
        plugins = cfg.parsers.plugins
        theengs = cfg.parsers.theengs
        settings = Devices(cfg.devices)
    except (ConfigError, ValueError) as exc:
        fail_config(PROG, str(exc))

    from bt_mqtt.console.app import ConsoleApp  # noqa: PLC0415 - keeps --help fast
    from bt_mqtt.console.decoding import RegistryDecoder  # noqa: PLC0415
    from bt_mqtt.console.feed import MqttFeed  # noqa: PLC0415
    from bt_mqtt.console.state import ConsoleState, Limits  # noqa: PLC0415
    from bt_mqtt.console.views import Thresholds  # noqa: PLC0415

    decoder = RegistryDecoder(bindkeys, plugins=plugins, theengs=theengs, devices=settings)
    limits = Limits(max_devices=args.max_devices, device_ttl_s=args.device_ttl)
    db = None
    if conninfo is not None:
        from bt_mqtt.console.db import HistoryDb  # noqa: PLC0415

        db = HistoryDb(conninfo)

    from bt_mqtt.console.commanding import mqtt_commander  # noqa: PLC0415

    return ConsoleApp(
        ConsoleState(decoder, limits, settings),
        MqttFeed(mqtt, password),
        commander=mqtt_commander(mqtt, password, COMMAND_TIMEOUT_S),
        fps=args.fps,
        thresholds=Thresholds(silent_after_s=args.silent_after),
        db=db,
        parser_errors=decoder.errors,
        ansi=args.ansi,
    )


def run(app: ConsoleApp) -> int:
    """Run ``app`` in the terminal; its exit status: 0 when the operator quit, 1 when it
    stopped on an error (Textual has printed the traceback), so a supervisor notices."""
    app.run()
    code = app.return_code
    if code:
        log.error("the console stopped on an error (exit status %s)", code)
    return EXIT_OK if code is None else code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.serve is not None:
        return _serve(args.serve, argv)
    return run(build_app(args))


if __name__ == "__main__":
    raise SystemExit(main())
