"""Scanner commands: acknowledgement latency, and what the command path costs the agent.

A private dbus-daemon, the BlueZ simulator process and a real Mosquitto (``bench.harness``);
``bt-mqtt-agent`` (bluez backend, passive) as a subprocess with ``commands.enabled``.  One MQTT
client sends ``--reps`` of each of ``status``, ``set-filters`` (two filter sets in turn) and
``restart-scan`` one after the other and times each from publish to the matching reply (round
trip, this machine; the issue's target is 2 s), beside the agent's own ``ms``.

Then the cost when nobody uses commands: an agent with commands off and one with commands on
run side by side on the same simulated radio, their VmRSS after start; and the import time of
the agent's running modules (runner + bluez backend) with and without the command shell
(median of ``--import-reps`` fresh interpreters each).  With ``--baseline-tree DIR`` (a checkout
of another commit) that tree's import time and agent RSS are measured the same way.

    .venv/bin/python -m bench.agent_commands [--reps 20] [--import-reps 15]
        [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gmqtt

from bench.harness import Stack, proc_status_mb, wait_until
from bt_mqtt.core import command as cmd
from bt_mqtt.demo.services import stop_process

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
IMPORT_PROBE = (
    "import sys, time; t = time.perf_counter(); import {mods}; "
    "print(time.perf_counter() - t, len(sys.modules))"
)


def start_agent(
    stack: Stack, tmp: Path, sid: str, commands: bool, tree: Path = ROOT
) -> subprocess.Popen[bytes]:
    conf = tmp / f"{sid}.yaml"
    broker = stack.mqtt
    conf.write_text(
        json.dumps(
            {
                "scanner_id": sid,
                "mqtt": {"host": broker.host, "port": broker.port},
                "bluetooth": {"backend": "bluez", "adapter": "hci0", "mode": "passive"},
                "heartbeat": {"interval_s": 1},
                "log": {"level": "info", "format": "json"},
                **({"commands": {"enabled": True}} if commands else {}),
            }
        )
    )
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": stack.address}
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "agent"), str(tree / "common")])
    with open(tmp / f"{sid}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )


async def ack_latency(host: str, port: int, sid: str, reps: int) -> dict[str, list[float]]:
    """Round-trip seconds per verb (and the agent's own ``ms`` under ``<verb> agent``)."""
    client = gmqtt.Client(f"bench-commands-{cmd.new_id()}")
    replies: dict[str, asyncio.Future[cmd.Reply]] = {}
    subscribed = asyncio.Event()

    def on_message(_c: Any, _t: str, payload: bytes, _q: int, _p: Any) -> int:
        reply = cmd.parse_reply(payload)
        fut = replies.pop(reply.id or "", None)
        if fut is not None and not fut.done():
            fut.set_result(reply)
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    await client.connect(host, port)
    client.subscribe(f"bt-mqtt/scanner/{sid}/reply", qos=1)
    await asyncio.wait_for(subscribed.wait(), 10)
    filter_sets: list[dict[str, Any]] = [{"min_rssi": -100}, {"min_rssi": None}]
    out: dict[str, list[float]] = {}
    try:
        for verb in (cmd.STATUS, cmd.SET_FILTERS, cmd.RESTART_SCAN):
            for i in range(reps):
                args = filter_sets[i % 2] if verb == cmd.SET_FILTERS else {}
                req = cmd.Request(cmd.new_id(), verb, args)
                fut: asyncio.Future[cmd.Reply] = asyncio.get_running_loop().create_future()
                replies[req.id] = fut
                t0 = time.perf_counter()
                client.publish(f"bt-mqtt/command/{sid}", req.encode(), qos=1)
                reply = await asyncio.wait_for(fut, 30)
                dt = time.perf_counter() - t0
                if not reply.ok:
                    raise RuntimeError(f"{verb} failed: {reply.error}")
                out.setdefault(verb, []).append(dt)
                out.setdefault(f"{verb} agent", []).append(reply.ms / 1000)
                await asyncio.sleep(0.05)
    finally:
        await client.disconnect()
    return out


def import_times(cases: list[tuple[Path, str]], reps: int) -> list[tuple[float, int]]:
    """Median import seconds of each (tree, modules) case, fresh interpreters, the cases
    interleaved so that load on the machine hits them alike; and the modules loaded."""
    times: list[list[float]] = [[] for _ in cases]
    counts = [0 for _ in cases]
    for _ in range(reps):
        for i, (tree, mods) in enumerate(cases):
            env = {**os.environ, "PYTHONPATH": f"{tree / 'agent'}{os.pathsep}{tree / 'common'}"}
            res = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(mods=mods)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd="/",
            )
            seconds, count = res.stdout.split()
            times[i].append(float(seconds))
            counts[i] = int(count)
    return [(statistics.median(t), n) for t, n in zip(times, counts, strict=True)]


def online(stack: Stack, sid: str) -> bool:
    res = subprocess.run(
        [
            "mosquitto_sub",
            "-h",
            stack.mqtt.host,
            "-p",
            str(stack.mqtt.port),
            "-t",
            f"bt-mqtt/scanner/{sid}/status",
            "-C",
            "1",
            "-W",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        s = json.loads(res.stdout)
    except ValueError:
        return False
    return bool(s.get("status") == "online" and s["adapter"]["scan_mode"] in ("passive", "active"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--import-reps", type=int, default=15)
    p.add_argument("--baseline-tree", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cmd-") as d, Stack(Path(d)) as stack:
        tmp = Path(d)
        agents = {
            "commands on": start_agent(stack, tmp, "bench-on", True),
            "commands off": start_agent(stack, tmp, "bench-off", False),
        }
        if args.baseline_tree is not None:
            agents["baseline tree"] = start_agent(
                stack, tmp, "bench-base", False, args.baseline_tree.resolve()
            )
        try:
            for name, sid in (("commands on", "bench-on"), ("commands off", "bench-off")):
                wait_until(f"{name} agent online", lambda s=sid: online(stack, s), 60, every=0.2)  # type: ignore[misc]
            if "baseline tree" in agents:
                wait_until("baseline agent online", lambda: online(stack, "bench-base"), 60, 0.2)
            time.sleep(2)
            rss = {name: proc_status_mb(proc.pid) for name, proc in agents.items()}
            lat = asyncio.run(ack_latency(stack.mqtt.host, stack.mqtt.port, "bench-on", args.reps))
            rss_after = proc_status_mb(agents["commands on"].pid)
        finally:
            for proc in agents.values():
                stop_process(proc)
    print(f"command acknowledgement, {args.reps} each (round trip; target {TARGET_S:.0f} s):")
    for verb in (cmd.STATUS, cmd.SET_FILTERS, cmd.RESTART_SCAN):
        xs = sorted(lat[verb])
        med = statistics.median(xs)
        p90 = xs[int(len(xs) * 0.9) - 1]
        own = statistics.median(lat[verb + " agent"]) * 1000
        print(
            f"  {verb:14s} median {med * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms"
            f"  max {xs[-1] * 1000:7.1f} ms  (agent's own ms median {own:.0f});"
            f" median/target {med / TARGET_S:.3f}"
        )
    print("agent VmRSS after start (same radio, side by side):")
    for name, mb in rss.items():
        print(f"  {name:14s} {mb:6.1f} MB  (ratio to commands off {mb / rss['commands off']:.3f})")
    print(f"  commands on after {args.reps * 3} commands: {rss_after:.1f} MB")
    run_mods = "bt_mqtt.agent.runner, bt_mqtt.agent.backends.bluez"
    cases = [(ROOT, run_mods), (ROOT, run_mods + ", bt_mqtt.agent.cmdshell")]
    if args.baseline_tree is not None:
        cases.append((args.baseline_tree.resolve(), run_mods))
    medians = import_times(cases, args.import_reps)
    (base, n_base), (with_cmd, n_cmd) = medians[0], medians[1]
    reps = args.import_reps
    print(f"import time of the agent's running modules (median of {reps}, interleaved):")
    print(f"  commands off {base * 1000:7.1f} ms, {n_base} modules")
    print(
        f"  commands on  {with_cmd * 1000:7.1f} ms, {n_cmd} modules (ratio {with_cmd / base:.3f})"
    )
    if args.baseline_tree is not None:
        bt, n_bt = medians[2]
        print(
            f"  baseline tree {bt * 1000:6.1f} ms, {n_bt} modules (this tree, commands off / "
            f"baseline {base / bt:.3f})"
        )


if __name__ == "__main__":
    main()
