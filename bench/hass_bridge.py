"""HA bridge cost: the subscriber's CPU at a paced advert rate, discovery off vs on.

Run: ``.venv/bin/python -m bench.hass_bridge [--rate 2000] [--seconds 20] [--rounds 3]
[--warmup-s 5]``

Starts its own Mosquitto and PostgreSQL cluster.  Each round runs ``bt-mqtt-subscriber run``
twice on the same stream (1,000 devices over four scanners, a new boot per run so nothing is a
duplicate), once with ``homeassistant.discovery: false`` (the baseline) and once with ``true``,
and reads the CPU seconds the subscriber (main process and planner worker) spent from the first
advert until all were committed, in two phases: ``--warmup-s`` of adverts at ``--rate``/s, in
which every device is new and announced to HA (the cold start), then ``--seconds`` more (the
steady state: devices known, states rate-limited).  Prints the medians and the ratios on/off of
both; the target is on/off <= 1.10 in the steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import gmqtt

from bench.subscriber_setup import adverts, children, cpu_seconds, migrate, services, with_boot
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import scrape, start_subscriber, stop
from tests.subscriber.streams import Msg


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


def one_run(cfg: Path, log: Path, mport: int, phases: list[list[Msg]], rate: int) -> list[float]:
    """CPU seconds of the subscriber while each phase's adverts are published at ``rate`` and
    committed, by phase."""
    proc = start_subscriber(cfg, log, "run")
    try:
        wait_until(lambda: bool(scrape(mport)), "metrics endpoint", 30, proc=proc, log=log)
        wait_until(
            lambda: "mqtt_connected" in log.read_text(), "subscription", 30, proc=proc, log=log
        )
        time.sleep(1.0)  # start-up (imports, bridge connection) is not what we measure
        pids = [proc.pid, *children(proc.pid)]
        out = []
        for msgs in phases:
            base = scrape(mport).get("archived_total", 0)
            cpu0 = sum(cpu_seconds(p) for p in pids)
            asyncio.run(paced(_port(cfg), msgs, rate))
            wait_until(
                lambda: scrape(mport).get("archived_total", 0) >= base + len(msgs),  # noqa: B023
                "all committed",
                300,
                proc=proc,
                log=log,
            )
            out.append(sum(cpu_seconds(p) for p in pids) - cpu0)
        return out
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
    ap.add_argument("--warmup-s", type=float, default=5.0)
    args = ap.parse_args()
    n_warm, n = int(args.rate * args.warmup_s), int(args.rate * args.seconds)
    phases = ("cold", "steady")
    with services("bt-mqtt-bench-hass-") as svc:
        cfgs = {
            on: svc.config(f"sub-{on}.yaml", homeassistant={"discovery": on})
            for on in (False, True)
        }
        migrate(cfgs[False])
        original = adverts(n_warm + n)
        cpu: dict[tuple[str, bool], list[float]] = {
            (p, on): [] for p in phases for on in (False, True)
        }
        run = 0
        for r in range(args.rounds):
            for on in (False, True):
                run += 1
                msgs = with_boot(original, run)
                log = svc.work / f"sub-{on}.log"
                secs = one_run(
                    cfgs[on], log, svc.metrics_port, [msgs[:n_warm], msgs[n_warm:]], args.rate
                )
                for phase, count, took in zip(phases, (n_warm, n), secs, strict=True):
                    cpu[(phase, on)].append(took)
                    print(
                        f"round {r + 1} discovery {'on ' if on else 'off'} {phase:<6}: "
                        f"{count:,} adverts, subscriber CPU {took:.2f} s "
                        f"({took / count * 1e6:.0f} us/advert)",
                        flush=True,
                    )
        print()
        print(f"at {args.rate}/s, medians of {args.rounds} rounds:")
        for phase, count in zip(phases, (n_warm, n), strict=True):
            off = statistics.median(cpu[(phase, False)])
            on_ = statistics.median(cpu[(phase, True)])
            print(
                f"{phase:<6} ({count:,} adverts): subscriber CPU discovery off {off:.2f} s, "
                f"on {on_:.2f} s ({off / count * 1e6:.0f} -> {on_ / count * 1e6:.0f} us/advert), "
                f"ratio on/off {on_ / off:.2f}"
            )
        print("target: on/off <= 1.10 in the steady state")


if __name__ == "__main__":
    main()
