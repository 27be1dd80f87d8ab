"""Console under load: 2,000 adverts/s from 5,000 devices for 60 s through a real Mosquitto.

    .venv/bin/python -m bench.console [--rate 2000] [--devices 5000] [--seconds 60]

1. Starts a private Mosquitto and ``bt-mqtt-console`` in a real terminal (a detached tmux
   session, 120x40), measures its idle CPU for 10 s (the baseline of this run).
2. Starts the publisher (this file with ``publish``, another process) and samples the console
   process every second from /proc: CPU % of one core and RSS.  Reports the median CPU, the ratio
   to the idle baseline, RSS over time (does it stop growing?) and the screen as tmux shows it.
3. With the same feed running, runs a second console in-process under Textual's Pilot and
   measures key press -> screen updated (``s`` changes the sort shown in the status line).

Targets (issue 5): CPU <= 50 % of one core (median), memory that stops growing, key <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SESSION = "btmqtt-console-bench"
TICK = os.sysconf("SC_CLK_TCK")


# -- the publisher (a separate process) ----------------------------------------------------------


async def publish(port: int, rate: float, devices: int, seconds: float) -> None:
    import gmqtt  # noqa: PLC0415

    from bt_mqtt.core.advert import Advert  # noqa: PLC0415
    from bt_mqtt.core.topics import Topics  # noqa: PLC0415
    from bt_mqtt.core.wire import encode, format_ts  # noqa: PLC0415
    from bt_mqtt.demo import encoders  # noqa: PLC0415

    rng = random.Random(5)
    macs = [
        ":".join(f"{b:02X}" for b in (0xC0_0000_0000 + i).to_bytes(6, "big"))
        for i in range(devices)
    ]
    scanners = ("kitchen", "attic", "garage", "porch")

    def advert(i: int, n: int) -> Advert:
        rssi = -40 - (i % 50) - rng.randint(0, 5)
        temp = 15 + (i % 100) / 10 + rng.random()
        if i % 5 < 2:
            return encoders.bthome_plain(macs[i], rssi, n & 0xFF, temp, 40 + i % 30, 80)
        if i % 5 == 2:
            return encoders.ruuvi_df5(macs[i], rssi, n & 0xFFFF, temp, 50.0, 1000.0, 2.9, n & 0xFF)
        return Advert(macs[i], rssi, "random", None, None, {0x004C: bytes([0x10, 5, i & 0xFF])})

    client = gmqtt.Client(f"bench-pub-{os.getpid()}")
    await client.connect("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    seq = 0
    next_beat = start
    while (elapsed := loop.time() - start) < seconds:
        if loop.time() >= next_beat:  # retained heartbeats, as agents send them
            next_beat += 10.0
            for sc in scanners:
                beat = {"status": "online", "scanner_id": sc, "ts": format_ts(time.time()),
                        "interval_s": 10, "received_per_s": rate / 4, "published_per_s": rate / 4,
                        "last_advert_age_s": 0.0, "cpu_pct": 30.0, "rss_mb": 40.0,
                        "adapter": {"name": "hci0", "scan_mode": "passive"},
                        "counters": {"received": sent, "dropped_offline": 0}}  # fmt: skip
                topic = Topics().status(sc)
                client.publish(topic, json.dumps(beat).encode(), qos=1, retain=True)
        due = int(elapsed * rate)
        while sent < due:
            i = rng.randrange(devices)
            sc = scanners[i % 4] if i % 7 else scanners[(i + sent) % 4]
            payload = encode(advert(i, sent), sc, "benchboot", seq, format_ts(time.time()))
            client.publish(Topics().raw(sc), payload, qos=0)
            sent += 1
            seq += 1
        await asyncio.sleep(0.005)
    await client.disconnect()
    print(f"publisher: {sent} adverts in {seconds:.0f} s", file=sys.stderr)


# -- measuring a process -------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample(pid: int, seconds: int) -> tuple[list[float], list[float]]:
    """Per-second CPU % of one core and RSS in MB for ``seconds`` seconds."""
    cpu: list[float] = []
    rss: list[float] = []
    last_t, last_c = time.monotonic(), cpu_ticks(pid)
    for _ in range(seconds):
        time.sleep(1.0)
        t, c = time.monotonic(), cpu_ticks(pid)
        cpu.append(100.0 * (c - last_c) / TICK / (t - last_t))
        rss.append(rss_mb(pid))
        last_t, last_c = t, c
    return cpu, rss


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


# -- key latency under Pilot ---------------------------------------------------------------------


async def key_latency(port: int, presses: int) -> list[float]:
    from textual.widgets import Static  # noqa: PLC0415

    from bt_mqtt.console.app import ConsoleApp  # noqa: PLC0415
    from bt_mqtt.console.decoding import RegistryDecoder  # noqa: PLC0415
    from bt_mqtt.console.feed import MqttFeed  # noqa: PLC0415
    from bt_mqtt.console.screens import LiveScreen  # noqa: PLC0415
    from bt_mqtt.console.state import ConsoleState  # noqa: PLC0415
    from bt_mqtt.core.mqttconfig import MqttConfig  # noqa: PLC0415

    app = ConsoleApp(
        ConsoleState(RegistryDecoder()), MqttFeed(MqttConfig(host="127.0.0.1", port=port)), fps=4
    )
    out: list[float] = []
    shown: list[float] = []
    real_display = app._display

    def display(screen: Any, renderable: Any) -> None:  # note when a frame goes to the driver
        if renderable is not None:
            shown.append(time.perf_counter())
        real_display(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        while len(app.state.devices) < 4000:  # warm up: most devices known
            await asyncio.sleep(0.1)
        live = app.screen
        assert isinstance(live, LiveScreen)
        status = live.query_one("#status", Static)
        for _ in range(presses):
            await asyncio.sleep(random.uniform(0.15, 0.4))
            before = live.sort
            t0 = time.perf_counter()
            # Pilot's press also waits for the whole app to go idle, which a process receiving
            # 2,000 messages/s rarely does; so the press runs as a task and the time taken is
            # until the first frame drawn after the status line shows the new sort.
            press = asyncio.create_task(pilot.press("s"))
            while live.sort == before or f"sort {live.sort}" not in str(status.content):
                await asyncio.sleep(0.001)
            changed = time.perf_counter()
            while not shown or shown[-1] < changed:
                await asyncio.sleep(0.001)
            out.append((shown[-1] - t0) * 1000)
            await press
        print(f"pilot console: {len(app.state.devices)} devices, {app.frames} frames")
    return out


# -- the run -------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(prog="bench.console")
    p.add_argument("mode", nargs="?", default="run", choices=["run", "publish"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--devices", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--presses", type=int, default=25)
    p.add_argument("--latency-only", action="store_true", help="skip the tmux CPU/RSS phase")
    args = p.parse_args()
    if args.mode == "publish":
        asyncio.run(publish(args.port, args.rate, args.devices, args.seconds))
        return 0

    from bt_mqtt.demo.services import Mosquitto  # noqa: PLC0415

    if shutil.which("tmux") is None:
        print("tmux is required (apt-get install tmux)")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    broker = Mosquitto(tmp / "mosquitto")
    broker.start()
    exe = str(Path(sys.executable).with_name("bt-mqtt-console"))
    cmd = f"exec {exe} --host 127.0.0.1 --port {broker.port} --fps 4 --log-file {tmp}/console.log"
    pilot_seconds = 25
    pub: subprocess.Popen[bytes] | None = None
    try:
        if args.latency_only:
            pub = subprocess.Popen(
                [sys.executable, "-m", "bench.console", "publish", "--port", str(broker.port),
                 "--rate", str(args.rate), "--devices", str(args.devices), "--seconds", "600"],
            )  # fmt: skip
            lat = sorted(asyncio.run(key_latency(broker.port, args.presses)))
            print(f"key press -> screen: median {statistics.median(lat):.1f} ms, max {lat[-1]:.1f}")
            return 0
        tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", cmd)
        pid = int(tmux("display", "-p", "-t", SESSION, "#{pane_pid}").strip())
        time.sleep(3)
        idle_cpu, idle_rss = sample(pid, 10)
        idle_med = statistics.median(idle_cpu)
        print(f"idle console: median CPU {idle_med:.1f} %, RSS {idle_rss[-1]:.0f} MB")
        pub = subprocess.Popen(
            [sys.executable, "-m", "bench.console", "publish", "--port", str(broker.port),
             "--rate", str(args.rate), "--devices", str(args.devices),
             "--seconds", str(args.seconds + pilot_seconds + 15)],
        )  # fmt: skip
        cpu, rss = sample(pid, int(args.seconds))
        screen = tmux("capture-pane", "-p", "-t", SESSION)
        tmux("kill-session", "-t", SESSION)
        med = statistics.median(cpu)
        base = max(statistics.median(idle_cpu), 0.1)
        print(
            f"\nload: {args.rate:.0f} adverts/s from {args.devices} devices, {args.seconds:.0f} s"
        )
        p90 = sorted(cpu)[int(len(cpu) * 0.9)]
        print(f"console CPU % of one core: median {med:.1f}  p90 {p90:.1f}  max {max(cpu):.1f}")
        print(f"  idle baseline {base:.1f} %; loaded/idle ratio {med / base:.1f}x")
        marks = {s: rss[s - 1] for s in (10, 20, 30, 40, 50, len(rss)) if s <= len(rss)}
        print("console RSS MB at t=s: " + "  ".join(f"{s}s {v:.0f}" for s, v in marks.items()))
        third = len(rss) // 3
        mid, last = max(rss[third : 2 * third]), max(rss[2 * third :])
        growth = last - mid
        verdict = "stable" if growth < 5 else "GROWING"
        print(f"RSS growth over the last third: {growth:+.1f} MB ({verdict})")
        print("\nthe console as tmux shows it at the end:\n" + screen)
        lat = asyncio.run(key_latency(broker.port, args.presses))
        lat.sort()
        lat_med, lat_p90 = statistics.median(lat), lat[int(len(lat) * 0.9)]
        print(f"key press -> screen (Pilot, same load): median {lat_med:.1f} ms, p90 {lat_p90:.1f}")
        print(f"  ms, max {lat[-1]:.1f} ms over {len(lat)} presses")
        ok = med <= 50 and growth < 5 and lat_med <= 100
        print(f"\nverdict: {'PASS' if ok else 'FAIL'} (CPU <= 50 %, RSS stable, key <= 100 ms)")
        return 0 if ok else 1
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
        if pub is not None:
            pub.terminate()
            pub.wait()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
