"""What the subscriber benchmarks share: their own Mosquitto and durable PostgreSQL cluster, a
subscriber configuration for them, the schema, the advert stream, and CPU readings from /proc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrs import define

from tests.fixtures.mosquitto import Broker
from tests.fixtures.postgres import PgCluster, destroy_cluster, make_cluster
from tests.fixtures.procs import free_port
from tests.subscriber.harness import write_config
from tests.subscriber.streams import Msg, stream

TICK = os.sysconf("SC_CLK_TCK")
SCANNERS = ("p1", "p2", "p3", "p4")
DEVICES = 1000


@define
class Services:
    """A scratch folder, a running broker and cluster, the database and a metrics port."""

    work: Path
    broker: Broker
    cluster: PgCluster
    db: str
    metrics_port: int

    def config(self, name: str, **extra: Any) -> Path:
        """A subscriber configuration for these services (50 ms batches, metrics on)."""
        return write_config(
            self.work / name,
            self.broker.port,
            self.db,
            metrics={"port": self.metrics_port},
            ingest={"batch_ms": 50},
            client_id="bench-subscriber",
            **extra,
        )


@contextmanager
def services(prefix: str) -> Iterator[Services]:
    """Start the broker and cluster; stop and remove everything afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    broker = Broker(work / "mosquitto")
    broker.start()
    cluster = make_cluster(durable=True)
    cluster.start()
    try:
        yield Services(work, broker, cluster, cluster.create_database("bench"), free_port())
    finally:
        broker.stop()
        destroy_cluster(cluster)
        shutil.rmtree(work, ignore_errors=True)


def migrate(cfg: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "migrate"],
        check=True,
        capture_output=True,
    )


def adverts(n: int) -> list[Msg]:
    """``n`` adverts of ``DEVICES`` devices heard by ``SCANNERS`` (boot ``boot0001``)."""
    return list(stream(n, scanners=SCANNERS, n_devices=DEVICES))


def with_boot(msgs: list[Msg], number: int) -> list[Msg]:
    """The same adverts from a new boot of their scanners: nothing is a duplicate."""
    boot = f'"boot{number:04d}"'.encode()
    return [
        Msg(m.topic, m.payload.replace(b'"boot0001"', boot), m.mac, m.scanner_id, m.seq)
        for m in msgs
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out
