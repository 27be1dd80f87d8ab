"""CPU per advert of the bluez backend alone (D-Bus signal in -> ``Advert`` to a null sink).

Starts a private dbus-daemon and the BlueZ simulator as a separate process streaming a
synthetic random-address stream with always-changing content, runs ``BluezBackend`` in this
process, and reports this process's CPU time per received advert at each rate.  Each
measurement runs in a fresh process; with ``--baseline-tree DIR`` (a checkout of another
commit: ``git worktree add DIR main`` or ``git archive main | tar -x -C DIR``) that tree's
backend is measured too, alternating with this tree's, and the ratio of the medians printed.

    .venv/bin/python -m bench.bluez_backend [--rates 300,2000] [--seconds 5] [--reps 1]
        [--read-interval S] [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Stack
from bt_mqtt.agent.backends.bluez import BluezBackend
from bt_mqtt.bluezsim.control import SimClient
from bt_mqtt.core.advert import Advert


async def measure(
    address: str, rate: float, seconds: float, devices: int, read_interval: float | None
) -> tuple[int, float]:
    count = 0

    def sink(_advert: Advert) -> None:
        nonlocal count
        count += 1

    extra = {} if read_interval is None else {"read_interval_s": read_interval}
    backend = BluezBackend(adapter="hci0", mode="active", bus_address=address, **extra)
    task = asyncio.get_running_loop().create_task(backend.run(sink))
    ctl = await SimClient.connect(address)
    while backend.adapter_state().scan_mode != "active":
        await asyncio.sleep(0.01)
    await ctl.synthetic(devices, int(rate * (seconds + 1.5)), rate)
    await asyncio.sleep(1.0)  # warm up: devices created, caches filled
    c0, p0 = count, time.process_time()
    await asyncio.sleep(seconds)
    c1, p1 = count, time.process_time()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    ctl.close()
    return c1 - c0, p1 - p0


def _child_env(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:  # that tree's agent and common packages first
        env["PYTHONPATH"] = os.pathsep.join(
            [str(tree / "agent"), str(tree / "common"), env.get("PYTHONPATH", "")]
        )
    return env


def run_child(tree: Path | None, rate: float, args: argparse.Namespace) -> tuple[int, float]:
    """One measurement in a fresh process running ``tree``'s backend (None: this tree's)."""
    argv = [sys.executable, "-m", "bench.bluez_backend", "--child", "--rates", str(rate)]
    argv += ["--seconds", str(args.seconds), "--devices", str(args.devices)]
    if args.read_interval is not None:
        argv += ["--read-interval", str(args.read_interval)]
    out = subprocess.run(
        argv, env=_child_env(tree), check=True, capture_output=True, text=True
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    return int(got["n"]), float(got["cpu"])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rates", default="300,2000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--reps", type=int, default=1, help="repetitions per rate (median reported)")
    ap.add_argument(
        "--read-interval", type=float, help="0: read on every event (default: the backend's)"
    )
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        help="a checkout of another commit (git worktree add / git archive): its backend is "
        "measured in the same run, alternating with this tree's, and the ratio printed",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    if args.child:
        with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), broker=False) as stack:
            n, cpu = asyncio.run(
                measure(stack.address, rates[0], args.seconds, args.devices, args.read_interval)
            )
        print(json.dumps({"n": n, "cpu": cpu}))
        return
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.baseline_tree is not None:
        trees.append(("baseline", args.baseline_tree.resolve()))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load "
        f"{os.getloadavg()[0]:.1f}; {args.reps} rep(s) of {args.seconds:.0f}s per rate and tree"
        + (f"; baseline {trees[1][1]}" if len(trees) > 1 else "")
    )
    medians: dict[tuple[str, float], float] = {}
    for rate in rates:
        per: dict[str, list[float]] = {name: [] for name, _ in trees}
        for rep in range(args.reps):
            order = trees if rep % 2 == 0 else trees[::-1]  # alternate: neither always first
            for name, tree in order:
                n, cpu = run_child(tree, rate, args)
                us = cpu * 1e6 / max(n, 1)
                per[name].append(us)
                print(
                    f"rate {rate:>6.0f}/s rep {rep + 1} {name:<9}: {n} adverts in "
                    f"{args.seconds:.0f}s, backend CPU {us:.1f} us/advert "
                    f"({100 * cpu / args.seconds:.1f}% of a core)"
                )
        for name, values in per.items():
            medians[(name, rate)] = statistics.median(values)
    print("\nsummary (medians, backend CPU per advert)")
    for (name, rate), us in medians.items():
        print(f"  {name:<9} at {rate:6.0f}/s: {us:7.1f} us/advert")
    if len(trees) > 1:
        for rate in rates:
            ratio = medians[("this tree", rate)] / medians[("baseline", rate)]
            print(f"  ratio this tree / baseline at {rate:.0f}/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
