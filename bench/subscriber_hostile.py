"""Hostile input against the subscriber: memory under huge payloads, speed with bad adverts.

Run: ``.venv/bin/python -m bench.subscriber_hostile [--big 30] [--big-mb 10] [--count 20000]
[--rounds 3]``

Starts its own Mosquitto and PostgreSQL and one ``bt-mqtt-subscriber`` (default
configuration, planner process on), then:

1. **Memory.** Publishes ``--big`` messages of ``--big-mb`` MB each on ``bt-mqtt/raw/s1`` and
   waits until all are rejected (``too_large``).  Prints the resident memory of the subscriber
   (main process + planner process) before, at the end, and the highest seen while polling every
   20 ms, and the bytes stored for them.  Target: the RSS rises by less than 100 MB.
2. **Bad adverts.** Publishes batches of ``--count`` adverts, clean ones and ones where 1 % are
   bad (``--kinds``: NaN, an out-of-range time, a BTHome text object with a NUL byte, a NUL in
   the name, a seq beyond bigint), alternating, and times each from the start of publishing
   until every advert is stored or rejected.  Prints each round, the medians and their ratio.
   Target: ratio under 2.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from bt_mqtt.core.bluetooth import uuid16
from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import destroy_cluster, make_cluster
from tests.fixtures.procs import free_port
from tests.subscriber.harness import (
    count,
    publish,
    publish_raw,
    start_subscriber,
    stop,
    tree_rss_mb,
    wait_subscribed,
    write_config,
)
from tests.subscriber.streams import Msg, stream

STORED = "SELECT count(*) FROM raw_advertisements WHERE boot = %s"
REJECTED = "SELECT count(*) FROM rejected_messages"


KINDS = ("nan", "time", "text", "name", "seq")


def _bad(msg: Msg, kind: str) -> Msg:
    """One of the issue's bad adverts, made from a good one (same identity)."""
    body = json.loads(msg.payload)
    if kind == "nan":
        text = json.dumps(body).replace('"v": 1', '"x": NaN, "v": 1')
        return Msg(msg.topic, text.encode(), msg.mac, msg.scanner_id, msg.seq)
    if kind == "time":
        body["ts"] = "0001-01-01T00:00:00+01:00"
    elif kind == "text":
        body["service_data"] = {uuid16(0xFCD2): "4053034e0058"}  # BTHome text with a NUL
        body["address_type"] = "public"
    elif kind == "name":
        body["name"] = "nul\u0000name"
    else:
        body["seq"] = 2**70 + msg.seq  # beyond bigint (unique: not a duplicate)
    return Msg(msg.topic, json.dumps(body).encode(), msg.mac, msg.scanner_id, msg.seq)


def _batch(n: int, boot: str, bad_share: float, seed: int, kinds: list[str]) -> list[Msg]:
    """``n`` adverts of one new boot, ``bad_share`` of them bad (the ``kinds`` in turn)."""
    msgs = [
        Msg(m.topic, m.payload.replace(b'"boot0001"', f'"{boot}"'.encode()), m.mac, "s1", m.seq)
        for m in stream(n, scanners=("s1",), seed=seed, n_devices=1000)
    ]
    rng = random.Random(seed)
    for j, i in enumerate(sorted(rng.sample(range(n), int(n * bad_share)))):
        msgs[i] = _bad(msgs[i], kinds[j % len(kinds)])
    return msgs


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def memory(broker: Broker, db: str, pid: int, n: int, mb: int) -> None:
    before = tree_rss_mb(pid)
    rejected0 = count(db, REJECTED)
    peak = before
    stop_polling = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop_polling.is_set():
            peak = max(peak, tree_rss_mb(pid))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    started = time.perf_counter()
    payload = bytes(random.Random(7).randbytes(1024)) * (mb * 1024)
    try:
        for _ in range(n):
            publish_raw(broker.port, "bt-mqtt/raw/s1", payload)
        _until(lambda: count(db, REJECTED) - rejected0 >= n, 600, f"{n} rejections")
    finally:
        stop_polling.set()
        poller.join()
    elapsed = time.perf_counter() - started
    after = tree_rss_mb(pid)
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT sum(octet_length(payload)) FROM rejected_messages WHERE reason = 'too_large'"
        ).fetchone()
    kept, received = int((row or (0,))[0] or 0), n * len(payload)
    print(f"memory: {n} messages of {mb} MB published and rejected in {elapsed:.1f}s")
    print(f"  subscriber RSS (main + planner): before {before:.0f} MiB, after {after:.0f} MiB,")
    print(f"  highest seen {peak:.0f} MiB: rise {peak - before:.0f} MiB (target < 100 MB)")
    print(f"  stored for them: {kept / 1e6:.2f} MB of {received / 1e6:.0f} MB received")


def bad_adverts(broker: Broker, db: str, n: int, rounds: int, kinds: list[str]) -> None:
    times: dict[str, list[float]] = {"clean": [], "1% bad": []}
    for r in range(rounds):
        for kind, share in (("clean", 0.0), ("1% bad", 0.01)):
            boot = f"b{r}{'c' if share == 0 else 'x'}{int(time.time())}"
            msgs = _batch(n, boot, share, 100 + r, kinds)
            rejected0 = count(db, REJECTED)
            started = time.perf_counter()
            publish(broker.port, msgs)

            def settled(b: str = boot, r0: int = rejected0) -> bool:
                return count(db, STORED, (b,)) + count(db, REJECTED) - r0 >= n

            _until(settled, 900, f"{n} adverts of {boot}")  # each stored or rejected
            took = time.perf_counter() - started
            times[kind].append(took)
            print(f"round {r + 1}: {kind:<7} {n} adverts stored in {took:.2f}s", flush=True)
    clean, bad = statistics.median(times["clean"]), statistics.median(times["1% bad"])
    print(f"median, {n} adverts: clean {clean:.2f}s, 1% bad {bad:.2f}s")
    print(f"ratio 1% bad / clean: {bad / clean:.2f} (target < 2)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", type=int, default=30)
    ap.add_argument("--big-mb", type=int, default=10)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS), help="bad adverts: " + ",".join(KINDS))
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bt-mqtt-bench-hostile-"))
    broker = Broker(work / "mosquitto")
    broker.start()
    cluster = make_cluster()
    cluster.start()
    proc = None
    try:
        db = cluster.create_database("bench")
        cfg = write_config(
            work / "sub.yaml",
            broker.port,
            db,
            metrics={"port": free_port()},
            ingest={"batch_ms": 50},
        )
        log = work / "sub.log"
        proc = start_subscriber(cfg, log)
        wait_subscribed(log, proc)
        time.sleep(1.0)  # the planner process is up and warm
        if not args.skip_speed:
            bad_adverts(broker, db, args.count, args.rounds, args.kinds.split(","))
        if not args.skip_memory:
            memory(broker, db, proc.pid, args.big, args.big_mb)
        if proc.poll() is not None:
            raise RuntimeError("the subscriber died:\n" + log.read_text()[-3000:])
    finally:
        if proc is not None:
            stop(proc)
        broker.stop()
        destroy_cluster(cluster)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
