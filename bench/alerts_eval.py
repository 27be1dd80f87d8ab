"""Alert evaluation cost: one evaluation cycle with 500 devices and 10 scanners.

Run: ``.venv/bin/python -m bench.alerts_eval [--devices 500] [--scanners 10] [--rounds 5]``

Fills a private PostgreSQL (the real schema) with an hour of adverts (each decoded device every
10 s, heard by two scanners, 2 % lost in transit), the devices' rows with readings, 8 days of
``scanner_activity`` and a seq ledger with 100 past boots per scanner.  Each round then times,
on the real ``AlertEngine`` (its own connection, as the service runs it):

- an ordinary cycle (median of 20): facts, rules, lifecycle, state saved;
- a cycle that also re-estimates the advertising intervals (every 10 minutes in the service);
- the transit-loss facts alone, read from the seq ledger (``alertfacts.ledger_loss``), against
  the baseline of the same figures counted from the archive's seq gaps over the window (the
  query the evaluator used before), measured in the same run.

Prints the median over the rounds of each, and the ratios: cycle time to the evaluation
interval (the share of one core the evaluator keeps busy at the default 10 s), ledger to
archive loss query.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

from bt_mqtt.subscriber import alertfacts, partitions
from bt_mqtt.subscriber.alertconfig import AlertsConfig
from bt_mqtt.subscriber.alertloss import LossWindow
from bt_mqtt.subscriber.alertservice import AlertEngine
from bt_mqtt.subscriber.migrate import migrate
from tests.fixtures.postgres import destroy_cluster, make_cluster, new_database

HOUR_S: Final = 3600
EVERY_S: Final = 10.0
LOST: Final = 0.02
PAST_BOOTS: Final = 100
CYCLES: Final = 20

# The baseline: the transit-loss facts as the evaluator counted them before the ledger, from
# the archive's seq gaps per (scanner, boot) over the window.
ARCHIVE_LOSS: Final = """
SELECT scanner_id, sum(hi - lo + 1), sum(n) FROM (
    SELECT scanner_id, boot, max(seq) AS hi, min(seq) AS lo, count(*) AS n
    FROM raw_advertisements
    WHERE time > %(now)s - make_interval(secs => %(window)s) AND time <= %(now)s
    GROUP BY scanner_id, boot
) b GROUP BY scanner_id
"""


def fill(url: str, now: datetime, n_devices: int, n_scanners: int, seed: int = 5) -> int:
    """The world described in the module docstring; the number of adverts stored."""
    rng = random.Random(seed)
    scanners = [f"scanner-{i:02d}" for i in range(n_scanners)]
    start = now - timedelta(seconds=HOUR_S)
    events: list[tuple[float, str, str]] = []  # (t, scanner, mac)
    for i in range(n_devices):
        mac = f"A4:C1:38:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"
        heard_by = (scanners[i % n_scanners], scanners[(i + 1) % n_scanners])
        t = rng.uniform(0, EVERY_S)
        while t < HOUR_S:
            for sid in heard_by:
                events.append((t, sid, mac))
            t += EVERY_S * rng.uniform(0.95, 1.05)
    events.sort()
    seq = dict.fromkeys(scanners, 0)
    buf = io.StringIO()
    stored = 0
    for t, sid, mac in events:
        seq[sid] += 1
        if rng.random() < LOST:
            continue
        when = (start + timedelta(seconds=t)).isoformat()
        buf.write(f"{when}\t{when}\t{sid}\tb0\t{seq[sid]}\t{mac}\t-60\tbthome\t{{}}\n")
        stored += 1
    with psycopg.connect(url, autocommit=True) as conn:
        partitions.ensure(conn, "raw_advertisements", [start.date(), now.date()])
        with conn.cursor() as cur:
            copy_sql = (
                "COPY raw_advertisements (time, received_at, scanner_id, boot, seq, mac, rssi, "
                "parser, payload) FROM STDIN"
            )
            with cur.copy(copy_sql) as copy:
                copy.write(buf.getvalue())
        conn.execute(
            "INSERT INTO seq_ledger (scanner_id, boot, seqs, last_seq) "
            "SELECT scanner_id, boot, range_agg(int8range(seq, seq, '[]')), max(seq) "
            "FROM raw_advertisements GROUP BY scanner_id, boot"
        )
        conn.execute(
            "INSERT INTO seq_ledger (scanner_id, boot, seqs, last_seq) "
            "SELECT s, 'old-' || b, int8multirange(int8range(1, 5001), int8range(5002, 10001)), "
            "10000 FROM unnest(%s::text[]) s, generate_series(1, %s) b",
            (scanners, PAST_BOOTS),
        )
        conn.execute(
            "INSERT INTO scanners (scanner_id, status, status_since, first_seen, last_seen, "
            "last_advert_at) SELECT s, 'online', %s, %s, %s, %s FROM unnest(%s::text[]) s",
            (start, start, now, now, scanners),
        )
        conn.execute(
            "INSERT INTO scanner_activity (scanner_id, bucket, adverts, devices) "
            "SELECT s, b, 180 * %s, 2 * %s FROM unnest(%s::text[]) s, "
            "generate_series(%s::timestamptz, %s::timestamptz, interval '5 minutes') b",
            (
                n_devices // n_scanners,
                n_devices // n_scanners,
                scanners,
                alertfacts.bucket_start(now - timedelta(days=8)),
                alertfacts.bucket_start(now) - timedelta(minutes=5),
            ),
        )
        readings = json.dumps({"temperature_c": 21.5, "humidity_pct": 40.0, "battery_pct": 80})
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen, parser, last_scanner_id, "
            "last_readings, last_readings_at, updated_at) "
            "SELECT mac, min(time), max(time), 'bthome', min(scanner_id), %s::jsonb, max(time), "
            "max(received_at) FROM raw_advertisements GROUP BY mac",
            (readings,),
        )
        conn.execute("VACUUM ANALYZE")
    return stored


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def one_round(url: str, now: datetime, cfg: AlertsConfig) -> dict[str, float]:
    """One round's medians (ms)."""
    out: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        await conn.execute("SET jit = off")
        eng = AlertEngine(cfg, now - timedelta(hours=1))
        await eng.restore(conn)
        t0 = time.perf_counter()
        first = await eng.evaluate(conn, now)  # rollup, intervals, marks
        out["first cycle (rollup + intervals)"] = (time.perf_counter() - t0) * 1000
        assert first == [], [s.transition.message for s in first]
        samples = []
        for k in range(1, CYCLES + 1):
            t0 = time.perf_counter()
            await eng.evaluate(conn, now + timedelta(milliseconds=k))
            samples.append(time.perf_counter() - t0)
        out["ordinary cycle"] = median_ms(samples)
        samples = []
        for k in range(3):
            eng.evaluator._next_intervals = None
            t0 = time.perf_counter()
            await eng.evaluate(conn, now + timedelta(milliseconds=100 + k))
            samples.append(time.perf_counter() - t0)
        out["cycle with intervals"] = median_ms(samples)
        window = LossWindow(cfg.transit_loss.window_s)
        await alertfacts.ledger_loss(conn, now - timedelta(seconds=600), window)
        ledger, archive = [], []
        for _ in range(CYCLES):
            t0 = time.perf_counter()
            loss = await alertfacts.ledger_loss(conn, now, window)
            ledger.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            params = {"now": now, "window": cfg.transit_loss.window_s}
            await (await conn.execute(ARCHIVE_LOSS, params)).fetchall()
            archive.append(time.perf_counter() - t0)
        assert loss and all(p >= a for p, a in loss.values())
        out["loss facts: seq ledger"] = median_ms(ledger)
        out["loss facts: archive seq gaps (baseline)"] = median_ms(archive)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--scanners", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    cluster = make_cluster()
    try:
        cluster.start()
        url = new_database(cluster)
        migrate({"conninfo": url})
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        stored = fill(url, now, args.devices, args.scanners)
        print(
            f"filled: {stored:,} adverts of {args.devices} devices, {args.scanners} scanners, "
            f"{PAST_BOOTS} past boots each ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        cfg = AlertsConfig()
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            rounds.append(asyncio.run(one_round(url, now, cfg)))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in rounds[-1].items()))
        med = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
        print(f"\nmedian of {args.rounds} rounds:")
        for k, v in med.items():
            print(f"  {k:42s} {v:8.1f} ms")
        budget = cfg.interval_s * 1000
        print(
            f"  ordinary cycle / interval_s ({cfg.interval_s:g} s): "
            f"{med['ordinary cycle'] / budget:.2%}"
        )
        print(
            f"  cycle with intervals / interval_s:       {med['cycle with intervals'] / budget:.2%}"
        )
        base = med["loss facts: archive seq gaps (baseline)"]
        print(
            f"  ledger / archive loss query:             "
            f"{med['loss facts: seq ledger'] / base:.2f}x"
        )
    finally:
        destroy_cluster(cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
