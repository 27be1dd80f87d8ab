"""The agent across broker outages: memory with a full spool, and how soon it is back.

1. RSS: the agent (replay backend at full speed, real Mosquitto) takes more adverts than its
   spool holds while the broker is unreachable; its VmRSS with the spool full, beside the same
   run with the broker up (the spool stays nearly empty).  Per-advert overhead in the spool.
2. Reconnect: the agent streams at ``--rate`` adverts a second; the broker is stopped for each
   of ``--outages`` seconds and started again on the same port; the time from the broker
   listening again to the agent's reconnection (its log), and the adverts it had to drop.

With ``--baseline-src DIR`` (a checkout of another commit, e.g. ``git worktree add`` or
``git archive``) every measurement also runs that tree's agent (its ``agent/`` and
``common/`` first on PYTHONPATH), in the same run, and prints the ratio.

    .venv/bin/python -m bench.agent_spool [--n 40000] [--rate 200] [--outages 2,5,20]
        [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.agent_pipeline import sample_advert
from bench.harness import wait_until
from bt_mqtt.core import wire
from bt_mqtt.demo.services import Mosquitto, die_with_parent, stop_process


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(src / "agent"), str(src / "common"), env.get("PYTHONPATH", "")]
        )
    return env


def _start_agent(conf: Path, log: Path, src: Path | None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(src),
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl runs there
        )


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _config(d: Path, broker: Mosquitto, replay: Path, **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "scanner_id": "bench",
        "mqtt": {"host": broker.host, "port": broker.port},
        "bluetooth": {"backend": "replay", "replay": {"file": str(replay), **extra}},
        "heartbeat": {"interval_s": 1},
        "log": {"level": "info"},
    }
    path = d / "agent.yaml"
    path.write_text(json.dumps(cfg))
    return path


def rss_with_spool(n: int, src: Path | None) -> dict[str, float]:
    """VmRSS (MiB) with the broker up and with the broker down, after ``n`` distinct adverts."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        replay = d / "r.jsonl"
        with open(replay, "w") as fh:
            for i in range(n):
                obj = wire.advert_fields(
                    sample_advert(f"A4:C1:38:00:{i % 256:02X}:{i // 256 % 256:02X}", i)
                )
                fh.write(json.dumps(obj) + "\n")
        payload = len(
            wire.encode(
                sample_advert("A4:C1:38:00:00:01", 1),
                "bench",
                "0" * 16,
                1,
                "2027-01-15T08:00:00.000Z",
            )
        )
        out["payload bytes"] = payload
        for up in (True, False):
            broker = Mosquitto(d / f"mosq-{up}")  # a free port: nothing listens unless started
            if up:
                broker.start()
            try:
                log = d / f"agent-{up}.log"
                proc = _start_agent(_config(d, broker, replay, speed=0), log, src)
                # the agent ends by itself (the replay does); its peak RSS is its full spool's
                _pid, _status, usage = os.wait4(proc.pid, 0)
                proc.returncode = 0
                out[f"peak RSS MiB, broker {'up' if up else 'down'}"] = usage.ru_maxrss / 1024
                stop = [e for e in _events(log) if e.get("event") == "agent_stop"]
                if stop:
                    print(f"    broker {'up' if up else 'down'}: {stop[-1]['msg']}")
            finally:
                broker.stop()
    out["RSS growth MiB"] = out["peak RSS MiB, broker down"] - out["peak RSS MiB, broker up"]
    return out


def reconnect(rate: int, outages: list[float], src: Path | None) -> list[dict[str, float]]:
    """Per outage: seconds from the broker listening again to the agent's reconnection, and
    the adverts dropped meanwhile (from the agent's final log line)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        replay = d / "stream.jsonl"
        with open(replay, "w") as fh:
            for i in range(rate):
                line = {"t": i / rate, "mac": "AA:00:00:00:00:10", "rssi": -60}
                line["manufacturer_data"] = {"76": f"{i:04x}"}
                fh.write(json.dumps(line) + "\n")
        broker = Mosquitto(d / "mosq")
        broker.start()
        try:
            for k, outage in enumerate(outages):
                log = d / f"agent-{k}.log"
                proc = _start_agent(_config(d, broker, replay, speed=1.0, loop=True), log, src)

                def second(log: Path = log) -> dict[str, Any] | None:
                    for e in _events(log):
                        if e.get("event") == "mqtt_connected" and e.get("connects") == 2:
                            return e
                    return None

                def first(log: Path = log) -> bool:
                    return any(e.get("event") == "mqtt_connected" for e in _events(log))

                try:
                    wait_until("the first connection", first, 30)
                    time.sleep(1.0)
                    broker.stop()
                    time.sleep(outage)
                    broker.start()
                    back = time.time()
                    wait_until("the reconnection", lambda: second() is not None, 120, every=0.05)
                    ev = second()
                    assert ev is not None
                    delay = datetime.fromisoformat(ev["ts"]).timestamp() - back
                    time.sleep(1.0)
                finally:
                    stop_process(proc, timeout=20)
                stop = [e for e in _events(log) if e.get("event") == "agent_stop"]
                msg = stop[-1]["msg"] if stop else ""
                dropped = 0
                if "dropped offline " in msg:
                    dropped = int(msg.split("dropped offline ")[1].split(",")[0].split()[0])
                rows.append({"outage s": outage, "reconnect after s": delay, "dropped": dropped})
        finally:
            broker.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40_000, help="adverts in the RSS run")
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--outages", default="2,5,20")
    ap.add_argument("--baseline-src", type=Path, default=None)
    ap.add_argument("--no-rss", action="store_true")
    args = ap.parse_args()
    outages = [float(x) for x in args.outages.split(",") if x]
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.baseline_src is not None:
        trees.insert(0, ("baseline", args.baseline_src.resolve()))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
    results: dict[str, Any] = {}
    for name, src in trees:
        print(f"\n== {name}{'' if src is None else f' ({src})'} ==")
        if not args.no_rss:
            rss = rss_with_spool(args.n, src)
            for k, v in rss.items():
                print(f"  {k:32s} {v:8.1f}")
            results[name] = {"rss": rss}
        rows = reconnect(args.rate, outages, src)
        for r in rows:
            print(
                f"  outage {r['outage s']:5.1f} s: back {r['reconnect after s']:6.2f} s after the "
                f"broker, {r['dropped']} adverts dropped"
            )
        results.setdefault(name, {})["reconnect"] = rows
    if len(trees) == 2:
        base, new = results["baseline"]["reconnect"], results["this tree"]["reconnect"]
        b = statistics.median(r["reconnect after s"] for r in base)
        n = statistics.median(r["reconnect after s"] for r in new)
        print(f"\nmedian reconnect delay: baseline {b:.2f} s, this tree {n:.2f} s")


if __name__ == "__main__":
    main()
