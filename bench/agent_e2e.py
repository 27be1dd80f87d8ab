"""CPU per advertisement of the whole agent: D-Bus signal in (simulated BlueZ) to MQTT publish out.

Starts a private dbus-daemon, the BlueZ simulator as a process, a Mosquitto and
``bt-mqtt-agent`` (bluez backend, passive, default dedup) as a subprocess.  For each rate the
simulator streams synthetic random-address adverts with always-changing content (so every one
is published); the agent's CPU time (scheduler run time from /proc/PID/schedstat, start-up
excluded; tick-sampled user/system from /proc/PID/stat shown too) is divided by the adverts it
received (from its heartbeat).  RSS is the agent's at the end of the run.

    .venv/bin/python -m bench.agent_e2e [--rates 300,2000] [--seconds 10] [--devices 10000]
                                        [--mode passive|active]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bt_mqtt.bluezsim.control import SimClient
from bt_mqtt.core.topics import Topics
from bt_mqtt.demo.services import DBusDaemon
from tests.fixtures.bluez import start_sim_process
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector
from tests.fixtures.procs import stop_process

SID = "bench"
STATUS = Topics().status(SID)
# BT_MQTT_BENCH_PROFILE=FILE runs the agent under cProfile, writing FILE (for finding hot spots)
PROFILE = (
    ["-m", "cProfile", "-o", os.environ["BT_MQTT_BENCH_PROFILE"]]
    if os.environ.get("BT_MQTT_BENCH_PROFILE")
    else []
)
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def proc_cpu_s(pid: int) -> tuple[float, float, float]:
    """(user, system) CPU seconds of process ``pid`` (tick-sampled), and its main thread's
    on-CPU time from the scheduler (nanosecond accounting; the agent is single-threaded)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    sched = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK, int(sched[0]) / 1e9


def proc_rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_MB


def latest_status(col: MqttCollector) -> dict[str, Any] | None:
    got = col.snapshot(STATUS)
    return got[-1].json() if got else None


def run_rate(tmp: Path, rate: float, seconds: float, devices: int, mode: str) -> dict[str, float]:
    bus = DBusDaemon(tmp / "dbus")
    bus.start()
    broker = Broker(tmp / "mosq")
    broker.start()
    sim = start_sim_process(bus.address, tmp / "sim.log")
    conf = tmp / "agent.yaml"
    conf.write_text(
        json.dumps(
            {
                "scanner_id": SID,
                "mqtt": {"host": broker.host, "port": broker.port},
                "bluetooth": {"backend": "bluez", "mode": mode},
                "heartbeat": {"interval_s": 1},
                "log": {"level": "warning"},
            }
        )
    )
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus.address)
    col = MqttCollector(broker.host, broker.port, STATUS).start()
    with open(tmp / "agent.log", "wb") as log:
        agent = subprocess.Popen(
            [sys.executable, *PROFILE, "-m", "bt_mqtt.agent.main", "--config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        col.wait_for(
            1,
            timeout=30,
            predicate=lambda m: m.json()["adapter"]["scan_mode"] in ("passive", "active"),
        )
        count = int(rate * seconds)
        before = latest_status(col) or {}
        received0 = before.get("counters", {}).get("received", 0)
        cpu0 = proc_cpu_s(agent.pid)
        t0 = time.monotonic()

        async def start_stream() -> None:
            ctl = await SimClient.connect(bus.address)
            try:
                await ctl.synthetic(devices, count, rate)
            finally:
                ctl.close()

        asyncio.run(start_stream())
        deadline = t0 + seconds * 3 + 10
        received = 0
        while time.monotonic() < deadline:
            st = latest_status(col) or {}
            received = st.get("counters", {}).get("received", 0) - received0
            if received >= count:
                break
            time.sleep(0.2)
        cpu1 = proc_cpu_s(agent.pid)
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        cpu = cpu1[2] - cpu0[2]
        elapsed = time.monotonic() - t0
        st = latest_status(col) or {}
        counters = st.get("counters", {})
        return {
            "rate": rate,
            "sent": count,
            "received": received,
            "published": counters.get("published", 0),
            "cpu_s": cpu,
            "user_s": user,
            "system_s": system,
            "elapsed_s": elapsed,
            "us_per_advert": cpu / max(received, 1) * 1e6,
            "rss_mb": proc_rss_mb(agent.pid),
        }
    finally:
        stop_process(agent)
        col.stop()
        stop_process(sim.proc)
        broker.stop()
        bus.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="300,2000")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--mode", choices=("passive", "active"), default="passive")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), mode {args.mode}")
    for rate in (float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            r = run_rate(Path(tmp), rate, args.seconds, args.devices, args.mode)
        print(
            f"rate {r['rate']:>6.0f}/s: sent {r['sent']:.0f}, received {r['received']:.0f}, "
            f"published {r['published']:.0f} in {r['elapsed_s']:.1f}s; agent CPU "
            f"{r['cpu_s']:.3f}s (ticks: user {r['user_s']:.2f}, system {r['system_s']:.2f}) = "
            f"{r['us_per_advert']:.1f} µs/advert; RSS {r['rss_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
