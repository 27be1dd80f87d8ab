"""The ``run`` loop: MQTT in, batches committed to PostgreSQL, PUBACK only after the commit.

gmqtt runs with ``optimistic_acknowledgement=False``: for a QoS 1 message it calls our async
``on_message`` and sends the PUBACK when that coroutine returns (MQTT 5).  Each message joins a
chunk; the writer takes a chunk when it holds ``batch_size`` messages or ``batch_ms`` after its
first message, plans it (pure), writes it in one transaction and then resolves the chunk's
future, which returns every waiting ``on_message`` and so sends the PUBACKs.  While the database
is down the writer retries the same plan with capped exponential backoff and acknowledges
nothing; the broker stops sending after ``receive_maximum`` unacknowledged messages and keeps
the rest in our persistent session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import gmqtt
import psycopg
from attrs import define, field

from bt_mqtt.core.mqttclient import connect_with_backoff
from bt_mqtt.subscriber.batch import BatchPlan, Incoming, Parses
from bt_mqtt.subscriber.config import SubscriberConfig, bindkeys
from bt_mqtt.subscriber.metrics import Metrics
from bt_mqtt.subscriber.planner import Planner
from bt_mqtt.subscriber.store import DatabaseUnavailable, Store, Transition

log = logging.getLogger(__name__)

MAX_REJECT_LOGS_PER_BATCH = 5


@define(slots=True, eq=False)
class Chunk:
    """Messages that will be written (and acknowledged) together."""

    future: asyncio.Future[int]
    first_at: float
    messages: list[Incoming] = field(factory=list)
    sealed: bool = False


def subscriptions(cfg: SubscriberConfig) -> list[str]:
    """The topic filters to subscribe to (with ``$share/<group>/`` when a group is set)."""
    prefix = cfg.mqtt.topic_prefix
    topics = [f"{prefix}/raw/+", f"{prefix}/scanner/+/status"]
    if cfg.mqtt.share_group:
        topics = [f"$share/{cfg.mqtt.share_group}/{t}" for t in topics]
    return topics


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
    ) -> None:
        self.cfg = cfg
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
        )
        self.store = Store(
            conninfo,
            keep_days=max(cfg.retention.raw_days, cfg.readings_days, cfg.rejected_days),
            future_days=cfg.retention.future_days,
        )
        self._password = mqtt_password
        self._chunks: deque[Chunk] = deque()
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._client: gmqtt.Client | None = None
        self._now_t = 0.0
        self._stopping = False
        self._generation = 0
        self._never: asyncio.Future[int] | None = None  # made in run(); never resolved
        self._now = datetime.now(UTC)

    # -- MQTT side -------------------------------------------------------------------------

    def _build_client(self) -> gmqtt.Client:
        m = self.cfg.mqtt
        client = gmqtt.Client(
            m.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=m.session_expiry_s,
            receive_maximum=m.receive_maximum,
        )
        if m.username is not None:
            client.set_auth_credentials(m.username, self._password)
        client.on_message = self._on_message
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        self._generation += 1
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

    async def _on_message(
        self, client: gmqtt.Client, topic: str, payload: bytes, qos: int, props: Any
    ) -> int:
        self.metrics.received += 1
        generation = self._generation
        chunks = self._chunks
        if (
            not chunks
            or chunks[-1].sealed
            or len(chunks[-1].messages) >= self.cfg.ingest.batch_size
        ):
            chunk = Chunk(asyncio.get_running_loop().create_future(), time.monotonic())
            chunks.append(chunk)
        else:
            chunk = chunks[-1]
        t = time.time()
        if t - self._now_t >= 0.001:  # datetime.now per message costs more than parsing it
            self._now_t, self._now = t, datetime.fromtimestamp(t, UTC)
        chunk.messages.append(Incoming(topic, payload, self._now))
        self.metrics.pending += 1
        self._arrived.set()
        if len(chunks[0].messages) >= self.cfg.ingest.batch_size:
            self._full.set()
        code = await chunk.future
        if generation != self._generation:
            # Received on a connection that has since dropped: its packet id belongs to that
            # connection, and the broker has already redelivered the message on the new one
            # (where that copy is acknowledged).  Never acknowledge this copy, or the PUBACK
            # could hit a new message that reuses the id before it is committed.
            assert self._never is not None
            await self._never
        return code

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
        while not self._chunks:
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
        chunk = self._chunks[0]
        deadline = chunk.first_at + self.cfg.ingest.batch_ms / 1000
        while len(chunk.messages) < self.cfg.ingest.batch_size and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), left)
        chunk.sealed = True
        self._chunks.popleft()
        return chunk

    async def _commit(self, chunk: Chunk, plan: BatchPlan, stop: asyncio.Event) -> bool:
        """Write one planned chunk, retrying until committed; False if stopped first."""
        delay = 0.2
        while True:
            if not self.store.connected and not await self._connect_db(stop):
                return False
            started = time.perf_counter()
            try:
                res = await self.store.write(plan, datetime.now(UTC))
                break
            except (DatabaseUnavailable, psycopg.Error) as exc:
                self.metrics.db_errors += 1
                log.warning(
                    "batch of %d not written, retrying in %.1fs: %s",
                    len(chunk.messages),
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
        m.ignored += plan.ignored
        m.clock_skew += plan.skewed
        m.parsed.update(plan.parsed)
        m.pending -= len(chunk.messages)
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
        self._log_transitions(self.store.transitions)
        chunk.future.set_result(0)
        return True

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
                        flush_left = len(self._chunks)
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
                    if writing is not None and writing.done():
                        if not writing.result():
                            return
                        writing = None
                    continue
                if chunk is None:
                    return
                plan = await self.planner.plan(chunk.messages)
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
        self._never = asyncio.get_running_loop().create_future()
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
