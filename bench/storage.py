"""Storage benchmark: bytes per advert, ingest rate, history queries, reprocess, vs a baseline.

Run: ``.venv/bin/python -m bench.storage [--quick] [--baseline-tree DIR | --baseline-ref main]``

Starts its own PostgreSQL (``bt_mqtt.demo.services``, fsync on) and, for two source trees in
turn (the baseline: a checkout of main, by default ``git archive main``; and this checkout),
creates a database, applies that tree's migrations and loads the same generated history through
that tree's ingest code (``bench.storage_load`` in a child process: ``batch.plan_chunk`` then
``store.Store.write``): the demo's device mix replicated to ``--devices`` devices over ``--days``
simulated days, without waiting.  Then it reprocesses one simulated day (that tree's
``reprocess``) and, here, measures:

* bytes per advert of each table, indexes and TOAST included (after VACUUM ANALYZE);
* ingest rate, adverts/s: database only (``Store.write``), plan + write, and the database with
  the rollup job's catch-up after the load added (trees that have one);
* latest values of every metric of 500 devices, one metric of one device over a year at hourly
  resolution and over 30 days at 1-minute resolution (median of ``--repeat`` runs, warm);
* the reprocess rate, adverts/s.

Prints both columns and the ratio (this tree / baseline).  Each schema is queried the way it is
meant to be: tables this branch adds (``latest_readings``, ``readings_1h``...) when they exist,
today's documented queries over ``sensor_readings`` otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bt_mqtt.demo.services import PostgresCluster

HERE = Path(__file__).resolve().parents[1]
# Tables that hold the raw archive and the readings ("archive + readings" line); a layout that
# adds tables (a compact archive) lists them here.  Every table is printed on its own anyway.
ARCHIVE_TABLES = (
    "raw_advertisements",
    "sensor_readings",  # a table before migration 0007, the view over the two below after
    "sensor_readings_hot",
    "raw_blocks",
    "reading_blocks",
)
PACKAGE_DIRS = ("common", "subscriber", "agent", "console")

# today's schema: everything from sensor_readings
BASE_LATEST = (
    "SELECT DISTINCT ON (mac, metric) mac, metric, time, value FROM sensor_readings "
    "WHERE mac = ANY(%(macs)s) ORDER BY mac, metric, time DESC"
)
BASE_CHART = (
    "SELECT date_trunc(%(unit)s, time) AS bucket, min(value), max(value), avg(value), count(*) "
    "FROM sensor_readings WHERE mac = %(mac)s AND metric = %(metric)s "
    "AND time >= %(since)s AND time < %(until)s GROUP BY 1 ORDER BY 1"
)


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes a child import ``tree``'s packages first."""
    env = dict(os.environ)
    paths = [str(tree / d) for d in PACKAGE_DIRS] + [str(tree)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["BT_MQTT_MIGRATIONS_DIR"] = str(tree / "migrations")
    return env


def export_ref(ref: str, into: Path) -> Path:
    """``git archive`` of ``ref`` of this checkout's repository, unpacked in ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(HERE), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def table_bytes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Bytes (heap, TOAST, indexes) of each table of the schema, partitions summed into their
    parent; views and the bookkeeping tables left out."""
    rows = conn.execute(
        """
        SELECT coalesce(p.relname, c.relname) AS name, sum(pg_total_relation_size(c.oid))
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
        LEFT JOIN pg_class p ON p.oid = i.inhparent
        WHERE c.relkind IN ('r', 'm')
        GROUP BY 1
        """
    ).fetchall()
    skip = {"schema_migrations"}
    return {str(r[0]): int(r[1]) for r in rows if r[0] not in skip and int(r[1]) > 0}


def timed(conn: psycopg.Connection[Any], query: str, params: dict[str, Any], n: int) -> float:
    """Median wall time in ms of ``n`` runs (after one warm-up), all rows fetched."""
    conn.execute(query, params).fetchall()
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        conn.execute(query, params).fetchall()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def queries(
    conn: psycopg.Connection[Any], first_day: datetime, days: float, n: int
) -> dict[str, Any]:
    """The three history queries, each the way this schema serves it best."""
    macs = [
        str(r[0]) for r in conn.execute("SELECT mac FROM devices ORDER BY mac LIMIT 500").fetchall()
    ]
    row = conn.execute(
        "SELECT mac, parser FROM devices WHERE parser IS NOT NULL AND last_readings ? "
        "'temperature_c' ORDER BY advert_count DESC, mac LIMIT 1"
    ).fetchone()
    assert row is not None, "no device with temperature readings"
    mac = str(row[0])
    end = first_day + timedelta(days=days)
    year = {"mac": mac, "metric": "temperature_c", "since": end - timedelta(days=365), "until": end}
    month = dict(year, since=end - timedelta(days=30))
    out: dict[str, Any] = {"devices_queried": len(macs)}
    if has_table(conn, "readings_1m"):
        history = importlib.import_module("bt_mqtt.subscriber.history")  # this branch only

        out["latest_ms"] = timed(conn, history.LATEST, {"macs": macs}, n)
        out["year_hourly_ms"] = timed(conn, history.chart("1h"), year, n)
        out["month_minute_ms"] = timed(conn, history.chart("1m"), month, n)
        out["latest_rows"] = len(conn.execute(history.LATEST, {"macs": macs}).fetchall())
    else:
        out["latest_ms"] = timed(conn, BASE_LATEST, {"macs": macs}, n)
        out["year_hourly_ms"] = timed(conn, BASE_CHART, dict(year, unit="hour"), n)
        out["month_minute_ms"] = timed(conn, BASE_CHART, dict(month, unit="minute"), n)
        out["latest_rows"] = len(conn.execute(BASE_LATEST, {"macs": macs}).fetchall())
    return out


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median over the rounds (bytes and counts: the first round's)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in runs)
    return out


def run_tree(
    label: str, tree: Path, cluster: PostgresCluster, args: argparse.Namespace, round_: int
) -> dict[str, Any]:
    db = cluster.create_database(f"bench_{label}_{round_}")
    print(f"[{label}] loading {tree} ...", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "bench" / "storage_load.py"),
            "--db",
            db,
            "--tree",
            str(tree),
            "--devices",
            str(args.devices),
            "--days",
            str(args.days),
            "--stretch",
            str(args.stretch),
        ],
        env=tree_env(tree),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        cwd=tree,
    )
    if proc.returncode != 0:
        raise SystemExit(f"[{label}] loader failed ({proc.returncode})")
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[{label}] loaded in {time.perf_counter() - t:.0f}s", flush=True)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        res["bytes"] = table_bytes(conn)
        res.update(queries(conn, datetime.fromisoformat(res["first_day"]), args.days, args.repeat))
    return res


def report(base: dict[str, Any], new: dict[str, Any], args: argparse.Namespace) -> None:
    def line(name: str, b: float, n: float, fmt: str = "{:,.1f}") -> None:
        ratio = n / b if b else float("nan")
        print(f"  {name:<34} {fmt.format(b):>14} {fmt.format(n):>14}   x{ratio:.3f}")

    print()
    print(
        f"history: {args.devices} devices, {args.days:g} simulated days, stretch {args.stretch:g}; "
        f"baseline {base['adverts']:,} adverts / {base['readings']:,} readings, "
        f"this tree {new['adverts']:,} / {new['readings']:,}"
    )
    print(f"  {'':<34} {'baseline':>14} {'this tree':>14}   ratio")
    print("bytes per advert (heap + TOAST + indexes):")
    tables = sorted(set(base["bytes"]) | set(new["bytes"]))
    for t in tables:
        line(t, base["bytes"].get(t, 0) / base["adverts"], new["bytes"].get(t, 0) / new["adverts"])
    archive = ARCHIVE_TABLES
    line(
        "archive + readings",
        sum(v for k, v in base["bytes"].items() if k in archive) / base["adverts"],
        sum(v for k, v in new["bytes"].items() if k in archive) / new["adverts"],
    )
    line(
        "all tables",
        sum(base["bytes"].values()) / base["adverts"],
        sum(new["bytes"].values()) / new["adverts"],
    )
    print("ingest, adverts/s:")
    line(
        "database (Store.write)",
        base["adverts"] / base["write_s"],
        new["adverts"] / new["write_s"],
        "{:,.0f}",
    )
    line(
        "plan + write, one process",
        base["adverts"] / (base["write_s"] + base["plan_s"]),
        new["adverts"] / (new["write_s"] + new["plan_s"]),
        "{:,.0f}",
    )
    line(
        "database + rollup job",
        base["adverts"] / (base["write_s"] + base.get("rollup_s", 0.0)),
        new["adverts"] / (new["write_s"] + new.get("rollup_s", 0.0)),
        "{:,.0f}",
    )
    print(f"  rollup job after the load: {new.get('rollup_s', 0.0):.1f} s (this tree)")
    print(
        f"queries, ms (median of {args.repeat} runs; all rates and times: "
        f"median of {args.rounds} rounds):"
    )
    label = f"latest, {new['devices_queried']} devices"
    line(label, base["latest_ms"], new["latest_ms"], "{:.2f}")
    line("1 metric, 1 year hourly", base["year_hourly_ms"], new["year_hourly_ms"], "{:.2f}")
    line("1 metric, 30 days 1-minute", base["month_minute_ms"], new["month_minute_ms"], "{:.2f}")
    print("reprocess, adverts/s:")
    line(
        "one simulated day",
        base["reprocess_adverts"] / base["reprocess_s"],
        new["reprocess_adverts"] / new["reprocess_s"],
        "{:,.0f}",
    )
    if base["latest_rows"] != new["latest_rows"]:
        print(
            f"NOTE: latest rows differ: baseline {base['latest_rows']}, "
            f"this tree {new['latest_rows']}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--stretch", type=float, default=100.0, help="simulated s per demo s")
    ap.add_argument("--repeat", type=int, default=21, help="runs per query")
    ap.add_argument("--rounds", type=int, default=3, help="loads per tree (medians)")
    ap.add_argument("--quick", action="store_true", help="20 devices, 10 days (development)")
    ap.add_argument("--baseline-tree", type=Path, help="a checkout of today's schema")
    ap.add_argument("--baseline-ref", default="main", help="else this git ref, exported")
    args = ap.parse_args()
    if args.quick:
        args.devices, args.days, args.rounds = 20, 10.0, 1
    work = Path(tempfile.mkdtemp(prefix="bt-mqtt-bench-storage-"))
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="bt-mqtt-pg-")), durable=True)
    try:
        baseline = args.baseline_tree or export_ref(args.baseline_ref, work / "baseline")
        cluster.init()
        cluster.start()
        bases: list[dict[str, Any]] = []
        news: list[dict[str, Any]] = []
        for r in range(args.rounds):  # interleaved, so load on the machine hits both alike
            # the first load of a round leaves work (WAL to checkpoint, autovacuum) that the
            # second would pay for: the order alternates, and each load starts after a CHECKPOINT
            order = [("baseline", baseline.resolve(), bases), ("tree", HERE, news)]
            for label, tree, into in order if r % 2 == 0 else order[::-1]:
                into.append(run_tree(label, tree, cluster, args, r))
                cluster.drop_database(f"bench_{label}_{r}")
                with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
        report(median_of(bases), median_of(news), args)
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
