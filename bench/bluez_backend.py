"""CPU per advert of the bluez backend alone (D-Bus signal in -> ``Advert`` to a null sink).

Starts a private dbus-daemon and the BlueZ simulator as a separate process streaming a
synthetic random-address stream with always-changing content, runs ``BluezBackend`` in this
process, and reports this process's CPU time per received advert at each rate.

    .venv/bin/python -m bench.bluez_backend [--rates 300,2000] [--seconds 5] [--read-interval S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="300,2000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument(
        "--read-interval", type=float, help="0: read on every event (default: the backend's)"
    )
    args = ap.parse_args()
    for rate in (float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), broker=False) as stack:
            n, cpu = asyncio.run(
                measure(stack.address, rate, args.seconds, args.devices, args.read_interval)
            )
        print(
            f"rate {rate:>6.0f}/s: {n} adverts in {args.seconds:.0f}s, "
            f"backend CPU {cpu * 1e6 / max(n, 1):.1f} us/advert "
            f"({100 * cpu / args.seconds:.1f}% of a core)"
        )


if __name__ == "__main__":
    main()
