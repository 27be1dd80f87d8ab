"""HA bridge cost: the subscriber's CPU at a paced advert rate, discovery off vs on.

Run: ``.venv/bin/python -m bench.hass_bridge [--rate 2000] [--seconds 20] [--rounds 3]``

Starts its own Mosquitto and PostgreSQL cluster.  Each round runs ``bt-mqtt-subscriber run``
twice on the same stream (1,000 devices over four scanners, a new boot per run so nothing is a
duplicate), once with ``homeassistant.discovery: false`` (the baseline) and once with ``true``,
publishing at ``--rate`` adverts/s for ``--seconds``, and reads the CPU seconds the subscriber
(main process and planner worker) spent from the first advert until all were committed.
Prints the medians and the ratio on/off; the target is on/off <= 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gmqtt

from bench.subscriber_ingest import children, cpu_seconds
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import destroy_cluster, make_cluster
from tests.fixtures.procs import free_port
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import scrape, start_subscriber, stop, write_config
from tests.subscriber.streams import Msg, stream


async def paced(port: int, msgs: list[Msg], rate: int) -> float:
    """Publish ``msgs`` at ``rate``/s (QoS 1); the seconds it took."""
    pub = gmqtt.Client(f"bench-hass-pub-{time.time_ns()}")
    await pub.connect("127.0.0.1", port)
    t0 = time.perf_counter()
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    for i in range(0, len(msgs), per_tick):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for m in msgs[i : i + per_tick]:
            pub.publish(m.topic, m.payload, qos=1)
    took = time.perf_counter() - t0
    await asyncio.sleep(0.5)
    await pub.disconnect()
    return took


def one_run(cfg: Path, log: Path, mport: int, msgs: list[Msg], rate: int) -> float:
    """CPU seconds of the subscriber while ``msgs`` are published at ``rate`` and committed."""
    proc = start_subscriber(cfg, log, "run")
    try:
        wait_until(lambda: bool(scrape(mport)), "metrics endpoint", 30, proc=proc, log=log)
        wait_until(
            lambda: "mqtt_connected" in log.read_text(), "subscription", 30, proc=proc, log=log
        )
        time.sleep(1.0)  # start-up (imports, bridge connection) is not what we measure
        base = scrape(mport).get("archived_total", 0)
        pids = [proc.pid, *children(proc.pid)]
        cpu0 = sum(cpu_seconds(p) for p in pids)
        asyncio.run(paced(_port(cfg), msgs, rate))
        wait_until(
            lambda: scrape(mport).get("archived_total", 0) >= base + len(msgs),
            "all committed",
            300,
            proc=proc,
            log=log,
        )
        return sum(cpu_seconds(p) for p in pids) - cpu0
    finally:
        stop(proc)


def _port(cfg: Path) -> int:
    import yaml  # noqa: PLC0415

    return int(yaml.safe_load(cfg.read_text())["mqtt"]["port"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = int(args.rate * args.seconds)
    work = Path(tempfile.mkdtemp(prefix="bt-mqtt-bench-hass-"))
    broker = Broker(work / "mosquitto")
    broker.start()
    cluster = make_cluster(durable=True)
    cluster.start()
    try:
        db = cluster.create_database("bench")
        mport = free_port()
        cfgs = {
            on: write_config(
                work / f"sub-{on}.yaml",
                broker.port,
                db,
                metrics={"port": mport},
                ingest={"batch_ms": 50},
                client_id="bench-subscriber",
                homeassistant={"discovery": on},
            )
            for on in (False, True)
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bt_mqtt.subscriber.main",
                "--config",
                str(cfgs[False]),
                "migrate",
            ],
            check=True,
            capture_output=True,
        )
        original = list(stream(n, scanners=("p1", "p2", "p3", "p4"), n_devices=1000))
        cpu: dict[bool, list[float]] = {False: [], True: []}
        run = 0
        for r in range(args.rounds):
            for on in (False, True):
                run += 1
                boot = f'"boot{run:04d}"'.encode()
                msgs = [
                    Msg(m.topic, m.payload.replace(b'"boot0001"', boot), m.mac, m.scanner_id, m.seq)
                    for m in original
                ]
                secs = one_run(cfgs[on], work / f"sub-{on}.log", mport, msgs, args.rate)
                cpu[on].append(secs)
                print(
                    f"round {r + 1} discovery {'on ' if on else 'off'}: {n:,} adverts at "
                    f"{args.rate}/s, subscriber CPU {secs:.2f} s "
                    f"({secs / n * 1e6:.0f} us/advert, {secs / args.seconds * 100:.0f}% of a core)",
                    flush=True,
                )
        off, on_ = statistics.median(cpu[False]), statistics.median(cpu[True])
        print()
        print(f"adverts per run: {n:,} at {args.rate}/s; medians of {args.rounds} rounds")
        print(f"subscriber CPU, discovery off: {off:.2f} s ({off / n * 1e6:.0f} us/advert)")
        print(f"subscriber CPU, discovery on:  {on_:.2f} s ({on_ / n * 1e6:.0f} us/advert)")
        print(f"ratio on/off: {on_ / off:.2f}  (target <= 1.10)")
    finally:
        broker.stop()
        destroy_cluster(cluster)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
