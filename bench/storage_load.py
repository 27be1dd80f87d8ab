"""Loader of ``bench.storage``: fill one database through the ingest code path of one tree.

Run by ``bench.storage`` as a child process whose ``PYTHONPATH`` puts a source tree's packages
first (``--tree``), so the same loader measures today's schema (a checkout of main) and this
branch's.  It applies that tree's migrations, generates the demo's device mix (``--devices``,
replicated from ``bt_mqtt.demo.scenario`` with further seeds) over ``--days`` simulated days,
time stretched by ``--stretch`` (a device advertising every 3 s in the demo does every
3 x stretch s here), plans each batch with ``batch.plan_chunk`` and commits it with
``store.Store.write``, as the subscriber does, runs the tree's rollup job once if it has one
(``history.roll_up``, timed apart), then reprocesses one simulated day with
``reprocess.reprocess``.  Prints one JSON object on stdout: counts and seconds.

Only uses interfaces both trees share; nothing here may import this branch's new modules.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 2000
PREFIX = "bt-mqtt"


def generate(devices: int, days: float, stretch: float) -> Iterator[tuple[str, bytes, float]]:
    """(topic, payload, received time as Unix seconds) of every advert, in time order."""
    from bt_mqtt.core.wire import encode, format_ts  # noqa: PLC0415
    from bt_mqtt.demo import scenario  # noqa: PLC0415

    mix: list[scenario.Device] = []
    seed = 7
    while len(mix) < devices:
        mix.extend(scenario.build_devices(seed)[: devices - len(mix)])
        seed += 1
    end = days * 86400 / stretch
    t0 = START.timestamp()
    seqs: dict[str, int] = {}
    for ev in scenario.events(mix, seed=7):
        if ev.t >= end:
            return
        sid = ev.scanner_id
        seq = seqs[sid] = seqs.get(sid, 0) + 1
        at = t0 + ev.t * stretch
        payload = encode(ev.advert, sid, "bench0001", seq, format_ts(at))
        yield f"{PREFIX}/raw/{sid}", payload, at + 0.05 + (seq % 7) * 0.01


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from bt_mqtt.core.topics import Topics  # noqa: PLC0415
    from bt_mqtt.demo.scenario import DEMO_BINDKEY, DEMO_BINDKEY_MAC  # noqa: PLC0415
    from bt_mqtt.parsers.api import ParseContext  # noqa: PLC0415
    from bt_mqtt.parsers.registry import Registry  # noqa: PLC0415
    from bt_mqtt.subscriber.batch import plan_chunk  # noqa: PLC0415
    from bt_mqtt.subscriber.store import Store  # noqa: PLC0415

    registry = Registry.default(plugins=True, theengs=False)
    ctx = ParseContext(bindkeys={DEMO_BINDKEY_MAC: DEMO_BINDKEY})
    topics = Topics(PREFIX)
    store = Store({"conninfo": url}, keep_days=int(args.days) + 30, future_days=1)
    await store.connect()
    plan_s = write_s = 0.0
    adverts = readings = 0
    batch: list[tuple[str, bytes, float]] = []
    last_report = time.monotonic()

    async def flush() -> None:
        nonlocal plan_s, write_s, adverts, readings
        t = time.perf_counter()
        plan = plan_chunk(
            [b[0] for b in batch],
            [b[1] for b in batch],
            [b[2] for b in batch],
            topics,
            registry,
            ctx,
            max_bytes=16384,
            skew_s=300.0,
        )
        t2 = time.perf_counter()
        res = await store.write(plan, datetime.fromtimestamp(batch[-1][2], UTC))
        write_s += time.perf_counter() - t2
        plan_s += t2 - t
        adverts += res.archived
        readings += res.readings
        batch.clear()

    for item in generate(args.devices, args.days, args.stretch):
        batch.append(item)
        if len(batch) >= BATCH:
            await flush()
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                print(f"  loaded {adverts:,} adverts ...", file=sys.stderr, flush=True)
    if batch:
        await flush()
    await store.close()
    return {
        "adverts": adverts,
        "readings": readings,
        "plan_s": plan_s,
        "write_s": write_s,
        "registry": registry,
        "bindkeys": {DEMO_BINDKEY_MAC: DEMO_BINDKEY.hex()},
    }


def roll_up(url: str) -> float:
    """Seconds the tree's rollup job (if it has one) takes to catch up with the load."""
    try:
        history = importlib.import_module("bt_mqtt.subscriber.history")
    except ImportError:
        return 0.0
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        history.roll_up(conn)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", required=True)
    ap.add_argument("--tree", required=True, type=Path)
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--days", type=float, required=True)
    ap.add_argument("--stretch", type=float, required=True)
    args = ap.parse_args()

    from bt_mqtt.subscriber import migrate, reprocess  # noqa: PLC0415
    from bt_mqtt.subscriber.config import SubscriberConfig, make_converter  # noqa: PLC0415

    here = Path(migrate.__file__).resolve()
    if not here.is_relative_to(args.tree.resolve()):
        raise SystemExit(f"imported {here}, not from the tree {args.tree}")
    migrate.migrate({"conninfo": args.db}, args.tree / "migrations")
    out = asyncio.run(load(args.db, args))
    registry = out.pop("registry")
    out["rollup_s"] = roll_up(args.db)
    cfg = make_converter().structure({"parsers": {"bindkeys": out["bindkeys"]}}, SubscriberConfig)
    day = START + timedelta(days=max(0, int(args.days) // 2))
    t = time.perf_counter()
    counts = reprocess.reprocess(
        cfg,
        {"conninfo": args.db},
        day,
        day + timedelta(days=1),
        registry=registry,
        out=io.StringIO(),
    )
    out["reprocess_s"] = time.perf_counter() - t
    out["reprocess_adverts"] = counts["adverts"]
    out["first_day"] = START.isoformat()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
