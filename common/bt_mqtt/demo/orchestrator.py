"""The demo orchestrator: every part of BT-MQTT on one machine, on free ports, no hardware.

Starts, in ``directory``: Mosquitto, a PostgreSQL cluster (migrated), the subscriber, and one
agent per scanner on the ``bluez`` backend against a BlueZ simulator on its own private
dbus-daemon (or on the ``replay`` backend when dbus-daemon is missing).  The scenario's events
are fed to the simulators in real time; one scanner is killed midway so its last will marks it
offline.  ``run`` returns the summary; every process it started is stopped on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import yaml
from attrs import define, field

from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.topics import DEFAULT_HA_PREFIX
from bt_mqtt.core.wire import advert_fields
from bt_mqtt.demo import scenario, scratch
from bt_mqtt.demo.services import (
    DBusDaemon,
    MissingBinary,
    Mosquitto,
    PostgresCluster,
    find_binary,
    spawn,
)
from bt_mqtt.demo.summary import (
    archived_count,
    database_summary,
    ha_summary,
    missing_identities,
    wait_archived,
)
from bt_mqtt.demo.witness import Witness

log = logging.getLogger(__name__)

DATABASE = "btmqtt"
# as root the cluster lives in a scratch folder under /tmp ('postgres' cannot enter root's home)
PG_SCRATCH_PREFIX = "bt-mqtt-demo-pg-"
OFFLINE_SCANNER = scenario.SCANNERS[-1]
HEARTBEAT_S = 5
PROGRESS_EVERY_S = 10.0


@define
class DemoOptions:
    """What the command line chose."""

    directory: Path
    seconds: float | None = None
    console: bool = True
    seed: int = 7
    offline_at: float | None = None
    backend: str = "auto"  # auto | bluez | replay
    homeassistant: bool = False  # HA discovery on (the summary says how soon devices appeared)


@define
class Scanner:
    """One simulated scanner: its bus and simulator (bluez backend) and its agent process."""

    scanner_id: str
    config: Path
    bus: DBusDaemon | None = None
    sim: Any = None
    proc: subprocess.Popen[bytes] | None = None


@define
class Demo:
    """One run of the demo; use ``await Demo(opts).run()``."""

    opts: DemoOptions
    mosquitto: Mosquitto | None = None
    postgres: PostgresCluster | None = None
    subscriber: subprocess.Popen[bytes] | None = None
    scanners: dict[str, Scanner] = field(factory=dict)
    witness: Witness | None = None
    keep_messages: bool = False
    pg_tmp: Path | None = None
    backend: str = "bluez"
    db_url: str | None = None
    subscriber_config: Path | None = None
    fed: int = 0
    last_rssi: dict[tuple[str, str], int] = field(factory=dict)

    # -- processes -------------------------------------------------------------------------
    def _spawn(
        self, argv: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return spawn(argv, self.opts.directory / log_name, env)

    @staticmethod
    def _exe(name: str) -> str:
        """A BT-MQTT console script from this Python's environment."""
        beside = Path(sys.executable).parent / name
        return str(beside) if beside.exists() else (shutil.which(name) or name)

    def _write_yaml(self, name: str, data: dict[str, Any]) -> Path:
        path = self.opts.directory / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    # -- stages ----------------------------------------------------------------------------
    def _init_database(self) -> PostgresCluster:
        where = self.opts.directory / "postgres"
        if os.geteuid() == 0:  # the server runs as 'postgres', which cannot enter root's home
            scratch.sweep(PG_SCRATCH_PREFIX)  # left by a demo killed with kill -9
            self.pg_tmp = where = scratch.make(PG_SCRATCH_PREFIX)
        cluster = PostgresCluster(where)
        cluster.init()
        return cluster

    async def _start_database(self) -> str:
        self.postgres = await asyncio.to_thread(self._init_database)
        # started from the main thread: the server's death signal follows the starting thread
        self.postgres.start()
        return await asyncio.to_thread(self.postgres.create_database, DATABASE)

    def _subscriber_config(self, broker: Mosquitto, db_url: str) -> Path:
        return self._write_yaml(
            "subscriber.yaml",
            {
                "mqtt": {
                    "host": broker.host,
                    "port": broker.port,
                    "client_id": "bt-mqtt-demo-subscriber",
                },
                "database": {"url": db_url},
                "parsers": {"bindkeys": {scenario.DEMO_BINDKEY_MAC: scenario.DEMO_BINDKEY.hex()}},
                # a short run shows the killed scanner's alert: offline for 2 s, not 5 minutes
                "alerts": {"interval_s": 1.0, "scanner_offline": {"after_s": 2.0}},
                "homeassistant": {"discovery": self.opts.homeassistant},
                "log": {"level": "info", "format": "json"},
            },
        )

    async def _wait_subscribed(self, timeout_s: float = 60.0) -> None:
        """Agents start only once the subscriber's session exists, so no advert is missed."""
        path = self.opts.directory / "subscriber.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if path.exists() and '"event": "mqtt_connected"' in path.read_text(errors="replace"):
                return
            if self.subscriber is not None and self.subscriber.poll() is not None:
                tail = path.read_text(errors="replace")[-1500:] if path.exists() else ""
                raise RuntimeError(f"the subscriber exited; see {path}:\n{tail}")
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the subscriber did not subscribe within {timeout_s:.0f}s; see {path}")

    def _agent_config(self, sid: str, broker: Mosquitto, backend: str) -> Path:
        bluetooth: dict[str, Any] = {"backend": backend, "adapter": "hci0", "mode": "passive"}
        if backend == "replay":
            bluetooth["replay"] = {"file": str(self._replay_file(sid)), "speed": 1.0, "loop": True}
        return self._write_yaml(
            f"agent-{sid}.yaml",
            {
                "scanner_id": sid,
                "mqtt": {"host": broker.host, "port": broker.port},
                "bluetooth": bluetooth,
                "heartbeat": {"interval_s": HEARTBEAT_S},
                "log": {"level": "info", "format": "text"},
            },
        )

    def _replay_file(self, sid: str, span_s: float = 600.0) -> Path:
        path = self.opts.directory / f"replay-{sid}.jsonl"
        devices = scenario.build_devices(self.opts.seed)
        with open(path, "w", encoding="utf-8") as fh:
            for ev in scenario.events(devices, self.opts.seed):
                if ev.t > span_s:
                    break
                if ev.scanner_id == sid:
                    fh.write(json.dumps({"t": round(ev.t, 3), **advert_fields(ev.advert)}) + "\n")
        return path

    async def _start_scanner(self, sid: str, broker: Mosquitto, backend: str) -> Scanner:
        sc = Scanner(sid, self._agent_config(sid, broker, backend))
        env = dict(os.environ)
        if backend == "bluez":
            from bt_mqtt.bluezsim.sim import BluezSim  # noqa: PLC0415 - needs dbus-fast

            sc.bus = DBusDaemon(self.opts.directory / f"dbus-{sid}")
            sc.bus.start()
            sc.sim = BluezSim(sc.bus.address)
            await sc.sim.start()
            env["DBUS_SYSTEM_BUS_ADDRESS"] = sc.bus.address
        sc.proc = self._spawn(
            [self._exe("bt-mqtt-agent"), "--config", str(sc.config)], f"agent-{sid}.log", env
        )
        return sc

    def _choose_backend(self) -> str:
        if self.opts.backend != "auto":
            return self.opts.backend
        try:
            find_binary("dbus-daemon", "dbus-daemon")
        except MissingBinary:
            log.warning("dbus-daemon is missing: agents use the replay backend instead")
            return "replay"
        return "bluez"

    async def play(self, until: float | None) -> None:
        """Play the scenario into the simulators in real time; kill one agent midway."""
        devices = scenario.build_devices(self.opts.seed)
        offline_at = self._offline_at()
        start = time.monotonic()
        killed = False
        for ev in scenario.events(devices, self.opts.seed):
            if until is not None and ev.t >= until:
                break
            delay = start + ev.t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not killed and ev.t >= offline_at:
                killed = True
                self._kill_agent(OFFLINE_SCANNER)
            sc = self.scanners.get(ev.scanner_id)
            if sc is None or sc.sim is None:
                continue
            if sc.sim.advertise(dict(advert_fields(ev.advert))):
                self.fed += 1
                self.last_rssi[(ev.scanner_id, ev.advert.mac)] = ev.advert.rssi
        if until is not None:
            await asyncio.sleep(max(0.0, start + until - time.monotonic()))

    def _kill_agent(self, sid: str) -> None:
        sc = self.scanners.get(sid)
        if sc is not None and sc.proc is not None and sc.proc.poll() is None:
            log.info("scanner %s goes offline now (its agent is killed with SIGKILL)", sid)
            sc.proc.kill()
            sc.proc.wait()

    async def _stop_agents(self) -> None:
        for sc in self.scanners.values():
            if sc.proc is not None and sc.proc.poll() is None:
                sc.proc.send_signal(signal.SIGTERM)
        for sc in self.scanners.values():
            if sc.proc is not None:
                try:
                    await asyncio.to_thread(sc.proc.wait, 15)
                except subprocess.TimeoutExpired:
                    sc.proc.kill()

    # -- the whole run ---------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        """Start everything, play the scenario (with the console, if chosen), stop; the summary."""
        try:
            await self.start()
            until = self.opts.seconds
            log.info(
                "playing the scenario (%d devices) %s; scanner %s goes offline at %.0f s",
                len(scenario.build_devices(self.opts.seed)),
                f"for {until:.0f} s" if until else "until the console is closed",
                OFFLINE_SCANNER,
                self._offline_at(),
            )
            feeding = asyncio.create_task(self.play(until))
            ticker = asyncio.create_task(self._report_progress(time.monotonic()))
            try:
                if self.opts.console:
                    await self._with_console(feeding)
                else:
                    await feeding
            finally:
                ticker.cancel()
            return await self.collect()
        finally:
            log.info("stopping every part")
            await self.shutdown()

    def _offline_at(self) -> float:
        if self.opts.offline_at is not None:
            return self.opts.offline_at
        return (self.opts.seconds / 2) if self.opts.seconds else 120.0

    async def _report_progress(self, start: float) -> None:
        """Every few seconds: how far the run is, and what each stage has handled so far."""
        every = PROGRESS_EVERY_S if not self.opts.seconds else min(10.0, self.opts.seconds / 3)
        while True:
            await asyncio.sleep(every)
            try:
                archived: int | str = await asyncio.to_thread(archived_count, self.db_url or "")
            except psycopg.Error as exc:
                archived = f"? ({exc.__class__.__name__})"
            total = f" of {self.opts.seconds:.0f}" if self.opts.seconds else ""
            log.info(
                "%3.0f s%s: %d adverts fed to the radios, %d published, %s archived",
                time.monotonic() - start,
                total,
                self.fed,
                self.witness.total if self.witness else 0,
                archived,
            )

    async def start(self) -> None:
        """Broker, database (migrated), subscriber, then the simulated scanners and agents."""
        self.opts.directory.mkdir(parents=True, exist_ok=True)
        log.info("state folder %s (every part's log is there)", self.opts.directory)
        self.backend = self._choose_backend()
        broker = self.mosquitto = Mosquitto(self.opts.directory / "mosquitto")
        broker.start()
        log.info("Mosquitto listening on %s:%s", broker.host, broker.port)
        log.info("creating a PostgreSQL cluster (initdb, a few seconds)")
        self.db_url = await self._start_database()
        log.info("PostgreSQL ready: %s", self.db_url)
        self.subscriber_config = self._subscriber_config(broker, self.db_url)
        migrate = subprocess.run(
            [self._exe("bt-mqtt-subscriber"), "--config", str(self.subscriber_config), "migrate"],
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrations failed: {migrate.stderr.strip()}")
        log.info("schema migrated; starting the subscriber")
        self.subscriber = self._spawn(
            [self._exe("bt-mqtt-subscriber"), "--config", str(self.subscriber_config), "run"],
            "subscriber.log",
        )
        await self._wait_subscribed()
        self.witness = Witness(
            MqttConfig(host=broker.host, port=broker.port),
            keep=self.keep_messages,
            ha_prefix=DEFAULT_HA_PREFIX if self.opts.homeassistant else None,
        )
        await self.witness.start()
        for sid in scenario.SCANNERS:
            self.scanners[sid] = await self._start_scanner(sid, broker, self.backend)
        how = (
            "simulated BlueZ on a private D-Bus each"
            if self.backend == "bluez"
            else "replay files (dbus-daemon is missing)"
        )
        log.info(
            "subscriber subscribed; %d scanners started (%s): %s",
            len(self.scanners),
            how,
            ", ".join(self.scanners),
        )

    async def _with_console(self, feeding: asyncio.Task[None]) -> None:
        console = await asyncio.create_subprocess_exec(
            self._exe("bt-mqtt-console"),
            "--config",
            str(self.subscriber_config),
            "--log-file",
            str(self.opts.directory / "console.log"),
        )
        waiter = asyncio.create_task(console.wait())
        await asyncio.wait({feeding, waiter}, return_when=asyncio.FIRST_COMPLETED)
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        if console.returncode is None:
            console.terminate()
            await console.wait()

    async def collect(self) -> dict[str, Any]:
        """Wait until everything published is archived; the summary of the run."""
        if self.witness is None or self.db_url is None:
            raise RuntimeError("the demo has not started")
        await asyncio.sleep(1.0)  # the last adverts reach the broker and the witness
        published = self.witness.total
        log.info("scenario over; waiting until all %d published adverts are archived", published)
        archived = await wait_archived(self.db_url, published)
        summary = await asyncio.to_thread(database_summary, self.db_url)
        if self.opts.homeassistant:
            summary["homeassistant"] = await asyncio.to_thread(
                ha_summary, self.db_url, self.witness.first_heard, self.witness.first_announced
            )
        if archived != published:
            missing = await asyncio.to_thread(missing_identities, self.db_url, self.witness.ids)
            path = self.opts.directory / "missing.json"
            path.write_text(json.dumps(missing))
            log.error(
                "demo: %d published adverts are not archived (listed in %s)", len(missing), path
            )
        return {
            "seconds": self.opts.seconds,
            "backend": self.backend,
            "adverts_fed_to_radios": self.fed,
            "adverts_published": published,
            "published_per_scanner": dict(sorted(self.witness.raw.items())),
            "all_archived": archived == published,
            **summary,
            "directory": str(self.opts.directory),
        }

    async def shutdown(self) -> None:
        """Stop every process and service this run started (safe to call twice)."""
        await self._stop_agents()
        if self.witness is not None:
            with contextlib.suppress(Exception):
                await self.witness.stop()
        if self.subscriber is not None and self.subscriber.poll() is None:
            self.subscriber.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.subscriber.wait, 15)
            except subprocess.TimeoutExpired:
                self.subscriber.kill()
        for sc in self.scanners.values():
            if sc.sim is not None:
                with contextlib.suppress(Exception):
                    await sc.sim.stop()
            if sc.bus is not None:
                sc.bus.stop()
        if self.postgres is not None:
            with contextlib.suppress(RuntimeError):
                self.postgres.stop()
        if self.mosquitto is not None:
            self.mosquitto.stop()
        if self.pg_tmp is not None:
            shutil.rmtree(self.pg_tmp, ignore_errors=True)
