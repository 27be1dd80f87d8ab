"""``python -m bt_mqtt.bluezsim --bus ADDRESS``: a BlueZ simulator any scanner can point at.

Owns ``org.bluez`` (and the control name) on the given bus, optionally plays a scenario of
wire-format JSON lines (at their ``t`` offsets, or ``--rate`` per second) or a synthetic
stream, and runs until SIGTERM/SIGINT.  Writes ``READY <bus address>`` on stdout once up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bt_mqtt.bluezsim.control import CONTROL_NAME, serve_control
from bt_mqtt.bluezsim.model import ScenarioError, read_scenario, synthetic
from bt_mqtt.bluezsim.sim import MONITOR_MODES, BluezSim

log = logging.getLogger("bt_mqtt.bluezsim")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bt_mqtt.bluezsim", description=__doc__)
    p.add_argument("--bus", required=True, help="D-Bus address, e.g. unix:path=/tmp/bus.sock")
    p.add_argument("--adapter", action="append", help="adapter name (repeatable; default hci0)")
    p.add_argument("--monitors", choices=MONITOR_MODES, default="supported")
    p.add_argument("--scenario", type=Path, help="wire-format JSON lines to play")
    p.add_argument("--rate", type=float, help="adverts per second (ignore the lines' t)")
    p.add_argument("--loop", action="store_true", help="play the scenario forever")
    p.add_argument("--synthetic", type=int, metavar="DEVICES", help="random-address stream")
    p.add_argument("--count", type=int, default=0, help="synthetic adverts (0: endless)")
    p.add_argument("--name", default="org.bluez", help="bus name to own")
    p.add_argument("--control-name", default=CONTROL_NAME)
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    sim = BluezSim(
        args.bus, adapters=args.adapter or ["hci0"], monitors=args.monitors, bus_name=args.name
    )
    await sim.start()
    control = await serve_control(sim, args.control_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"READY {args.bus}\n")
    sys.stdout.flush()
    player: asyncio.Task[None] | None = None
    if args.scenario or args.synthetic:
        player = loop.create_task(_play(sim, args))
    await stop.wait()
    if player is not None:
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player
    control.disconnect()
    await sim.stop()
    log.info("simulator stats: %s", sim.stats)
    return 0


async def _play(sim: BluezSim, args: argparse.Namespace) -> None:
    if args.synthetic:
        await sim.play(synthetic(args.synthetic, args.count or None), rate=args.rate or 100.0)
        return
    while True:
        with open(args.scenario, encoding="utf-8") as fh:
            items = list(read_scenario(fh, str(args.scenario)))
        await sim.play(items, rate=args.rate)
        if not args.loop:
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.scenario is not None:
        try:
            with open(args.scenario, encoding="utf-8") as fh:
                for _ in read_scenario(fh, str(args.scenario)):
                    pass
        except OSError as exc:
            sys.stderr.write(f"bluezsim: cannot read scenario {args.scenario}: {exc}\n")
            return 2
        except ScenarioError as exc:
            sys.stderr.write(f"bluezsim: {exc}\n")
            return 2
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
