"""The ``run`` loop: MQTT in, batches committed to PostgreSQL, PUBACK only after the commit.

gmqtt runs with ``optimistic_acknowledgement=False`` and ``receiver.FastPublish`` as its PUBLISH
handler: each message joins a chunk together with its PUBACK packet, and nothing is
acknowledged on arrival.  The writer takes a chunk when it holds ``batch_size`` messages or
``batch_ms`` after its first message, has the planner process decode, parse and encode it,
writes it in one transaction and only then sends the chunk's PUBACKs, in one write, on the
connection that delivered them (a chunk never spans two connections; after a reconnect the
broker delivers the unacknowledged messages again, and those copies are acknowledged).  Planning
the next chunk overlaps the commit of the previous one; with HA discovery on, each plan's short
summary (``heard``) goes to the bridge as soon as it is planned.  While the database is down the
writer retries the same plan with capped exponential backoff and acknowledges nothing; the broker
stops sending after ``receive_maximum`` unacknowledged messages and keeps the rest in our persistent
session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import gmqtt
import psycopg

from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.topics import Topics, shared
from bt_mqtt.subscriber import history, receiver
from bt_mqtt.subscriber.batch import BatchPlan, Parses
from bt_mqtt.subscriber.chunks import MERGE_CHUNKS, Chunk, ChunkQueue
from bt_mqtt.subscriber.clock import TimeTrust
from bt_mqtt.subscriber.config import SubscriberConfig, bindkeys
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.heard import Heard
from bt_mqtt.subscriber.metrics import Metrics
from bt_mqtt.subscriber.planner import Planner
from bt_mqtt.subscriber.privacy import Privacy
from bt_mqtt.subscriber.retention import rollup_keep_from
from bt_mqtt.subscriber.store import DatabaseUnavailable, Store, Transition

log = logging.getLogger(__name__)

MAX_REJECT_LOGS_PER_BATCH = 5
BUDGET_EVERY_S = 300.0  # how often the storage budget in the metrics is refreshed


def subscriptions(cfg: SubscriberConfig) -> list[str]:
    """The topic filters to subscribe to (with ``$share/<group>/`` when a group is set)."""
    group = cfg.mqtt.share_group or None
    return [shared(group, f) for f in Topics(cfg.mqtt.topic_prefix).ingest_filters()]


class Ingest:
    """One subscriber process: an MQTT session, a database connection, the batch writer."""

    def __init__(
        self,
        cfg: SubscriberConfig,
        conninfo: dict[str, Any],
        registry: Parses,
        *,
        mqtt_password: str | None = None,
        metrics: Metrics | None = None,
        privacy: Privacy | None = None,
        on_heard: Callable[[Heard], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._on_heard = on_heard
        self.metrics = metrics or Metrics()
        self.registry = registry
        self.planner = Planner(
            prefix=cfg.mqtt.topic_prefix,
            registry=registry,
            bindkeys=bindkeys(cfg),
            plugins=cfg.parsers.plugins,
            theengs=cfg.parsers.theengs,
            workers=cfg.ingest.plan_workers,
            max_bytes=cfg.ingest.max_payload_bytes,
            skew_s=cfg.ingest.clock_skew_s,
            privacy=privacy,
            log=(cfg.log.level, cfg.log.format),
            trust=TimeTrust(cfg.ingest.clock_max_ahead_s, cfg.ingest.clock_max_delay_s),
            devices=Devices(cfg.devices),
            heard=on_heard is not None,
        )
        self.store = Store(
            conninfo,
            keep_days=max(cfg.retention.raw_days, cfg.readings_days, cfg.rejected_days),
            future_days=cfg.retention.future_days,
            timeout_s=cfg.database.statement_timeout_s,
        )
        self._password = mqtt_password
        self._next_budget = 0.0
        self._next_rollup = 0.0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._client: gmqtt.Client | None = None
        self._stopping = False
        self._max_held = cfg.ingest.max_pending_bytes
        self.queue = ChunkQueue(
            batch_size=cfg.ingest.batch_size,
            chunk_bytes=max(self._max_held // 4, cfg.ingest.max_payload_bytes),
            max_payload=cfg.ingest.max_payload_bytes,
            merge_limit=min(MERGE_CHUNKS * cfg.ingest.batch_size, cfg.mqtt.receive_maximum // 3),
        )
        self._paused: Any = None  # the connection whose reading we paused

    # -- MQTT side -------------------------------------------------------------------------

    def _build_client(self) -> gmqtt.Client:
        m = self.cfg.mqtt
        client = build_client(
            m,
            m.client_id,
            password=self._password,
            clean_session=False,
            optimistic_acks=False,
            session_expiry_s=m.session_expiry_s,
            receive_maximum=m.receive_maximum,
        )
        receiver.install(client, self._on_publish)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        topics = subscriptions(self.cfg)
        client.subscribe([gmqtt.Subscription(t, qos=1) for t in topics])
        log.info(
            "connected to broker, subscribed to %s (session present: %s)",
            ", ".join(topics),
            bool(flags),
            extra={"event": "mqtt_connected"},
        )

    def _on_disconnect(self, client: gmqtt.Client, packet: Any, exc: Any = None) -> None:
        if self._stopping:
            log.info("disconnected from broker", extra={"event": "mqtt_closed"})
        else:
            log.warning(
                "disconnected from broker; reconnecting", extra={"event": "mqtt_disconnected"}
            )

    def _on_publish(self, topic: str, payload: bytes, ack: bytes | None, connection: Any) -> None:
        """One message from the broker (see ``receiver``): queue it, wake the writer, and stop
        reading while too many payload bytes wait for the database."""
        queue = self.queue
        queue.add(topic, payload, ack, connection, time.monotonic(), time.time())
        m = self.metrics
        m.received += 1
        m.pending += 1
        m.pending_bytes = queue.held
        if queue.held > self._max_held and receiver.pause_reading(connection):
            if self._paused is None:
                m.read_pauses += 1
                log.info(
                    "%d payload bytes waiting for the database; reading paused",
                    queue.held,
                    extra={"event": "reading_paused"},
                )
            self._paused = connection
        self._arrived.set()
        if queue.head_complete:
            self._full.set()

    # -- database side ---------------------------------------------------------------------

    async def _connect_db(self, stop: asyncio.Event) -> bool:
        delay = 0.2
        while not stop.is_set():
            try:
                await self.store.connect()
                await self.store.prepare_partitions()
                return True
            except (DatabaseUnavailable, psycopg.Error) as exc:
                self.metrics.db_errors += 1
                log.warning(
                    "database unavailable, retrying in %.1fs: %s",
                    delay,
                    exc,
                    extra={"event": "db_unavailable"},
                )
                await self.store.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.cfg.ingest.db_retry_cap_s)
        return False

    async def _take(self, stop: asyncio.Event) -> Chunk | None:
        """The next chunk, once full or old enough; None when stopping with nothing queued."""
        queue = self.queue
        while not len(queue):
            if stop.is_set():
                return None
            self._arrived.clear()
            waiter = asyncio.ensure_future(self._arrived.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when wait_for() cancels us: leave no waiting task behind
                waiter.cancel()
                stopper.cancel()
        head = queue.head
        assert head is not None
        deadline = head.first_at + self.cfg.ingest.batch_ms / 1000
        while not queue.head_complete and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), left)
        return queue.take()

    async def _commit(self, chunk: Chunk, plan: BatchPlan, stop: asyncio.Event) -> bool:
        """Write one planned chunk, retrying until committed; False if stopped first."""
        delay = 0.2
        while True:
            if not self.store.connected and not await self._connect_db(stop):
                return False
            started = time.perf_counter()
            try:
                res = await self.store.write(plan, datetime.now(UTC), chunk.source)
                break
            except (DatabaseUnavailable, psycopg.Error) as exc:
                self.metrics.db_errors += 1
                log.warning(
                    "batch of %d not written, retrying in %.1fs: %s",
                    len(chunk.topics),
                    delay,
                    exc,
                    extra={"event": "db_write_failed"},
                )
                if not isinstance(exc, DatabaseUnavailable):
                    await self.store.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return False
                delay = min(delay * 2, self.cfg.ingest.db_retry_cap_s)
        m = self.metrics
        m.batch_latency.observe(time.perf_counter() - started)
        m.batches += 1
        m.archived += res.archived
        m.redelivered += res.redelivered
        m.duplicates += plan.duplicates
        m.readings += res.readings
        m.heartbeats += res.heartbeats
        m.ignored += plan.ignored + res.repeated
        m.clock_skew += plan.skewed
        m.escaped += plan.escaped
        m.pseudonymised += plan.pseudonymised
        m.privacy_dropped += sum(plan.privacy_dropped.values())
        m.parsed.update(res.parsed)  # adverts newly stored: redeliveries are not counted again
        m.parse_failed.update(res.parse_failed)
        m.untrusted_time += plan.untrusted
        m.pending -= len(chunk.topics)
        self._release(chunk)
        for r in plan.rejected:
            m.rejected[r.reason] += 1
        if res.rejected > len(plan.rejected):  # adverts PostgreSQL refused (see Store.write)
            m.rejected["db_rejected"] += res.rejected - len(plan.rejected)
        for r in plan.rejected[:MAX_REJECT_LOGS_PER_BATCH]:
            log.warning(
                "rejected message on %s: %s: %s",
                r.topic,
                r.reason,
                r.detail[:200],
                extra={"event": "message_rejected", "reason": r.reason, "topic": r.topic},
            )
        self._log_transitions(res.transitions)
        if self._client is not None and not receiver.send_acks(
            self._client, chunk.connection, bytes(chunk.acks)
        ):
            log.info(
                "%d committed messages not acknowledged: their connection is gone "
                "(the broker delivers them again; they are stored once)",
                len(chunk.acks) // 4,
                extra={"event": "acks_dropped"},
            )
        return True

    def _hand_over(self, heard: Heard) -> None:
        """Give the batch's parse results to the HA bridge (``on_heard``); its failure is
        logged, never the ingest's."""
        assert self._on_heard is not None
        try:
            self._on_heard(heard)
        except Exception:
            log.exception("the HA bridge failed on a batch", extra={"event": "ha_failed"})

    def _release(self, chunk: Chunk) -> None:
        """A committed chunk's bytes are no longer held: resume reading below half the bound."""
        self.queue.release(chunk)
        self.metrics.pending_bytes = self.queue.held
        if self._paused is not None and self.queue.held <= self._max_held // 2:
            receiver.resume_reading(self._paused)
            self._paused = None
            log.info("reading resumed", extra={"event": "reading_resumed"})

    def _log_transitions(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self.metrics.transitions += 1
            log.info(
                "scanner %s is %s (was %s; %s)",
                t.scanner_id,
                t.to_status,
                t.from_status,
                t.reason,
                extra={
                    "event": "scanner_transition",
                    "scanner_id": t.scanner_id,
                    "from": t.from_status,
                    "to": t.to_status,
                    "reason": t.reason,
                },
            )

    async def _sweep(self) -> None:
        try:
            gone = await self.store.sweep_offline(
                datetime.now(UTC), self.cfg.ingest.missed_heartbeats
            )
        except (DatabaseUnavailable, psycopg.Error) as exc:
            self.metrics.db_errors += 1
            log.warning("offline sweep failed: %s", exc, extra={"event": "db_write_failed"})
            return
        self._log_transitions(gone)
        try:
            self.metrics.loss = await self.store.loss()
        except (DatabaseUnavailable, psycopg.Error) as exc:
            self.metrics.db_errors += 1
            log.warning("loss query failed: %s", exc, extra={"event": "db_write_failed"})
        if time.monotonic() >= self._next_rollup:
            self._next_rollup = time.monotonic() + self.cfg.ingest.rollup_s
            try:
                done = await self.store.roll_up(rollup_keep_from(self.cfg, datetime.now(UTC)))
                if done >= history.RUN_LIMIT:  # more waiting: again at the next sweep
                    self._next_rollup = 0.0
            except (DatabaseUnavailable, psycopg.Error) as exc:
                self.metrics.db_errors += 1
                log.warning("rollup job failed: %s", exc, extra={"event": "rollup_failed"})
        if time.monotonic() >= self._next_budget:
            self._next_budget = time.monotonic() + BUDGET_EVERY_S
            try:
                self.metrics.storage = await self.store.storage_budget()
            except (DatabaseUnavailable, psycopg.Error) as exc:
                log.warning("storage budget failed: %s", exc, extra={"event": "budget_failed"})

    async def _writer(self, stop: asyncio.Event) -> None:
        """Take, plan and commit chunks in order; planning the next chunk overlaps the commit
        of the previous one (the database works while Python plans)."""
        next_sweep = 0.0
        flush_left: int | None = None  # chunks still to write after stop was set
        writing: asyncio.Task[bool] | None = None
        try:
            while True:
                if stop.is_set():
                    if flush_left is None:
                        flush_left = len(self.queue)
                    if flush_left <= 0:
                        return
                    flush_left -= 1
                if time.monotonic() >= next_sweep:
                    if writing is not None:
                        ok = await writing
                        writing = None
                        if not ok:
                            return
                    if self.store.connected:
                        await self._sweep()
                    next_sweep = time.monotonic() + self.cfg.ingest.sweep_s
                try:
                    chunk = await asyncio.wait_for(self._take(stop), self.cfg.ingest.sweep_s)
                except TimeoutError:
                    if self._on_heard is not None:
                        held = await self.planner.flush_heard()
                        if held:
                            self._hand_over(held)
                    if writing is not None and writing.done():
                        if not writing.result():
                            return
                        writing = None
                    continue
                if chunk is None:
                    return
                plan = await self.planner.plan(
                    chunk.topics, chunk.payloads, chunk.received, chunk.oversize
                )
                if plan.heard and self._on_heard is not None:
                    self._hand_over(plan.heard)
                if writing is not None and not await writing:
                    return
                writing = asyncio.ensure_future(self._commit(chunk, plan, stop))
        finally:
            if writing is not None:
                await writing

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; queued chunks are flushed if the database is up."""
        if not await self._connect_db(stop):
            return
        await self.planner.warm_up()
        client = self._build_client()
        self._client = client
        if not await connect_with_backoff(client, self.cfg.mqtt, stop=stop):
            await self.store.close()
            self.planner.close()
            return
        log.info("subscriber running", extra={"event": "started"})
        try:
            await self._writer(stop)
        finally:
            self._stopping = True
            with contextlib.suppress(Exception):
                await client.disconnect()
            await self.store.close()
            self.planner.close()
            log.info("subscriber stopped", extra={"event": "stopped"})
