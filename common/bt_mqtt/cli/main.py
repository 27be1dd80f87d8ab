"""``bt-mqtt``: one command, pluggable subcommands.

Each entry of ``SUBCOMMANDS`` names a module exposing ``add_arguments(parser)`` and
``run(args) -> int``; the module is imported only when its subcommand runs.  Add a line to
register another subcommand (``demo`` goes here).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from bt_mqtt.core.cli import EXIT_USAGE, ArgumentParser

log = logging.getLogger(__name__)

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "command": ("bt_mqtt.cli.command", "send a command to a scanner and wait for its reply"),
    "decode": ("bt_mqtt.cli.decode", "decode wire-format advertisements from stdin"),
    "demo": ("bt_mqtt.demo.cli", "run the whole pipeline on this machine, no hardware needed"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bt-mqtt``; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = ArgumentParser("bt-mqtt", "BT-MQTT tools.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        if args_list[:1] == [name]:
            importlib.import_module(module).add_arguments(sub)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_usage(sys.stderr)
        sys.stderr.write("bt-mqtt: error: a command is required\n")
        return EXIT_USAGE
    result: int = importlib.import_module(args._module).run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
