"""``bt-mqtt-subscriber``: run (default), migrate, reprocess, retention, compact.

Exit codes: 0 success, 1 a runtime failure (database unreachable for a one-shot command, schema
refused), 2 bad usage or configuration (the message names the key).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import psycopg

from bt_mqtt.core.cli import EXIT_USAGE, ArgumentParser, fail_config
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.logs import setup_logging
from bt_mqtt.core.wire import MAC_RE
from bt_mqtt.subscriber import config as cfgmod
from bt_mqtt.subscriber.config import SubscriberConfig

log = logging.getLogger(__name__)
PROG = "bt-mqtt-subscriber"


def _when(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _mac(value: str) -> str:
    if not MAC_RE.fullmatch(value.upper()):
        raise argparse.ArgumentTypeError(f"not a MAC address: {value!r}")
    return value.upper()


def build_parser() -> ArgumentParser:
    p = ArgumentParser(PROG, "Archive BT-MQTT advertisements from MQTT into PostgreSQL.")
    p.add_argument("--config", metavar="FILE", help="YAML configuration (default: built-ins)")
    p.add_argument("--migrations-dir", metavar="DIR", help="use these migration files")
    p.add_argument(
        "--print-schema", action="store_true", help="print the configuration's JSON schema"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=argparse.ArgumentParser)
    run = sub.add_parser("run", help="ingest from MQTT (the default)")
    run.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    sub.add_parser("migrate", help="apply pending database migrations")
    rp = sub.add_parser("reprocess", help="re-run the parsers over archived adverts")
    rp.add_argument("--since", type=_when, required=True, help="start (ISO 8601, UTC default)")
    rp.add_argument("--until", type=_when, required=True, help="end, exclusive")
    rp.add_argument("--mac", type=_mac, help="only this device")
    rp.add_argument("--parser", help="only adverts this parser claimed or now claims")
    ret = sub.add_parser("retention", help="drop expired partitions, create future ones")
    ret.add_argument(
        "--dry-run",
        action="store_true",
        help="only list what would be dropped, and print the storage budget",
    )
    sub.add_parser("compact", help="rewrite closed days into the compact archive's blocks")
    sub.add_parser("hass-remove", help="remove every BT-MQTT entity from Home Assistant")
    sub.add_parser(
        "rollup", help="bring the rollups up to date now (after migrating a large database)"
    )
    return p


def _setup(args: argparse.Namespace) -> tuple[SubscriberConfig, dict[str, Any], str]:
    source = args.config or "(defaults)"
    try:
        cfg = cfgmod.load_config(args.config)
        env = dict(os.environ)
        conninfo = cfgmod.conninfo(cfg, cfgmod.database_password(cfg, source, env))
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    setup_logging(cfg.log.level, cfg.log.format)
    return cfg, conninfo, source


def _cmd_migrate(args: argparse.Namespace, cfg: SubscriberConfig, conninfo: dict[str, Any]) -> int:
    from bt_mqtt.subscriber.compact import ARCHIVE_MIGRATION, compact  # noqa: PLC0415
    from bt_mqtt.subscriber.migrate import migrate  # noqa: PLC0415

    applied = migrate(conninfo, args.migrations_dir)
    log.info(
        "schema up to date (%d applied)",
        len(applied),
        extra={"event": "migrated", "applied": applied},
    )
    if ARCHIVE_MIGRATION in applied:  # convert the days already stored, with progress
        compact(conninfo, datetime.now(UTC), cfg.retention.hot_days, out=sys.stderr)
    return 0


def _cmd_compact(cfg: SubscriberConfig, conninfo: dict[str, Any]) -> int:
    from bt_mqtt.subscriber.compact import compact  # noqa: PLC0415

    counts = compact(conninfo, datetime.now(UTC), cfg.retention.hot_days, out=sys.stderr)
    sys.stdout.write(
        f"compacted {counts['days']} days: {counts['adverts']} adverts, "
        f"{counts['readings']} readings\n"
    )
    return 0


def _cmd_run(
    args: argparse.Namespace, cfg: SubscriberConfig, conninfo: dict[str, Any], source: str
) -> int:
    from bt_mqtt.parsers.registry import Registry  # noqa: PLC0415
    from bt_mqtt.subscriber.compact import run_periodically  # noqa: PLC0415
    from bt_mqtt.subscriber.hass.bridge import make_bridge, run_beside  # noqa: PLC0415
    from bt_mqtt.subscriber.ingest import Ingest  # noqa: PLC0415
    from bt_mqtt.subscriber.metrics import Metrics, serve  # noqa: PLC0415
    from bt_mqtt.subscriber.migrate import MigrationError, migrate, pending  # noqa: PLC0415

    try:
        mqtt_password = cfgmod.mqtt_password(cfg, source, dict(os.environ))
        privacy = cfgmod.privacy_policy(cfg, source)
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    if getattr(args, "migrate", False):
        migrate(conninfo, args.migrations_dir)
    else:
        todo = pending(conninfo, args.migrations_dir)
        if todo:
            raise MigrationError(
                f"the database schema is out of date ({', '.join(todo)} pending); "
                f"run '{PROG} migrate' or 'run --migrate'"
            )
    registry = Registry.default(plugins=cfg.parsers.plugins, theengs=cfg.parsers.theengs)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics = Metrics()
        server = None
        if cfg.metrics.port is not None:
            server = await serve(metrics, cfg.metrics.host, cfg.metrics.port)
        try:
            bridge = make_bridge(cfg, mqtt_password, lambda: metrics.loss)
            ingest = Ingest(
                cfg,
                conninfo,
                registry,
                mqtt_password=mqtt_password,
                metrics=metrics,
                privacy=privacy,
                on_heard=bridge.feed if bridge is not None else None,
            )
            jobs = [ingest.run(stop), run_periodically(conninfo, cfg.retention.hot_days, stop)]
            from bt_mqtt.subscriber.commandlog import CommandLog  # noqa: PLC0415

            commands = CommandLog(cfg, conninfo, mqtt_password=mqtt_password, metrics=metrics)
            jobs.append(commands.run(stop))
            if cfg.alerts.enabled:
                from bt_mqtt.subscriber.alertservice import AlertService  # noqa: PLC0415

                alerts = AlertService(cfg, conninfo, metrics=metrics, mqtt_password=mqtt_password)
                jobs.append(alerts.run(stop))
            await run_beside(bridge, stop, asyncio.gather(*jobs))
        finally:
            if server is not None:
                server.close()

    asyncio.run(main())
    return 0


def _cmd_retention(
    args: argparse.Namespace, cfg: SubscriberConfig, conninfo: dict[str, Any]
) -> int:
    from bt_mqtt.subscriber.retention import run_retention  # noqa: PLC0415

    defaults: dict[str, tuple[int, int]] = {}
    pruned: dict[str, int] = {}
    out = run_retention(
        cfg, conninfo, datetime.now(UTC), dry_run=args.dry_run, defaults=defaults, pruned=pruned
    )
    if args.dry_run:
        lines = [f"would drop {name}" for names in out.values() for name in names]
        lines += [
            f"{name}: {rows} rows, would delete {expired} (before the cut-off)"
            for name, (rows, expired) in sorted(defaults.items())
        ]
        lines += [f"{table}: would delete {n} rows" for table, n in pruned.items() if n]
        sys.stdout.write("".join(line + "\n" for line in lines))
        import psycopg  # noqa: PLC0415

        from bt_mqtt.subscriber import budget  # noqa: PLC0415

        with psycopg.connect(**conninfo, autocommit=True) as conn:
            sys.stdout.write(budget.render(budget.measure(conn)) + "\n")
    return 0


def _cmd_reprocess(
    args: argparse.Namespace, cfg: SubscriberConfig, conninfo: dict[str, Any]
) -> int:
    from bt_mqtt.subscriber.reprocess import reprocess  # noqa: PLC0415

    if args.until <= args.since:
        sys.stderr.write(f"{PROG}: error: --until must be after --since\n")
        return EXIT_USAGE
    reprocess(cfg, conninfo, args.since, args.until, mac=args.mac, parser=args.parser)
    return 0


def _cmd_rollup(cfg: SubscriberConfig, conninfo: dict[str, Any]) -> int:
    import psycopg  # noqa: PLC0415

    from bt_mqtt.subscriber import history  # noqa: PLC0415
    from bt_mqtt.subscriber.retention import rollup_keep_from  # noqa: PLC0415

    def progress(done: int) -> None:
        sys.stderr.write(f"\rrollup: {done:,} marks recomputed")
        sys.stderr.flush()

    keep_from = rollup_keep_from(cfg, datetime.now(UTC))
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        done = history.roll_up(conn, keep_from, progress=progress)
    sys.stderr.write("\n")
    log.info("rolled up %d marks", done, extra={"event": "rolled_up", "marks": done})
    return 0


def _cmd_hass_remove(cfg: SubscriberConfig, source: str) -> int:
    from bt_mqtt.subscriber.hass.bridge import remove_all  # noqa: PLC0415

    try:
        password = cfgmod.mqtt_password(cfg, source, dict(os.environ))
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    removed = asyncio.run(remove_all(cfg, mqtt_password=password))
    log.info("removed %d Home Assistant entities", removed, extra={"event": "ha_removed_all"})
    sys.stdout.write(f"removed {removed} Home Assistant entities\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.print_schema:
        from bt_mqtt.core.schema import schema_json  # noqa: PLC0415

        sys.stdout.write(schema_json(SubscriberConfig, title=f"{PROG} configuration") + "\n")
        return 0
    cfg, conninfo, source = _setup(args)
    from bt_mqtt.subscriber.migrate import MigrationError  # noqa: PLC0415

    command = args.command or "run"
    try:
        if command == "migrate":
            return _cmd_migrate(args, cfg, conninfo)
        if command == "compact":
            return _cmd_compact(cfg, conninfo)
        if command == "retention":
            return _cmd_retention(args, cfg, conninfo)
        if command == "reprocess":
            return _cmd_reprocess(args, cfg, conninfo)
        if command == "rollup":
            return _cmd_rollup(cfg, conninfo)
        if command == "hass-remove":
            return _cmd_hass_remove(cfg, source)
        return _cmd_run(args, cfg, conninfo, source)
    except MigrationError as exc:
        log.error("%s", exc, extra={"event": "schema_refused"})
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    except psycopg.OperationalError as exc:
        log.error("database unavailable: %s", exc, extra={"event": "db_unavailable"})
        sys.stderr.write(f"{PROG}: database unavailable: {str(exc).strip()}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
