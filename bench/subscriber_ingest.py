"""Subscriber ingest benchmark: sustained rate vs a do-nothing consumer, and publish->commit p99.

Run: ``.venv/bin/python -m bench.subscriber_ingest [--count 200000] [--rounds 3] [--rounds-only]``

Starts its own Mosquitto and a durable PostgreSQL cluster (fsync on).  For each round:
1. a do-nothing QoS 1 consumer (gmqtt, persistent session) drains N queued adverts: baseline;
2. ``bt-mqtt-subscriber`` drains the same N adverts into PostgreSQL until all are committed,
   and the CPU time each process spent meanwhile is read from /proc (subscriber main process,
   its planner worker, every PostgreSQL process of the cluster, Mosquitto, and the rest of the
   machine, which is shared);
then, with the subscriber live, adverts are published at 1,000/s and the time from publish to
commit is measured by polling the highest committed seq (every 5 ms).  Prints medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import gmqtt
import psycopg

from bench.subscriber_setup import (
    TICK,
    adverts,
    children,
    cpu_seconds,
    migrate,
    services,
    with_boot,
)
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.topics import Topics
from bt_mqtt.core.wire import encode, format_ts
from tests.subscriber.harness import publish, scrape, start_subscriber, stop


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


async def baseline(port: int, n: int, client_id: str, prepare: bool) -> float:
    """Rate (msgs/s) at which a QoS 1 consumer that does nothing drains ``n`` queued messages."""
    done = asyncio.Event()
    got = 0
    first = 0.0

    def on_message(
        client: gmqtt.Client, topic: str, payload: bytes, qos: int, props: object
    ) -> int:
        nonlocal got, first
        if got == 0:
            first = time.perf_counter()
        got += 1
        if got >= n:
            done.set()
        return 0

    client = gmqtt.Client(
        client_id, clean_session=False, session_expiry_interval=3600, receive_maximum=20000
    )
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(Topics().raw_filter(), qos=1)
    start = time.perf_counter()
    await client.connect("127.0.0.1", port)
    if prepare:
        await asyncio.sleep(0.5)
        await client.disconnect()
        return 0.0
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    await client.disconnect()
    return n / elapsed


def drain_subscriber(
    cfg: Path, log: Path, metrics_port: int, n: int, others: dict[str, Callable[[], float]]
) -> tuple[float, float, dict[str, float]]:
    """(rate from process start, rate from the first commit, CPU seconds by process) until
    ``n`` adverts are committed.  ``others`` read the CPU seconds of the broker and database."""
    before = {name: read() for name, read in others.items()}
    busy0 = machine_busy()
    proc = start_subscriber(cfg, log, "run")
    start = time.perf_counter()
    first = 0.0
    workers: set[int] = set()
    try:
        while True:
            m = scrape(metrics_port)
            done = m.get("archived_total", 0)
            if done > 0 and not first:
                first = time.perf_counter()
                workers.update(children(proc.pid))
            if done >= n:
                break
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()[-2000:])
            if time.perf_counter() - start > 900:
                raise RuntimeError(f"not all committed after 900 s: {m}")
            time.sleep(0.02)
        end = time.perf_counter()
        cpu = {name: read() - before[name] for name, read in others.items()}
        cpu["subscriber main"] = cpu_seconds(proc.pid)
        cpu["subscriber worker"] = sum(cpu_seconds(w) for w in workers)
        ours = sum(cpu.values())
        cpu["rest of machine"] = max(0.0, machine_busy() - busy0 - ours)
    finally:
        stop(proc)
    return n / (end - start), n / (end - first), cpu


async def latency(port: int, db_url: str, rate: int, seconds: float) -> list[float]:
    """Publish ``rate``/s for ``seconds``; return publish->commit latencies in seconds."""
    n = int(rate * seconds)
    pub = gmqtt.Client("bench-latency-pub")
    await pub.connect("127.0.0.1", port)
    sent: dict[int, float] = {}
    boot = f"lat{int(time.time())}"
    adv = Advert(
        mac="A4:C1:38:AA:BB:CC",
        rssi=-60,
        service_data={uuid16(0xFCD2): bytes.fromhex("40016402ca09")},
    )
    committed: dict[int, float] = {}

    async def poll() -> None:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            last = -1
            while last < n - 1:
                cur = await conn.execute(
                    "SELECT max(seq) FROM raw_advertisements "
                    "WHERE scanner_id = 'lat' AND boot = %s",
                    (boot,),
                )
                row = await cur.fetchone()
                now = time.time()
                top = -1 if row is None or row[0] is None else int(row[0])
                for s in range(last + 1, top + 1):
                    committed[s] = now
                last = max(last, top)
                await asyncio.sleep(0.005)

    poller = asyncio.ensure_future(poll())
    t0 = time.time()
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    seq = 0
    while seq < n:
        target = t0 + (seq / rate)
        delay = target - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for _ in range(per_tick):
            if seq >= n:
                break
            now = time.time()
            pub.publish(Topics().raw("lat"), encode(adv, "lat", boot, seq, format_ts(now)), qos=1)
            sent[seq] = now
            seq += 1
    await asyncio.wait_for(poller, 120)
    await pub.disconnect()
    return [committed[s] - sent[s] for s in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds-only", action="store_true", help="skip the latency phase")
    args = ap.parse_args()
    with services("bt-mqtt-bench-") as svc:
        broker, cluster, db, mport = svc.broker, svc.cluster, svc.db, svc.metrics_port
        cfg = svc.config("sub.yaml")
        log = svc.work / "sub.log"
        print(f"generating {args.count} adverts ...", flush=True)
        original = adverts(args.count)
        assert broker.proc is not None
        mosquitto_pid = broker.proc.pid
        postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        others: dict[str, Callable[[], float]] = {
            "postgresql": lambda: sum(cpu_seconds(p) for p in [postmaster, *children(postmaster)]),
            "mosquitto": lambda: cpu_seconds(mosquitto_pid),
        }
        # sessions exist before publishing, so the broker queues for both consumers
        asyncio.run(baseline(broker.port, args.count, "bench-baseline", prepare=True))
        migrate(cfg)
        proc = start_subscriber(cfg, log, "run")
        time.sleep(2.0)
        stop(proc)
        base_rates: list[float] = []
        sub_rates: list[float] = []
        steady_rates: list[float] = []
        cpus: list[dict[str, float]] = []
        for r in range(args.rounds):
            msgs = with_boot(original, r + 1)  # a new identity per round: nothing redelivered
            t = time.perf_counter()
            publish(broker.port, msgs)
            print(
                f"round {r + 1}: published {len(msgs)} in {time.perf_counter() - t:.1f}s",
                flush=True,
            )
            b = asyncio.run(baseline(broker.port, len(msgs), "bench-baseline", prepare=False))
            s, steady, cpu = drain_subscriber(cfg, log, mport, len(msgs), others)
            base_rates.append(b)
            sub_rates.append(s)
            steady_rates.append(steady)
            cpus.append(cpu)
            print(
                f"round {r + 1}: baseline {b:,.0f}/s  subscriber {s:,.0f}/s "
                f"(from its first commit {steady:,.0f}/s)  ratio {s / b:.2f}",
                flush=True,
            )
            print(
                "  CPU us/advert: "
                + "  ".join(f"{k} {v / len(msgs) * 1e6:.0f}" for k, v in cpu.items()),
                flush=True,
            )
        mb, ms = statistics.median(base_rates), statistics.median(sub_rates)
        print()
        print(f"adverts per round:            {args.count:,}")
        print(f"do-nothing QoS 1 consumer:    {mb:,.0f} adverts/s (median of {args.rounds})")
        print(f"subscriber, all committed:    {ms:,.0f} adverts/s (median of {args.rounds})")
        print(f"  (from its first commit:     {statistics.median(steady_rates):,.0f} adverts/s)")
        print(f"ratio subscriber/baseline:    {ms / mb:.2f}")
        print("CPU per advert while draining (median, us):")
        for name in cpus[0]:
            med = statistics.median(c[name] for c in cpus) / args.count * 1e6
            print(f"  {name:<20} {med:6.0f}")
        if args.rounds_only:
            return
        proc = start_subscriber(cfg, log, "run")
        time.sleep(2.0)
        try:
            lat = asyncio.run(latency(broker.port, db, args.rate, args.seconds))
        finally:
            stop(proc)
        lat.sort()
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[int(len(lat) * 0.99)] * 1000
        print(
            f"publish->commit at {args.rate}/s:  p50 {p50:.0f} ms  p99 {p99:.0f} ms  "
            f"max {lat[-1] * 1000:.0f} ms  (n={len(lat)})"
        )


if __name__ == "__main__":
    main()
