"""Shared plumbing of the benchmarks that run real processes.

``Stack`` is a private dbus-daemon, the BlueZ simulator in its own process (driven through
``SimClient``) and, optionally, a Mosquitto, all under one temporary directory.  ``proc_*``
read another process's CPU time and memory from /proc.  ``TopicCounter`` counts the messages
published on a topic filter (a ``mosquitto_sub`` child process, so counting costs the measured
processes nothing and this process almost nothing).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bt_mqtt.bluezsim.control import SimClient
from bt_mqtt.demo.services import DBusDaemon, Mosquitto, find_binary, stop_process
from tests.fixtures.bluez import SimProcess, start_sim_process

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_sched_s(pid: int) -> float:
    """On-CPU time of all threads of ``pid`` from the scheduler (ns resolution), in seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that just ended
    return total / 1e9


def proc_status_mb(pid: int, key: str = "VmRSS") -> float:
    """A memory line of /proc/PID/status (``VmRSS``, ``VmHWM``...), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(f"{key} not in /proc/{pid}/status")


def wait_until(what: str, cond: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    """Poll ``cond`` until true; RuntimeError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Stack:
    """dbus-daemon + BlueZ simulator process (+ Mosquitto) in ``tmp``; a context manager."""

    def __init__(self, tmp: Path, *, broker: bool = True, broker_conf: str = "") -> None:
        self.tmp = tmp
        self.bus = DBusDaemon(tmp / "dbus")
        self.broker = Mosquitto(tmp / "mosquitto", extra_conf=broker_conf) if broker else None
        self.sim: SimProcess | None = None

    def __enter__(self) -> Stack:
        self.bus.start()
        try:
            if self.broker is not None:
                self.broker.start()
            self.sim = start_sim_process(self.bus.address, self.tmp / "bluezsim.log")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sim is not None:
            stop_process(self.sim.proc)
            self.sim = None
        if self.broker is not None:
            self.broker.stop()
        self.bus.stop()

    @property
    def address(self) -> str:
        return self.bus.address

    @property
    def mqtt(self) -> Mosquitto:
        if self.broker is None:
            raise RuntimeError("this stack has no broker")
        return self.broker

    def _sim_call(self, method: str, *args: Any) -> Any:
        async def go() -> Any:
            ctl = await SimClient.connect(self.address)
            try:
                return await getattr(ctl, method)(*args)
            finally:
                ctl.close()

        return asyncio.run(go())

    def synthetic(self, devices: int, count: int, rate: float) -> None:
        """Start a synthetic stream (random static addresses, always-changing content)."""
        self._sim_call("synthetic", devices, count, rate)

    def sim_stats(self) -> dict[str, int]:
        stats: dict[str, int] = self._sim_call("stats")
        return stats

    def delivered(self) -> int:
        """Adverts the simulated radio delivered to bluetoothd's clients so far."""
        return self.sim_stats()["adverts_delivered"]

    def wait_stream_done(self, target: int, timeout: float) -> None:
        """Wait until the simulator has delivered ``target`` adverts in all and is idle."""
        wait_until(
            f"the simulator to deliver {target} adverts",
            lambda: (s := self.sim_stats())["adverts_delivered"] >= target and not s["playing"],
            timeout,
            every=0.1,
        )


class TopicCounter:
    """Counts messages on ``topic_filter`` of ``broker`` (QoS 1) with ``mosquitto_sub``;
    ready (subscribed) once the constructor returns."""

    def __init__(self, broker: Mosquitto, topic_filter: str, timeout: float = 10.0) -> None:
        sub = find_binary("mosquitto_sub", "mosquitto-clients")
        pub = find_binary("mosquitto_pub", "mosquitto-clients")
        marker = f"bench-marker/{uuid.uuid4().hex}"
        where = ["-h", broker.host, "-p", str(broker.port)]
        self._proc = subprocess.Popen(
            [sub, *where, "-q", "1", "-t", topic_filter, "-t", marker, "-F", "%t"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._marker = marker.encode()
        self._ready = threading.Event()
        self.count = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):  # the subscription is live once our marker comes back
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto_sub on {topic_filter} did not come up")
            subprocess.run([pub, *where, "-q", "1", "-t", marker, "-n"], check=False)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.rstrip(b"\n") == self._marker:
                self._ready.set()
            else:
                self.count += 1

    def stop(self) -> None:
        stop_process(self._proc)
        self._thread.join(5)
