"""Command-line conventions shared by every program: --version, exit 2 on bad usage."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from bt_mqtt.core.redact import redact
from bt_mqtt.core.safetext import escape
from bt_mqtt.core.version import VERSION

EXIT_OK = 0
EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with ``--version`` built in; usage errors exit 2 with the message."""

    def __init__(self, prog: str, description: str) -> None:
        super().__init__(prog=prog, description=description)
        self.add_argument("--version", action="version", version=f"{prog} {VERSION}")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def fail_config(prog: str, message: str) -> NoReturn:
    """Report a configuration error on stderr and exit 2 (secrets masked, control characters
    escaped: the message may quote the file's keys and values)."""
    safe = escape(redact(message), keep="\n")
    sys.stderr.write(f"{prog}: configuration error:\n{safe}\n")
    raise SystemExit(EXIT_USAGE)
