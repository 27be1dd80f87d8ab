"""``bt-mqtt-agent --config FILE [--check-config]``: the scanner agent's command line.

Exit codes: 0 on success (also after SIGTERM), 2 on bad usage or configuration (the message
names the file, key and problem), 1 when scanning fails, 3 when the watchdog gives up, 4 after a
``restart-agent`` command (so that the service manager starts it again).
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from bt_mqtt.agent.config import AgentConfig, load_config, state_path
from bt_mqtt.core.cli import ArgumentParser, fail_config
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.logs import setup_logging

log = logging.getLogger(__name__)

PROG = "bt-mqtt-agent"


def _leave_out_openssl(cfg: AgentConfig) -> None:
    """Without TLS the agent never uses the ``ssl`` module, which asyncio imports when it can:
    marking it absent keeps libssl out of the process (about 1.2 MB of RSS on a Pi with 512 MB).
    asyncio treats a missing ``ssl`` as "no TLS support".  Not for bleak, which may want it."""
    if cfg.mqtt.tls is None and cfg.bluetooth.backend != "bleak" and "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> NoReturn:
    """Parse arguments, load the configuration, run the agent; exits the process."""
    parser = ArgumentParser(
        PROG, "Scan Bluetooth LE advertisements and publish them to MQTT (docs/configuration.md)."
    )
    parser.add_argument("--config", metavar="FILE", help="agent YAML file (required to run)")
    parser.add_argument(
        "--check-config", action="store_true", help="validate the configuration and exit"
    )
    parser.add_argument(
        "--print-schema", action="store_true", help="print the configuration's JSON schema"
    )
    args = parser.parse_args(argv)
    if args.print_schema:
        from bt_mqtt.core.schema import schema_json  # noqa: PLC0415

        sys.stdout.write(schema_json(AgentConfig, title="bt-mqtt-agent configuration") + "\n")
        raise SystemExit(0)
    if args.config is None:
        parser.error("the following arguments are required: --config")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    if not args.check_config:
        setup_logging(cfg.log.level, cfg.log.format)  # first: reading the password may warn
    try:
        password = cfg.mqtt.resolved_password(args.config)
    except ConfigError as exc:
        fail_config(PROG, str(exc))
    if args.check_config:
        sys.stdout.write(f"{args.config}: configuration OK (scanner_id {cfg.scanner_id})\n")
        raise SystemExit(0)
    _leave_out_openssl(cfg)

    import asyncio  # noqa: PLC0415 - after _leave_out_openssl

    from bt_mqtt.agent.runner import Agent  # noqa: PLC0415 - gmqtt and the backends load only when running

    async def run() -> int:
        state = state_path(cfg, args.config) if cfg.commands.enabled else None
        return await Agent(cfg, password=password, state_file=state).run()

    raise SystemExit(asyncio.run(run()))


if __name__ == "__main__":
    main()
