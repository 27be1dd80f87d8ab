"""Agent hot-path benchmark: CPU per advertisement in the pure pipeline and in the whole agent.

Run: ``.venv/bin/python -m bench.agent_pipeline [--n 20000] [--rounds 5]``

1. The pure pipeline (filters -> dedup -> encode) per advert, for a new-content advert (published),
   a repeat (dropped by dedup) and a blocklisted one, with the baseline ``wire.encode`` measured
   in the same run for comparison against the agent's direct encoder.
2. The bluez backend's D-Bus message handler alone (no bus: dbus-fast ``Message`` objects built
   beforehand): a Device1 PropertiesChanged with RSSI, manufacturer data and service data, as
   bluetoothd sends one per received advert, to an ``Advert`` handed to a null sink.
3. Memory: RSS growth after 100,000 adverts from 10,000 distinct random addresses.
4. The agent process end to end (replay backend at speed 0 -> real Mosquitto, QoS 1): its CPU
   seconds divided by the adverts it handled (includes JSON parsing of the replay lines, which a
   BlueZ backend replaces with D-Bus parsing).  Needs the ``mosquitto`` binary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bt_mqtt.agent.config import FiltersConfig, MatchList
from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.agent.heartbeat import read_process
from bt_mqtt.agent.pipeline import Encoder, Pipeline
from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert

WALL = 1_800_000_000.0
UUID = "0000181a-0000-1000-8000-00805f9b34fb"


def sample_advert(mac: str, i: int) -> Advert:
    return Advert(
        mac=mac,
        rssi=-60 - i % 20,
        address_type="public",
        name="ATC_123456",
        manufacturer_data={
            0x004C: bytes.fromhex("0215aabbccddeeff0011223344556677") + bytes([i & 255])
        },
        service_data={UUID: bytes.fromhex("a4c138123456") + i.to_bytes(4, "little")},
        service_uuids=[UUID],
    )


def per_call_us(fn: Callable[[int], object], n: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean time per call (µs)."""
    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        results.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(results)


def bench_pure(n: int, rounds: int) -> dict[str, float]:
    filters = FiltersConfig(blocklist=MatchList(macs=["BB:00:00:00:00:01"], names=["Hidden*"]))
    pipe = Pipeline("livingroom-pi", "0123456789abcdef", Filter(filters), Dedup(10, 300, 10000))
    changing = [sample_advert("A4:C1:38:00:00:01", i) for i in range(n)]
    same = sample_advert("A4:C1:38:00:00:02", 0)
    blocked = sample_advert("BB:00:00:00:00:01", 0)
    clock = [0.0]

    def new_content(i: int) -> object:
        clock[0] += 0.001
        return pipe.offer(changing[i], clock[0], WALL + clock[0], True)

    def repeat(i: int) -> object:
        clock[0] += 0.001
        return pipe.offer(same, clock[0], WALL + clock[0], True)

    def filtered(i: int) -> object:
        return pipe.offer(blocked, clock[0], WALL, True)

    enc = Encoder("livingroom-pi", "0123456789abcdef")
    a = changing[0]
    return {
        "offer, new content (published)": per_call_us(new_content, n, rounds),
        "offer, repeat (deduplicated)": per_call_us(repeat, n, rounds),
        "offer, blocklisted (filtered)": per_call_us(filtered, n, rounds),
        "encode, agent Encoder": per_call_us(
            lambda i: enc.encode(a, i, "2027-01-15T08:00:00.000Z"), n, rounds
        ),
        "encode, baseline wire.encode + format_ts": per_call_us(
            lambda i: wire.encode(a, "livingroom-pi", "0123456789abcdef", i, wire.format_ts(WALL)),
            n,
            rounds,
        ),
    }


def bench_handler(n: int, rounds: int) -> float:
    """µs per PropertiesChanged through ``BluezBackend._on_message`` (1,000 known devices)."""
    from dbus_fast import Message, Variant  # noqa: PLC0415 - bench-only import

    from bt_mqtt.agent.backends.bluez import BluezBackend  # noqa: PLC0415

    backend = BluezBackend(adapter="hci0", mode="passive")
    backend._adapter_path = "/org/bluez/hci0"
    sunk = [0]

    def sink(_a: Advert) -> None:
        sunk[0] += 1

    backend._sink = sink
    props = "org.freedesktop.DBus.Properties"
    paths = [f"/org/bluez/hci0/dev_A4_C1_38_00_{d >> 8:02X}_{d & 255:02X}" for d in range(1000)]
    for path in paths:
        added = {"org.bluez.Device1": {"AddressType": Variant("s", "public")}}
        backend._on_message(
            Message.new_signal(
                "/",
                "org.freedesktop.DBus.ObjectManager",
                "InterfacesAdded",
                "oa{sa{sv}}",
                [path, added],
            )
        )
    msgs = []
    for i in range(n):
        a = sample_advert("A4:C1:38:00:00:00", i)
        changed = {
            "RSSI": Variant("n", a.rssi),
            "ManufacturerData": Variant(
                "a{qv}", {k: Variant("ay", v) for k, v in a.manufacturer_data.items()}
            ),
            "ServiceData": Variant(
                "a{sv}", {k: Variant("ay", v) for k, v in a.service_data.items()}
            ),
        }
        msgs.append(
            Message.new_signal(
                paths[i % 1000],
                props,
                "PropertiesChanged",
                "sa{sv}as",
                ["org.bluez.Device1", changed, []],
            )
        )
    handle = backend._on_message
    us = per_call_us(lambda i: handle(msgs[i]), n, rounds)
    assert sunk[0] == n * rounds, sunk[0]
    return us


def bench_memory() -> tuple[float, float, int]:
    """RSS (MB) before and after 100k adverts from 10k random addresses; dedup table size."""
    rng = random.Random(1)
    macs = [":".join(f"{rng.randrange(256):02X}" for _ in range(6)) for _ in range(10_000)]
    pipe = Pipeline("pi", "b", Filter(FiltersConfig()), Dedup(10, 300, 10000))
    before = read_process().rss_mb
    for i in range(100_000):
        pipe.offer(sample_advert(macs[i % 10_000], i), i * 0.001, WALL, True)
    after = read_process().rss_mb
    return before, after, len(pipe.dedup)


def bench_agent(n: int) -> dict[str, float] | None:
    """CPU per advert of a real agent process publishing to a real Mosquitto."""
    from tests.fixtures.mosquitto import Broker  # noqa: PLC0415 - bench-only dependency

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker = Broker(d / "mosq")
        try:
            broker.start()
        except Exception as exc:
            print(f"(skipping the agent run: cannot start mosquitto: {exc})")
            return None
        try:
            with open(d / "r.jsonl", "w") as fh:
                for i in range(n):
                    obj = wire.advert_fields(sample_advert(f"A4:C1:38:00:{i % 256:02X}:01", i))
                    fh.write(json.dumps(obj) + "\n")
            conf = d / "agent.yaml"
            conf.write_text(
                json.dumps(
                    {
                        "scanner_id": "bench",
                        "mqtt": {"host": broker.host, "port": broker.port},
                        "bluetooth": {
                            "backend": "replay",
                            "replay": {"file": str(d / "r.jsonl"), "speed": 0},
                        },
                        "log": {"level": "warning"},
                    }
                )
            )
            base = [sys.executable, "-c", "import bt_mqtt.agent.runner"]
            t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(base, check=True)
            t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            argv = [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(conf)]
            subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)
            t2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:
            broker.stop()
    startup = (t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime)
    total = (t2.ru_utime + t2.ru_stime) - (t1.ru_utime + t1.ru_stime)
    return {
        "adverts": n,
        "process CPU s": total,
        "import-only CPU s (subtracted)": startup,
        "CPU per advert µs": (total - startup) / n * 1e6,
        "peak RSS MB": t2.ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-agent", action="store_true", help="skip the subprocess run")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), n={args.n}")
    print("\n== pure pipeline, median µs per advert ==")
    pure = bench_pure(args.n, args.rounds)
    for k, v in pure.items():
        print(f"  {k:42s} {v:7.2f} µs")
    ratio = pure["encode, baseline wire.encode + format_ts"] / pure["encode, agent Encoder"]
    print(f"  encoder speed-up over the baseline: {ratio:.2f}x")
    print("\n== bluez message handler, median µs per PropertiesChanged -> Advert ==")
    handler = bench_handler(args.n, args.rounds)
    print(f"  {'RSSI + manufacturer data + service data':42s} {handler:7.2f} µs")
    print("\n== memory: 100,000 adverts from 10,000 random addresses ==")
    before, after, size = bench_memory()
    print(
        f"  RSS before {before:.1f} MB, after {after:.1f} MB (+{after - before:.1f} MB), "
        f"dedup table {size} entries"
    )
    if not args.no_agent:
        print("\n== agent process, replay (speed 0) -> Mosquitto QoS 1 ==")
        res = bench_agent(args.n)
        if res is not None:
            for k, v in res.items():
                print(f"  {k:32s} {v:10.2f}")


if __name__ == "__main__":
    main()
