"""``bt-mqtt demo``: arguments and the entry point (see ``orchestrator``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bt_mqtt.core.logs import setup_logging
from bt_mqtt.demo.services import MissingBinary

log = logging.getLogger(__name__)


def default_directory() -> Path:
    """``$XDG_STATE_HOME/bt-mqtt/demo`` (``~/.local/state/bt-mqtt/demo`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bt-mqtt" / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's options."""
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="state folder for logs, configs and data (default: %(default)s under "
        "the user's state directory); emptied at start",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="run for this long, then stop everything and print a JSON summary",
    )
    p.add_argument("--no-console", action="store_true", help="run headless (no Textual console)")
    p.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    p.add_argument(
        "--offline-at",
        type=float,
        default=None,
        help="seconds into the run when one scanner goes offline "
        "(default: halfway, or 120 s without --seconds)",
    )
    p.add_argument(
        "--homeassistant",
        action="store_true",
        help="publish Home Assistant MQTT discovery; the summary says how soon each decoded "
        "device appeared in the discovery topics",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "bluez", "replay"),
        default="auto",
        help="agents' backend: bluez against simulated BlueZ (needs dbus-daemon), "
        "or replay files (default: auto)",
    )


class _Progress(logging.Formatter):
    """``demo   12.3 s  message``: seconds since the demo started, for a person to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.time()

    def format(self, record: logging.LogRecord) -> str:
        elapsed = record.created - self.start
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"demo {elapsed:6.1f} s  {level}{record.getMessage()}"


def show_progress() -> None:
    """Headless: the demo's own steps on stderr; other loggers (the parts' libraries, gmqtt's
    connection chatter) only from warnings up."""
    setup_logging("warning", "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Progress())
    demo = logging.getLogger("bt_mqtt.demo")
    demo.handlers[:] = [handler]
    demo.setLevel(logging.INFO)
    demo.propagate = False


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 on success, 1 when a part fails to start (the message says why) or a
    published advert was not archived."""
    from bt_mqtt.demo.orchestrator import Demo, DemoOptions  # noqa: PLC0415

    directory: Path = args.dir or default_directory()
    if args.seconds is not None and args.seconds <= 0:
        sys.stderr.write("bt-mqtt demo: error: --seconds must be positive\n")
        return 2
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    headless = args.no_console
    if headless:
        show_progress()
    else:  # the terminal belongs to the console: log to a file instead
        logging.basicConfig(filename=directory / "demo.log", level=logging.INFO, force=True)
    opts = DemoOptions(
        directory=directory,
        seconds=args.seconds,
        console=not headless,
        seed=args.seed,
        offline_at=args.offline_at,
        backend=args.backend,
        homeassistant=args.homeassistant,
    )

    async def main() -> dict[str, Any]:
        """Ctrl-C or SIGTERM cancels the run; its ``finally`` stops every process it started."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await Demo(opts).run()

    try:
        summary = asyncio.run(main())
    except (MissingBinary, RuntimeError, OSError) as exc:
        sys.stderr.write(f"bt-mqtt demo: {exc}\nlogs are in {directory}\n")
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.stderr.write("bt-mqtt demo: interrupted; everything it started has been stopped\n")
        return 130
    log.info(
        "done: %d adverts published, %s, %d lost on the way (counted from seq); "
        "the JSON summary follows on stdout",
        summary["adverts_published"],
        "all archived" if summary["all_archived"] else "NOT all archived (see missing.json)",
        summary.get("adverts_lost", 0),
    )
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["all_archived"] else 1
