"""Archive benchmark: bytes per advert per table after a simulated month, today vs this tree.

Run: ``.venv/bin/python -m bench.archive [--days 30] [--stretch 510] [--rounds 1]
[--baseline-ref main]``

Starts its own PostgreSQL (fsync on) and, for two source trees in the same run (the baseline,
``git archive`` of ``--baseline-ref``; and this checkout), creates a database and loads the same
generated history through that tree's ingest code (``bench/archive_load.py`` in a child whose
``PYTHONPATH`` puts the tree first): the demo's device mix over ``--days`` simulated days, time
stretched by ``--stretch`` (the default gives about 300,000 adverts, the issue's measurement).
This tree then compacts the closed days (``compact``) and catches its rollups up (the running
subscriber's job does that every minute; timed apart).  Both reprocess one simulated day.
Prints, for each: bytes per advert of every table (indexes and TOAST included, after VACUUM),
the archive + readings sum, ingest rate (database, ``Store.write``), compaction and reprocess
rates (medians over ``--rounds``, the order of the trees alternating), and the ratio this
tree / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from bt_mqtt.demo.services import PostgresCluster

HERE = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("common", "subscriber", "agent", "console")
# the raw archive and the readings, in either layout
ARCHIVE: tuple[str, ...] = ("raw_advertisements", "sensor_readings", "sensor_readings_hot")
ARCHIVE += ("raw_blocks", "reading_blocks")

SIZES = """
SELECT coalesce(p.relname, c.relname) AS tbl, sum(pg_total_relation_size(c.oid))::bigint
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
GROUP BY 1
"""


def export_ref(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    data = subprocess.run(
        ["git", "-C", str(HERE), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=data, check=True)
    return into


def run_tree(name: str, tree: Path, cluster: PostgresCluster, args: argparse.Namespace) -> Any:
    db = f"bench_archive_{name}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / d) for d in PACKAGE_DIRS] + [str(tree)])
    sys.stderr.write(f"loading {name} ({tree}) ...\n")
    argv = [sys.executable, str(HERE / "bench" / "archive_load.py"), "--db", cluster.url(db)]
    argv += ["--migrations", str(tree / "migrations"), "--days", str(args.days)]
    argv += ["--stretch", str(args.stretch)]
    proc = subprocess.run(
        argv,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    sys.stderr.write(
        f"  {name}: write {out['adverts'] / out['write_s']:,.0f}/s, plan "
        f"{out['adverts'] / out['plan_s']:,.0f}/s, reprocess "
        f"{out['reprocess_adverts'] / out['reprocess_s']:,.0f}/s\n"
    )
    with psycopg.connect(cluster.url(db), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        out["bytes"] = {str(t): int(n) for t, n in conn.execute(SIZES)}
    return out


def report(base: dict[str, Any], new: dict[str, Any]) -> None:
    def line(label: str, b: float, n: float) -> None:
        ratio = f"{n / b:6.2f}x" if b else "     -"
        print(f"  {label:34s} {b:12,.1f} {n:12,.1f}  {ratio}")

    print(f"adverts: baseline {base['adverts']:,}, this tree {new['adverts']:,}")
    print(f"readings: baseline {base['readings']:,}, this tree {new['readings']:,}")
    print(f"  {'bytes per advert':34s} {'baseline':>12s} {'this tree':>12s}  ratio")
    for t in sorted(set(base["bytes"]) | set(new["bytes"])):
        b = base["bytes"].get(t, 0) / base["adverts"]
        n = new["bytes"].get(t, 0) / new["adverts"]
        if b >= 0.05 or n >= 0.05:
            line(t, b, n)

    def total(r: dict[str, Any], names: tuple[str, ...] | None) -> float:
        sizes = r["bytes"].items()
        return float(sum(v for k, v in sizes if names is None or k in names) / r["adverts"])

    line("archive + readings + indexes", total(base, ARCHIVE), total(new, ARCHIVE))
    line("all tables", total(base, None), total(new, None))
    print("rates, adverts/s:")
    line(
        "ingest, database (Store.write)",
        base["adverts"] / base["write_s"],
        new["adverts"] / new["write_s"],
    )
    line(
        "ingest, plan + write",
        base["adverts"] / (base["plan_s"] + base["write_s"]),
        new["adverts"] / (new["plan_s"] + new["write_s"]),
    )
    if new.get("compact_s"):
        print(
            f"  compaction of every closed day: {new['compacted'] / new['compact_s']:,.0f}"
            f" adverts/s ({new['compact_s']:.1f} s)"
        )
    if new.get("rollup_s"):
        print(
            f"  rollup job catching up the whole load: {new['adverts'] / new['rollup_s']:,.0f}"
            f" adverts/s ({new['rollup_s']:.1f} s)"
        )
    line(
        "reprocess of one day",
        base["reprocess_adverts"] / base["reprocess_s"],
        new["reprocess_adverts"] / new["reprocess_s"],
    )


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' median of every timing (sizes and counts are the same in every run)."""
    out = dict(runs[-1])
    for key in ("write_s", "plan_s", "compact_s", "rollup_s", "reprocess_s"):
        if key in out:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--stretch", type=float, default=510.0)
    ap.add_argument("--rounds", type=int, default=1, help="runs per tree (medians)")
    ap.add_argument("--baseline-ref", default="main")
    ap.add_argument("--baseline-tree", type=Path, help="a checkout to use as the baseline")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bt-mqtt-bench-archive-"))
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="bt-mqtt-pg-")), durable=True)
    try:
        baseline = args.baseline_tree or export_ref(args.baseline_ref, work / "baseline")
        cluster.init()
        cluster.start()
        bases: list[dict[str, Any]] = []
        news: list[dict[str, Any]] = []
        for r in range(args.rounds):  # the order alternates: the machine is shared
            if r % 2:
                news.append(run_tree("tree", HERE, cluster, args))
                bases.append(run_tree("baseline", baseline.resolve(), cluster, args))
            else:
                bases.append(run_tree("baseline", baseline.resolve(), cluster, args))
                news.append(run_tree("tree", HERE, cluster, args))
        report(median_of(bases), median_of(news))
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
