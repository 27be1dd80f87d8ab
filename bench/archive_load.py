"""Child of ``bench.archive``: fill one database through one source tree's ingest code.

``PYTHONPATH`` puts the tree's packages first.  Applies the tree's migrations, generates the
demo's device mix over ``--days`` simulated days (time stretched by ``--stretch``), plans each
batch with ``batch.plan_chunk`` and commits it with ``store.Store.write`` (as the subscriber
does), then, when the tree has one, runs the compaction job (``compact``, timed apart) as the
subscriber would after the days closed, and reprocesses one simulated day.  Prints one JSON
object: counts and seconds.  Uses only interfaces both trees share, plus ``compact`` if present.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 2000
PREFIX = "bt-mqtt"


def generate(days: float, stretch: float) -> Iterator[tuple[str, bytes, float]]:
    """(topic, payload, received time) of every advert of the demo's mix, in time order."""
    from bt_mqtt.core.wire import encode, format_ts  # noqa: PLC0415
    from bt_mqtt.demo import scenario  # noqa: PLC0415

    end = days * 86400 / stretch
    t0 = START.timestamp()
    seqs: dict[str, int] = {}
    for ev in scenario.events(scenario.build_devices(7), seed=7):
        if ev.t >= end:
            return
        sid = ev.scanner_id
        seq = seqs[sid] = seqs.get(sid, 0) + 1
        at = t0 + ev.t * stretch
        payload = encode(ev.advert, sid, "bench0001", seq, format_ts(at))
        yield f"{PREFIX}/raw/{sid}", payload, at + 0.05 + (seq % 7) * 0.01


async def load(url: str, days: float, stretch: float) -> dict[str, Any]:
    from bt_mqtt.core.topics import Topics  # noqa: PLC0415
    from bt_mqtt.demo.scenario import DEMO_BINDKEY, DEMO_BINDKEY_MAC  # noqa: PLC0415
    from bt_mqtt.parsers.api import ParseContext  # noqa: PLC0415
    from bt_mqtt.parsers.registry import Registry  # noqa: PLC0415
    from bt_mqtt.subscriber.batch import plan_chunk  # noqa: PLC0415
    from bt_mqtt.subscriber.store import Store  # noqa: PLC0415

    registry = Registry.default(plugins=True, theengs=False)
    ctx = ParseContext(bindkeys={DEMO_BINDKEY_MAC: DEMO_BINDKEY})
    topics = Topics(PREFIX)
    store = Store({"conninfo": url}, keep_days=int(days) + 30, future_days=1)
    await store.connect()
    out = {"adverts": 0, "readings": 0, "plan_s": 0.0, "write_s": 0.0}
    batch: list[tuple[str, bytes, float]] = []

    async def flush() -> None:
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
        out["write_s"] += time.perf_counter() - t2
        out["plan_s"] += t2 - t
        out["adverts"] += res.archived
        out["readings"] += res.readings
        batch.clear()

    for item in generate(days, stretch):
        batch.append(item)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", required=True)
    ap.add_argument("--migrations", required=True)
    ap.add_argument("--days", type=float, required=True)
    ap.add_argument("--stretch", type=float, required=True)
    args = ap.parse_args()

    from bt_mqtt.demo.scenario import DEMO_BINDKEY, DEMO_BINDKEY_MAC  # noqa: PLC0415
    from bt_mqtt.subscriber import migrate, reprocess  # noqa: PLC0415
    from bt_mqtt.subscriber.config import SubscriberConfig, make_converter  # noqa: PLC0415

    ci = {"conninfo": args.db}
    migrate.migrate(ci, args.migrations)
    out: dict[str, Any] = asyncio.run(load(args.db, args.days, args.stretch))
    out["compact_s"] = 0.0
    try:
        compact = importlib.import_module("bt_mqtt.subscriber.compact")
    except ImportError:
        pass
    else:  # every simulated day closed: two days after the last
        t = time.perf_counter()
        done = compact.compact(ci, START + timedelta(days=args.days + 2), 2)
        out["compact_s"] = time.perf_counter() - t
        out["compacted"] = done["adverts"]
    out["rollup_s"] = 0.0
    try:
        history = importlib.import_module("bt_mqtt.subscriber.history")
    except ImportError:
        pass
    else:  # the running subscriber's job keeps up every minute: catch the load up, timed apart
        t = time.perf_counter()
        with psycopg.connect(args.db, autocommit=True) as conn:
            history.roll_up(conn)
        out["rollup_s"] = time.perf_counter() - t
    cfg = make_converter().structure(
        {"parsers": {"bindkeys": {DEMO_BINDKEY_MAC: DEMO_BINDKEY.hex()}}}, SubscriberConfig
    )
    day = START + timedelta(days=int(args.days) // 2)
    t = time.perf_counter()
    counts = reprocess.reprocess(cfg, ci, day, day + timedelta(days=1), out=io.StringIO())
    out["reprocess_s"] = time.perf_counter() - t
    out["reprocess_adverts"] = counts["adverts"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
