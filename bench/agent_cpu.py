"""CPU per advertisement and RSS of the whole agent process, beside Theengs Gateway.

D-Bus signal in to MQTT publish out: a private dbus-daemon, the BlueZ simulator in its own
process streaming synthetic random-address adverts whose content always changes (so dedup
drops none), a real Mosquitto, and ``bt-mqtt-agent`` (bluez backend, default config but a 1 s
heartbeat) as a subprocess.  Per repetition the simulator plays ``rate x seconds`` adverts;
the agent's utime+stime (/proc/PID/stat, all threads; the scheduler's ns-resolution figure
beside it) over the window, divided by the adverts its heartbeat says it received, is the CPU
per advert.  Each window is checked: received == delivered by the simulator, published ==
received (heartbeat), and the broker saw every one (a ``mosquitto_sub`` counting).  A warm-up
stream first makes every device known.

At the first rate Theengs Gateway (publish-all, no discovery; own venv, see ``bench.theengs``)
scans the same simulated radio at the same time, so both process exactly the same stream; its
MQTT messages are counted to show it publishes what it receives.

Then a fresh agent takes 100,000 adverts from 10,000 random addresses; VmRSS (/proc/PID/status)
after 10k, 50k and 100k.

    .venv/bin/python -m bench.agent_cpu [--rates 300,2000] [--reps 5] [--seconds 10]
        [--devices 1000] [--mode passive|active] [--no-theengs] [--theengs-venv DIR]
        [--rss-rate 2000] [--no-rss] [--stock-broker] [--baseline-tree DIR]

With ``--baseline-tree DIR`` (a checkout of another commit: ``git worktree add DIR main`` or
``git archive main | tar -x -C DIR``) that tree's agent (its ``agent/`` and ``common/`` first on
PYTHONPATH, scanner id ``bench-baseline``) scans the same simulated radio at the same time as
this tree's, at every rate, and the ratio of their medians is printed.
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
from pathlib import Path
from typing import Any

from bench import theengs
from bench.harness import (
    Stack,
    TopicCounter,
    proc_cpu_s,
    proc_sched_s,
    proc_status_mb,
    wait_until,
)
from bt_mqtt.demo.services import stop_process
from tests.fixtures.mqtt import MqttCollector

SID = "bench"
BASELINE_SID = "bench-baseline"
BASELINE = "baseline agent"
SCHED = " (sched)"  # the scheduler's ns-resolution figure beside the tick-based one
TARGET_US = 60.0
TARGET_RATIO = 10.0
TARGET_RSS_MB = 40.0
STALL_S = 4.0


class Subject:
    """A measured process; ``progress`` is its adverts handled so far (for stall detection)."""

    name = "?"

    def __init__(self, proc: subprocess.Popen[bytes], counter: TopicCounter) -> None:
        self.proc = proc
        self.counter = counter

    def received(self) -> int | None:
        """Adverts it says it received (None when it does not say)."""
        return None

    def published(self) -> int | None:
        return None

    def progress(self) -> int:
        return self.counter.count

    def caught_up(self, delivered: int, base: int) -> bool:
        return self.counter.count >= base + delivered

    def stop(self) -> None:
        stop_process(self.proc)
        self.counter.stop()


class AgentSubject(Subject):
    """``bt-mqtt-agent`` from this tree, or (``tree``) from another checkout of the project."""

    name = "bt-mqtt-agent"

    def __init__(self, stack: Stack, tmp: Path, mode: str, tree: Path | None = None) -> None:
        broker = stack.mqtt
        sid = SID if tree is None else BASELINE_SID
        if tree is not None:
            self.name = BASELINE
        self.status_topic = f"bt-mqtt/scanner/{sid}/status"
        conf = tmp / f"{sid}.yaml"
        conf.write_text(
            json.dumps(
                {
                    "scanner_id": sid,
                    "mqtt": {"host": broker.host, "port": broker.port},
                    "bluetooth": {"backend": "bluez", "mode": mode},
                    "heartbeat": {"interval_s": 1},
                    "log": {"level": "warning"},
                }
            )
        )
        self.status = MqttCollector(broker.host, broker.port, self.status_topic).start()
        counter = TopicCounter(broker, f"bt-mqtt/raw/{sid}")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=stack.address)
        if tree is None:
            argv = [str(Path(sys.executable).with_name("bt-mqtt-agent"))]
        else:  # that tree's agent and common packages first on the path
            argv = [sys.executable, "-m", "bt_mqtt.agent.main"]
            env["PYTHONPATH"] = os.pathsep.join(
                [str(tree / "agent"), str(tree / "common"), env.get("PYTHONPATH", "")]
            )
        with open(tmp / f"{sid}.log", "wb") as log:
            proc = subprocess.Popen(
                [*argv, "--config", str(conf)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        super().__init__(proc, counter)
        self.status.wait_for(
            1,
            timeout=30,
            predicate=lambda m: (
                m.json().get("adapter", {}).get("scan_mode") in ("passive", "active")
            ),
        )
        self.scan_mode = self.heartbeat()["adapter"]["scan_mode"]

    def heartbeat(self) -> dict[str, Any]:
        got = self.status.snapshot(self.status_topic)
        return got[-1].json() if got else {}

    def _counter(self, key: str) -> int:
        return int(self.heartbeat().get("counters", {}).get(key, 0))

    def received(self) -> int:
        return self._counter("received")

    def published(self) -> int:
        return self._counter("published")

    def progress(self) -> int:
        return self.received()

    def caught_up(self, delivered: int, base: int) -> bool:
        # every advert the radio delivered so far was received, and its heartbeat says so
        return self.received() >= delivered

    def stop(self) -> None:
        super().stop()
        self.status.stop()


class TheengsSubject(Subject):
    name = "TheengsGateway"

    def __init__(self, python: Path, stack: Stack, tmp: Path, mode: str) -> None:
        counter = TopicCounter(stack.mqtt, theengs.PUBLISH_TOPIC + "/#")
        super().__init__(theengs.start(python, stack, tmp, mode), counter)


def settle(stack: Stack, subjects: list[Subject], bases: dict[str, int]) -> list[str]:
    """Wait until every subject handled all the simulator delivered; names of those stalled."""
    delivered = stack.delivered()
    last = {s.name: (s.progress(), time.monotonic()) for s in subjects}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = [s for s in subjects if not s.caught_up(delivered, bases.get(s.name, 0))]
        if not pending:
            return []
        now = time.monotonic()
        for s in pending:
            p = s.progress()
            if p != last[s.name][0]:
                last[s.name] = (p, now)
        stalled = [s.name for s in pending if now - last[s.name][1] > STALL_S]
        if len(stalled) == len(pending):
            return stalled
        time.sleep(0.1)
    return [s.name for s in subjects if not s.caught_up(delivered, bases.get(s.name, 0))]


def window(
    stack: Stack, subjects: list[Subject], devices: int, count: int, rate: float
) -> dict[str, dict[str, float]]:
    """One measured stream of ``count`` adverts; per subject its figures over the window."""
    d0 = stack.delivered()  # the previous stream is settled: everyone handled all of it
    before = {
        s.name: (proc_cpu_s(s.proc.pid), proc_sched_s(s.proc.pid), s.received(), s.published())
        for s in subjects
    }
    mq0 = {s.name: s.counter.count for s in subjects}
    t0 = time.monotonic()
    stack.synthetic(devices, count, rate)
    stack.wait_stream_done(d0 + count, timeout=count / rate * 3 + 30)
    play_s = time.monotonic() - t0
    stalled = settle(stack, subjects, {s.name: mq0[s.name] - d0 for s in subjects})
    d1 = stack.delivered()
    out: dict[str, dict[str, float]] = {}
    for s in subjects:
        cpu0, sched0, r0, p0 = before[s.name]
        cpu, sched = proc_cpu_s(s.proc.pid) - cpu0, proc_sched_s(s.proc.pid) - sched0
        r1, p1 = s.received(), s.published()
        delivered = d1 - d0
        received = (r1 - r0) if r1 is not None and r0 is not None else delivered
        out[s.name] = {
            "delivered": delivered,
            "received": received,
            "published": (p1 - p0) if p1 is not None and p0 is not None else -1,
            "mqtt": s.counter.count - mq0[s.name],
            "cpu_s": cpu,
            "us": cpu / max(received, 1) * 1e6,
            "sched_us": sched / max(received, 1) * 1e6,
            "play_s": play_s,
            "stalled": float(s.name in stalled),
        }
    return out


def describe(name: str, w: dict[str, float]) -> str:
    pub = "" if w["published"] < 0 else f", published {w['published']:.0f}"
    flag = "  STALLED (did not handle every advert)" if w["stalled"] else ""
    return (
        f"    {name:<15} {w['us']:7.1f} µs/advert (sched {w['sched_us']:6.1f}); "
        f"CPU {w['cpu_s']:.2f}s for {w['received']:.0f} received of {w['delivered']:.0f} "
        f"delivered in {w['play_s']:.1f}s{pub}, broker got {w['mqtt']:.0f}{flag}"
    )


def check(name: str, w: dict[str, float]) -> list[str]:
    """What is wrong with a window (counts that do not match)."""
    bad = []
    if w["received"] != w["delivered"]:
        bad.append(f"{name}: received {w['received']:.0f} != delivered {w['delivered']:.0f}")
    if w["published"] >= 0 and w["published"] != w["received"]:
        bad.append(f"{name}: published {w['published']:.0f} != received {w['received']:.0f}")
    if w["mqtt"] != w["received"]:
        bad.append(f"{name}: broker got {w['mqtt']:.0f} != received {w['received']:.0f}")
    return bad


def run_rate(
    args: argparse.Namespace, rate: float, python: Path | None, tmp: Path
) -> dict[str, list[float]]:
    """All repetitions at one rate; per subject the µs/advert of each."""
    results: dict[str, list[float]] = {}
    problems: list[str] = []
    with Stack(tmp, broker_conf=args.broker_conf) as stack:
        subjects: list[Subject] = [AgentSubject(stack, tmp, args.mode)]
        try:
            if args.baseline_tree is not None:
                subjects.append(AgentSubject(stack, tmp, args.mode, args.baseline_tree))
            if python is not None:
                subjects.append(TheengsSubject(python, stack, tmp, args.mode))
                theirs = subjects[-1]

                def probe() -> bool:  # one advert at a time until it publishes: it is scanning
                    if theirs.counter.count > 0:
                        return True
                    stack.synthetic(1, 1, 10)
                    return False

                wait_until("Theengs Gateway to publish", probe, timeout=60, every=0.5)
            mode = subjects[0].scan_mode  # type: ignore[attr-defined]
            count = int(rate * args.seconds)
            # every device twice per stream: each stream restarts the simulator's counter, so
            # a device heard only once could repeat its previous stream's last content
            devices = max(1, min(args.devices, count // 2))
            warm = max(2 * devices, int(2 * rate))
            print(
                f"  rate {rate:.0f}/s, {devices} devices, agent scanning {mode}; "
                f"warm-up {warm} adverts"
            )
            time.sleep(1.0)  # probe adverts handled; it may have missed some before scanning
            d0 = stack.delivered()
            bases = {s.name: s.counter.count - d0 for s in subjects}
            stack.synthetic(devices, warm, rate)
            stack.wait_stream_done(d0 + warm, timeout=warm / rate * 3 + 30)
            stalled = settle(stack, subjects, bases)
            if stalled:
                print(f"  warm-up: {', '.join(stalled)} did not handle every advert")
            for rep in range(args.reps):
                res = window(stack, subjects, devices, count, rate)
                print(f"  rep {rep + 1}:")
                for name, w in res.items():
                    print(describe(name, w))
                    problems += check(name, w)
                    results.setdefault(name, []).append(w["us"])
                    results.setdefault(name + SCHED, []).append(w["sched_us"])
        finally:
            for s in subjects:
                s.stop()
    for p in problems:
        print(f"  MISMATCH {p}")
    return results


def run_rss(args: argparse.Namespace, tmp: Path) -> dict[int, float]:
    """VmRSS of a fresh agent at 10k, 50k and 100k adverts from 10,000 addresses."""
    marks = (10_000, 50_000, 100_000)
    rss: dict[int, float] = {}
    with Stack(tmp, broker_conf=args.broker_conf) as stack:
        agent = AgentSubject(stack, tmp, args.mode)
        try:
            pid = agent.proc.pid
            start_mb = proc_status_mb(pid)
            stack.synthetic(10_000, marks[-1], args.rss_rate)
            for mark in marks:
                wait_until(
                    f"{mark} adverts delivered",
                    lambda m=mark: stack.delivered() >= m,  # type: ignore[misc]
                    timeout=mark / args.rss_rate * 3 + 30,
                    every=0.1,
                )
                rss[mark] = proc_status_mb(pid)
            stalled = settle(stack, [agent], {})
            hb = agent.heartbeat()
            c = hb.get("counters", {})
            print(
                f"  agent RSS at start {start_mb:.1f} MB; "
                + ", ".join(f"after {m // 1000}k {mb:.1f} MB" for m, mb in rss.items())
                + f"; peak (VmHWM) {proc_status_mb(pid, 'VmHWM'):.1f} MB"
            )
            print(
                f"  heartbeat: received {c.get('received')}, published {c.get('published')}, "
                f"deduplicated {c.get('deduplicated')}, devices_tracked "
                f"{c.get('devices_tracked', hb.get('devices_tracked'))}, rss_mb {hb.get('rss_mb')}"
                + (" STALLED" if stalled else "")
            )
        finally:
            agent.stop()
    return rss


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rates", default="300,2000", help="first one also runs Theengs Gateway")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0, help="stream length per repetition")
    ap.add_argument("--devices", type=int, default=1000, help="random addresses (CPU runs)")
    ap.add_argument("--mode", choices=("passive", "active"), default="passive")
    ap.add_argument("--no-theengs", action="store_true")
    ap.add_argument("--theengs-venv", type=Path, default=theengs.DEFAULT_VENV)
    ap.add_argument("--rss-rate", type=float, default=2000.0)
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        default=None,
        help="a checkout of another commit (git worktree add / git archive): its agent runs "
        "beside this tree's on the same stream at every rate, and the ratio is printed",
    )
    ap.add_argument(
        "--stock-broker",
        action="store_true",
        help="Mosquitto's default max_inflight_messages 20 (its MQTT 5 receive maximum) instead "
        "of the test brokers' unlimited in-flight window",
    )
    args = ap.parse_args()
    args.broker_conf = "max_inflight_messages 20\n" if args.stock_broker else ""
    if args.baseline_tree is not None:
        args.baseline_tree = args.baseline_tree.resolve()
    python = None if args.no_theengs else theengs.ensure_venv(args.theengs_venv)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load {os.getloadavg()[0]:.1f}"
        f"; mode {args.mode}, {args.devices} devices, {args.reps} reps of {args.seconds:.0f}s"
        + ("; stock broker (receive maximum 20)" if args.stock_broker else "")
    )
    medians: dict[tuple[str, float], float] = {}
    paired: dict[tuple[str, float], float] = {}  # median over reps of this tree / baseline
    for i, rate in enumerate(float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-agent-cpu-") as tmp:
            res = run_rate(args, rate, python if i == 0 else None, Path(tmp))
        for name, values in res.items():
            medians[(name, rate)] = statistics.median(values)
            if name.startswith(BASELINE):  # both agents took the same stream in each rep
                mine = res["bt-mqtt-agent" + name[len(BASELINE) :]]
                ratios = [o / b for o, b in zip(mine, values, strict=True) if b > 0]
                paired[(name, rate)] = statistics.median(ratios) if ratios else float("nan")
    rss = {}
    if not args.no_rss:
        print(f"  RSS run: 100000 adverts from 10000 addresses at {args.rss_rate:.0f}/s")
        with tempfile.TemporaryDirectory(prefix="bench-agent-rss-") as tmp:
            rss = run_rss(args, Path(tmp))

    print("\nsummary (medians)")
    for (name, rate), us in medians.items():
        if name.endswith(SCHED):
            print(f"  {name:<23} at {rate:6.0f}/s: {us:7.1f} µs/advert")
            continue
        ok = "" if name != "bt-mqtt-agent" else ("  ok" if us <= TARGET_US else "  MISSES")
        target = f" (target <= {TARGET_US:.0f})" if name == "bt-mqtt-agent" else ""
        print(f"  {name:<15} at {rate:6.0f}/s: {us:7.1f} µs/advert{target}{ok}")
    for (name, rate), us in medians.items():
        if name.startswith(BASELINE):
            ours = medians[("bt-mqtt-agent" + name[len(BASELINE) :], rate)]
            print(
                f"  ratio at {rate:.0f}/s: this tree / baseline{name[len(BASELINE) :]} = "
                f"{ours / us:.2f} (of the medians), {paired[(name, rate)]:.2f} (median of the "
                "ratios in each rep)"
            )
    for (name, rate), us in medians.items():
        if name == "TheengsGateway":
            ours = medians[("bt-mqtt-agent", rate)]
            ratio = us / ours
            verdict = "ok" if ratio >= TARGET_RATIO else "MISSES"
            print(
                f"  ratio at {rate:.0f}/s: ours/theirs = 1/{ratio:.1f} "
                f"(target <= 1/{TARGET_RATIO:.0f})  {verdict}"
            )
    if rss:
        top = max(rss.values())
        verdict = "ok" if top <= TARGET_RSS_MB else "MISSES"
        print(
            "  agent RSS "
            + ", ".join(f"{m // 1000}k: {mb:.1f} MB" for m, mb in rss.items())
            + f" (target <= {TARGET_RSS_MB:.0f} MB)  {verdict}"
        )


if __name__ == "__main__":
    main()
