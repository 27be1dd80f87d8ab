"""One agent process: wires backend -> pipeline -> publisher, heartbeat and watchdog together.

``Agent.run`` returns the exit code: 0 after SIGTERM/SIGINT or when a finite replay ends,
``EXIT_WATCHDOG`` when the watchdog gives up, 1 when the backend fails for good.  On the way
out it stops scanning, publishes the retained offline status and disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import TYPE_CHECKING

import attrs

from bt_mqtt.agent import heartbeat
from bt_mqtt.agent.backends import make_backend
from bt_mqtt.agent.backends.base import Backend
from bt_mqtt.agent.backends.replay import ReplayBackend
from bt_mqtt.agent.config import AgentConfig
from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.agent.pipeline import Pipeline, new_boot_id
from bt_mqtt.agent.publisher import FLUSH_DELAY_S, Publisher
from bt_mqtt.agent.watchdog import EXIT_WATCHDOG, Watchdog, run_watchdog
from bt_mqtt.core import status
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.version import VERSION

if TYPE_CHECKING:
    from bt_mqtt.agent.cmdshell import CommandService

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BACKEND_FAILED = 1
_DRAIN_AT_END_S = 5.0
_STARTUP_CONNECT_WAIT_S = 5.0


class Agent:
    """Everything one agent process runs."""

    def __init__(
        self,
        cfg: AgentConfig,
        *,
        password: str | None = None,
        backend: Backend | None = None,
        state_file: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.boot = new_boot_id()
        d = cfg.dedup
        self.pipeline = Pipeline(
            cfg.scanner_id,
            self.boot,
            Filter(cfg.filters),
            Dedup(d.window_s, d.max_interval_s, d.max_entries),
        )
        self.backend = backend if backend is not None else make_backend(cfg.bluetooth)
        self.publisher = Publisher(
            cfg.mqtt,
            cfg.scanner_id,
            self.boot,
            password=password,
            spool_messages=cfg.spool.max_messages,
            spool_bytes=cfg.spool.max_bytes,
        )
        if getattr(self.backend, "batch_interval_s", 0.0) >= FLUSH_DELAY_S:
            self.publisher.flush_delay_s = 0.0  # one write right after each batch of adverts
        if isinstance(self.backend, ReplayBackend) and self.backend.speed == 0:
            self.backend.throttle = self.publisher.wait_room
        self.start_mono = time.monotonic()
        self.watchdog = Watchdog(cfg.bluetooth.watchdog_s, self.start_mono)
        proc = heartbeat.read_process()
        self.heartbeat = heartbeat.HeartbeatBuilder(
            scanner_id=cfg.scanner_id,
            boot=self.boot,
            version=VERSION,
            hostname=heartbeat.hostname(),
            start_mono=self.start_mono,
            start_cpu_s=proc.cpu_s,
            interval_s=cfg.heartbeat.interval_s,
        )
        self.sink_errors = 0
        self.stop = asyncio.Event()
        self.exit_code = EXIT_OK
        self.exit_reason: str | None = None
        self.commands: CommandService | None = None
        if cfg.commands.enabled:  # the command path is loaded only when enabled
            from bt_mqtt.agent.cmdshell import CommandService  # noqa: PLC0415

            self.commands = CommandService(self, state_file or cfg.commands.state_file)

    def request_exit(self, code: int, reason: str) -> None:
        """Stop the agent and exit with ``code`` (a command asked for it)."""
        log.warning("exiting (%s) with code %d", reason, code, extra={"event": "agent_exit"})
        self.exit_code = code
        self.exit_reason = reason
        self.stop.set()

    def sink(self, advert: Advert) -> None:
        """Called by the backend for every advertisement (the hot path)."""
        pub = self.publisher
        try:
            # a seq only for what the publisher is sure to take: written, or kept in its spool
            payload = self.pipeline.offer(
                advert, time.monotonic(), time.time(), pub.online, pub.spool.room
            )
            if payload is not None and not pub.publish_raw(payload):
                self.pipeline.publish_failed()
        except Exception:
            self.sink_errors += 1
            if self.sink_errors <= 10:
                log.exception("cannot handle advert from %s", getattr(advert, "mac", "?"))

    def heartbeat_payload(self) -> bytes:
        """The current heartbeat, encoded."""
        return status.encode(self.heartbeat_status())

    def heartbeat_status(self) -> status.Status:
        """The current heartbeat (rates since the previous one)."""
        now = time.monotonic()
        extra: dict[str, int] = {
            k: v for k, v in attrs.asdict(self.backend.stats).items() if isinstance(v, int)
        }
        extra.update(self.watchdog.counters())
        extra["dedup_evictions"] = self.pipeline.dedup.evictions
        extra["sink_errors"] = self.sink_errors
        extra["mqtt_connects"] = self.publisher.connects
        extra["mqtt_disconnects"] = self.publisher.disconnects
        extra["spooled"] = self.publisher.spooled
        extra["requeued"] = self.publisher.requeued
        if self.commands is not None:
            extra.update(self.commands.counters())
        return self.heartbeat.build(
            now_mono=now,
            now_wall=time.time(),
            counters=self.pipeline.counters,
            extra_counters=extra,
            adapter=self.backend.adapter_state(),
            proc=heartbeat.read_process(),
            last_advert_mono=self.pipeline.last_advert_mono,
            devices_seen=self.pipeline.dedup.devices_since(now - self.cfg.heartbeat.interval_s),
            devices_tracked=len(self.pipeline.dedup),
            last_seq=self.pipeline.seq,
            spool=self.publisher.spool_stats(),
        )

    def _watchdog_exit(self) -> None:
        log.error(
            "no advertisements despite restarting discovery and power-cycling the adapter; "
            "exiting so the service manager restarts the agent",
            extra={"event": "watchdog_exit"},
        )
        self.exit_code = EXIT_WATCHDOG
        self.stop.set()

    async def run(self) -> int:
        """Run until a signal, the end of a finite source, or the watchdog's last step."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        log.info(
            "agent %s starting (boot %s, backend %s)",
            self.cfg.scanner_id,
            self.boot,
            self.cfg.bluetooth.backend,
            extra={"event": "agent_start", "boot": self.boot, "version": VERSION},
        )
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(self.publisher.connect(self.stop), name="mqtt-connect"),
            asyncio.create_task(
                heartbeat.run_heartbeat(
                    self.cfg.heartbeat.interval_s,
                    self.heartbeat_payload,
                    self.publisher.publish_status,
                    self.publisher.connect_signal,
                ),
                name="heartbeat",
            ),
        ]
        if self.cfg.bluetooth.watchdog_s > 0:
            tasks.append(
                asyncio.create_task(
                    run_watchdog(
                        self.watchdog,
                        self.backend,
                        lambda: self.pipeline.last_advert_mono,
                        self._watchdog_exit,
                    ),
                    name="watchdog",
                )
            )
        # give the broker a moment before scanning so the first adverts are not dropped offline
        stopper = asyncio.create_task(self.stop.wait(), name="stop")
        if not self.publisher.online:
            await asyncio.wait(
                {tasks[0], stopper},
                timeout=_STARTUP_CONNECT_WAIT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        scan = asyncio.create_task(self.backend.run(self.sink), name="backend")
        await asyncio.wait({scan, stopper}, return_when=asyncio.FIRST_COMPLETED)
        reason = "shutdown"
        if scan.done():
            exc = scan.exception()
            if exc is not None:
                log.error(
                    "scanning failed: %s", exc, exc_info=exc, extra={"event": "backend_failed"}
                )
                self.exit_code = EXIT_BACKEND_FAILED
                reason = "backend failed"
            else:
                log.info("advertisement source ended", extra={"event": "source_ended"})
                reason = "source ended"
                await self.publisher.drain(_DRAIN_AT_END_S)
        elif self.exit_code == EXIT_WATCHDOG:
            reason = "watchdog"
        elif self.exit_reason is not None:
            reason = self.exit_reason
        await self._shutdown([scan, stopper, *tasks], reason)
        return self.exit_code

    async def _shutdown(self, tasks: list[asyncio.Task[object]], reason: str) -> None:
        for t in tasks:  # the backend first: stop scanning
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.publisher.online:  # the spool first, so the final status says what went out
            await self.publisher.drain(_DRAIN_AT_END_S)
        # the retained offline status carries the final heartbeat's figures
        final = attrs.evolve(self.heartbeat_status(), status=status.OFFLINE, reason=reason)
        await self.publisher.close(status.encode(final))
        c = self.pipeline.counters
        log.info(
            "agent stopped (%s): received %d, published %d (last seq %d), deduplicated %d, "
            "filtered %d, dropped offline %d, dropped backlog %d",
            reason,
            c.received,
            c.published,
            self.pipeline.seq,
            c.deduplicated,
            c.filtered,
            c.dropped_offline,
            c.dropped_backlog,
            extra={"event": "agent_stop", "exit_code": self.exit_code},
        )
