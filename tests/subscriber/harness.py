"""Running the real subscriber against real Mosquitto and PostgreSQL in tests and the benchmark."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
import yaml

from bt_mqtt.demo.services import die_with_parent
from tests.fixtures.procs import require_binary
from tests.fixtures.waiting import wait_until
from tests.subscriber.streams import Msg


def write_config(
    path: Path,
    mqtt_port: int,
    db_url: str,
    *,
    client_id: str = "bt-mqtt-subscriber-test",
    ingest: dict[str, Any] | None = None,
    mqtt_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    data: dict[str, Any] = {
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "client_id": client_id,
            **(mqtt_extra or {}),
        },
        "database": {"url": db_url},
        "ingest": {"batch_ms": 20, **(ingest or {})},
        "log": {"level": "info", "format": "json"},
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def start_subscriber(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``bt-mqtt-subscriber --config CONFIG run --migrate`` (or ``args``) in the background."""
    argv = [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(config)]
    argv += list(args) or ["run", "--migrate"]
    with open(log, "ab") as fh:
        return subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl runs there
        )


def publish(port: int, msgs: Iterable[Msg], *, background: bool = False) -> list[Any]:
    """Publish with ``mosquitto_pub -l -q 1`` (one process per topic, order kept per topic)."""
    exe = require_binary("mosquitto_pub", "apt-get install mosquitto-clients")
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for m in msgs:
        by_topic[m.topic].append(m.payload)
    procs = []
    for topic, payloads in by_topic.items():
        argv = [exe, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-l"]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl runs there
        )
        procs.append((proc, b"\n".join(payloads) + b"\n"))
    if background:
        return procs
    for proc, data in procs:
        _, err = proc.communicate(data, timeout=120)
        assert proc.returncode == 0, err
    return []


def publish_raw(port: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """One message with arbitrary bytes (``mosquitto_pub -s`` reads the payload from stdin)."""
    exe = require_binary("mosquitto_pub", "apt-get install mosquitto-clients")
    argv = [exe, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-s"]
    if retain:
        argv.append("-r")
    res = subprocess.run(argv, input=payload, capture_output=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr


def count(db_url: str, query: str, params: Any = None) -> int:
    try:
        with psycopg.connect(db_url, connect_timeout=3) as conn:
            row = conn.execute(query, params).fetchone()
    except psycopg.OperationalError:
        return -1
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row and row[0] is not None else 0


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def scrape(port: int) -> dict[str, float]:
    """The subscriber's metrics without the common prefix; {} when not reachable."""
    import urllib.request  # noqa: PLC0415

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        out[name.removeprefix("btmqtt_subscriber_")] = float(value)
    return out


def wait_subscribed(log: Path, proc: subprocess.Popen[bytes], times: int = 1) -> None:
    """Wait until the subscriber has (re)subscribed ``times`` times since it started."""
    wait_until(
        lambda: log.read_text().count("mqtt_connected") >= times,
        "subscription",
        30,
        proc=proc,
        log=log,
        every=0.1,
    )


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its direct children (the planner process), in MiB."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    total = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total
