"""The alert loop: the thin asyncio shell around ``alertrules`` and ``alertcore``.

``AlertEngine.evaluate(conn, now)`` is one evaluation (facts from the database, rules,
lifecycle, transitions recorded); tests call it with a driven clock.  ``AlertService.run`` runs
it every ``alerts.interval_s`` beside the ingest, on its own database connection and its own
MQTT client (``<mqtt.client_id>-alerts``, clean session), and delivers each transition: the
retained MQTT topic (the latest state per topic is kept while the broker is unreachable and
sent on reconnect), the webhook (retried with doubling delays; every attempt recorded in
``alert_events``), the log and the metrics.  Only the subscriber holding the alert lock
evaluates; another one waits as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import gmqtt
import psycopg

from bt_mqtt.core.mqttclient import connect_with_backoff
from bt_mqtt.subscriber import alertfacts, alertstore
from bt_mqtt.subscriber.alertconfig import AlertsConfig, enabled_kinds, webhook_tls
from bt_mqtt.subscriber.alertcore import FIRING, Key, Lifecycle, Track, Transition
from bt_mqtt.subscriber.alertdeliver import HttpError, alert_message, alert_topic, encode, post_json
from bt_mqtt.subscriber.alerteval import Evaluator
from bt_mqtt.subscriber.alertloss import LossWindow
from bt_mqtt.subscriber.alertstore import Stored
from bt_mqtt.subscriber.config import SubscriberConfig
from bt_mqtt.subscriber.metrics import Metrics

log = logging.getLogger(__name__)


class AlertEngine:
    """An ``Evaluator`` reading its facts from, and recording its transitions in, the
    database."""

    def __init__(self, cfg: AlertsConfig, started: datetime) -> None:
        self.cfg = cfg
        self.evaluator = Evaluator(cfg, started)
        self._rolled: datetime | None = None
        self.loss = LossWindow(cfg.transit_loss.window_s)
        self._saved_pending: dict[Key, datetime] = {}  # as in alert_pending
        self._saved_battery: dict[str, tuple[float, datetime | None]] = {}  # as in alert_battery

    @property
    def lifecycle(self) -> Lifecycle:
        return self.evaluator.lifecycle

    async def restore(self, conn: psycopg.AsyncConnection[Any]) -> list[alertstore.FiringRow]:
        """Load the firing alerts (after a start or a reconnect; they will not fire again), the
        pending conditions of the rules still configured (the others' rows go at the next save)
        and the battery levels."""
        rows = await alertstore.load_firing(conn)
        self.lifecycle.tracks.clear()
        for r in rows:
            self.lifecycle.restore(r.kind, r.subject, r.fired_at, r.message, r.value)
        pending, battery = await alertstore.load_state(conn)
        self._saved_pending = {}
        kinds = enabled_kinds(self.cfg)
        for p in pending:
            if p.kind in kinds and (p.kind, p.subject) not in self.lifecycle.tracks:
                self.lifecycle.tracks[(p.kind, p.subject)] = Track(
                    False, p.since, p.message, p.value, p.detail
                )
            self._saved_pending[(p.kind, p.subject)] = p.since
        rules = self.evaluator.rules
        rules.battery.clear()
        rules.replaced_at.clear()
        for b in battery:
            rules.battery[b.mac] = b.level
            if b.replaced_at is not None:
                rules.replaced_at[b.mac] = b.replaced_at
        self._saved_battery = {b.mac: (b.level, b.replaced_at) for b in battery}
        return rows

    async def _save_state(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Save the pending conditions and battery levels that changed since the last save."""
        pending = {k: t for k, t in self.lifecycle.tracks.items() if not t.firing}
        new = [
            alertstore.Pending(k[0], k[1], t.since, t.message, t.value, t.detail)
            for k, t in pending.items()
            if self._saved_pending.get(k) != t.since
        ]
        gone = [k for k in self._saved_pending if k not in pending]
        rules = self.evaluator.rules
        battery = {m: (v, rules.replaced_at.get(m)) for m, v in rules.battery.items()}
        changed = [
            alertstore.Battery(m, v, at)
            for m, (v, at) in battery.items()
            if self._saved_battery.get(m) != (v, at)
        ]
        if not (new or gone or changed):
            return
        await alertstore.save_state(conn, new, gone, changed)
        self._saved_pending = {k: t.since for k, t in pending.items()}
        self._saved_battery = battery

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> list[Stored]:
        """One evaluation at ``now``; the transitions recorded."""
        bucket = alertfacts.bucket_start(now)
        if self._rolled is None or bucket > self._rolled:
            await alertfacts.rollup(conn, now)
            self._rolled = bucket
        scanners = await alertfacts.scanner_facts(conn, now, self.loss)
        estimates: dict[str, float] = {}
        if self.evaluator.intervals_due(now):
            s = self.cfg.sensor_silent
            estimates = await alertfacts.intervals(conn, now, s.lookback_s, s.min_adverts)
        devices = await alertfacts.device_facts(conn, now, estimates)
        transitions = self.evaluator.judge(scanners, devices, now)
        stored = await alertstore.record(conn, transitions) if transitions else []
        await self._save_state(conn)
        return stored


class AlertService:
    """Runs the engine beside the ingest and delivers what it finds."""

    def __init__(
        self,
        cfg: SubscriberConfig,
        conninfo: dict[str, Any],
        *,
        metrics: Metrics | None = None,
        mqtt_password: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cfg = cfg
        self.acfg = cfg.alerts
        self.conninfo = {**conninfo, "application_name": "bt-mqtt-subscriber-alerts"}
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.engine = AlertEngine(cfg.alerts, clock())
        self._password = mqtt_password
        self._client: gmqtt.Client | None = None
        self._outbox: dict[str, bytes] = {}  # topic -> latest retained message, not yet sent
        self._webhook: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._deliveries: list[tuple[int, datetime, str, dict[str, Any]]] = []

    # -- MQTT ------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes) -> None:
        self._outbox[topic] = payload
        self._flush()

    def _flush(self, *_: Any) -> None:
        client = self._client
        if client is None or not client.is_connected:
            return
        while self._outbox:
            topic, payload = self._outbox.popitem()
            client.publish(topic, payload, qos=1, retain=True)

    async def _connect_mqtt(self, stop: asyncio.Event) -> None:
        m = self.cfg.mqtt
        client = gmqtt.Client(
            self.acfg.mqtt_client_id or f"{m.client_id}-alerts", clean_session=True
        )
        if m.username is not None:
            client.set_auth_credentials(m.username, self._password)
        client.on_connect = lambda *a: self._flush()
        self._client = client
        if await connect_with_backoff(client, m, stop=stop):
            self._flush()

    # -- delivery --------------------------------------------------------------------------

    def _deliver(self, stored: list[Stored]) -> None:
        prefix = self.cfg.mqtt.topic_prefix
        for s in stored:
            t = s.transition
            body = alert_message(t, s.alert_id)
            payload = encode(body)
            self._publish(alert_topic(prefix, t.kind, t.subject), payload)
            if self.acfg.webhook.url is not None:
                self._webhook.put_nowait((s.alert_id, payload))
            self._count(t)
            log.log(
                logging.WARNING if t.state == FIRING else logging.INFO,
                "alert %s %s/%s: %s",
                t.state,
                t.kind,
                t.subject,
                t.message,
                extra={
                    "event": f"alert_{t.state}",
                    "kind": t.kind,
                    "subject": t.subject,
                    "alert_id": s.alert_id,
                },
            )

    def _count(self, t: Transition) -> None:
        m = self.metrics
        if t.state == FIRING:
            m.alerts_fired[t.kind] += 1
        else:
            m.alerts_resolved[t.kind] += 1
        m.alerts_firing = Counter(k for k, _ in self.engine.lifecycle.firing())

    async def _webhook_worker(self, stop: asyncio.Event) -> None:
        w = self.acfg.webhook
        assert w.url is not None
        tls = webhook_tls(w) if w.url.startswith("https://") else None
        while not stop.is_set():
            get = asyncio.ensure_future(self._webhook.get())
            halt = asyncio.ensure_future(stop.wait())
            await asyncio.wait({get, halt}, return_when=asyncio.FIRST_COMPLETED)
            halt.cancel()
            if not get.done():
                get.cancel()
                return
            alert_id, payload = get.result()
            delay = w.retry_s
            for attempt in range(1, w.attempts + 1):
                try:
                    status = await post_json(
                        w.url, payload, headers=w.headers, timeout_s=w.timeout_s, tls=tls
                    )
                except HttpError as exc:
                    self.metrics.alert_webhook_failures += 1
                    self._deliveries.append(
                        (
                            alert_id,
                            self.clock(),
                            "webhook_failed",
                            {"attempt": attempt, "error": str(exc)},
                        )
                    )
                    log.warning(
                        "alert webhook attempt %d of %d failed: %s",
                        attempt,
                        w.attempts,
                        exc,
                        extra={"event": "alert_webhook_failed", "alert_id": alert_id},
                    )
                    if attempt == w.attempts:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    if stop.is_set():
                        return
                    delay *= 2
                    continue
                self.metrics.alert_webhook_sent += 1
                self._deliveries.append(
                    (
                        alert_id,
                        self.clock(),
                        "webhook_delivered",
                        {"attempt": attempt, "status": status},
                    )
                )
                break

    # -- the loop --------------------------------------------------------------------------

    async def _open(self, stop: asyncio.Event) -> psycopg.AsyncConnection[Any] | None:
        """A connection holding the alert lock (waits as a standby while another has it)."""
        delay = 0.5
        while not stop.is_set():
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
                await conn.execute("SET TimeZone = 'UTC'")
                await conn.execute("SET jit = off")
                if await alertstore.try_lock(conn):
                    rows = await self.engine.restore(conn)
                    self.metrics.alerts_firing = Counter(r.kind for r in rows)
                    for r in rows:  # the broker may have lost them: the state again, retained
                        t = Transition(
                            r.kind,
                            r.subject,
                            FIRING,
                            r.fired_at,
                            r.fired_at,
                            r.message,
                            r.value,
                            {},
                        )
                        body = alert_message(t, r.alert_id)
                        self._publish(
                            alert_topic(self.cfg.mqtt.topic_prefix, r.kind, r.subject), encode(body)
                        )
                    log.info(
                        "evaluating alerts (%d firing)",
                        len(rows),
                        extra={"event": "alerts_started", "firing": len(rows)},
                    )
                    return conn
                log.info(
                    "another subscriber evaluates alerts; standing by",
                    extra={"event": "alerts_standby"},
                )
                await conn.close()
                delay = self.acfg.interval_s * 3
            except psycopg.Error as exc:
                log.warning(
                    "alerts: database unavailable: %s", exc, extra={"event": "db_unavailable"}
                )
                if conn is not None:
                    await conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every ``interval_s`` until ``stop``."""
        workers = [asyncio.ensure_future(self._connect_mqtt(stop))]
        if self.acfg.webhook.url is not None:
            workers.append(asyncio.ensure_future(self._webhook_worker(stop)))
        conn = None
        loop = asyncio.get_running_loop()
        tick = loop.time()
        try:
            while not stop.is_set():
                if conn is None:
                    conn = await self._open(stop)
                    if conn is None:
                        break
                try:
                    await self._write_deliveries(conn)
                    stored = await self.engine.evaluate(conn, self.clock())
                    self._deliver(stored)
                except psycopg.Error as exc:
                    self.metrics.db_errors += 1
                    log.warning(
                        "alert evaluation failed: %s", exc, extra={"event": "alerts_failed"}
                    )
                    await conn.close()
                    conn = None
                # a fixed cadence (the rules fire at the last evaluation before a limit and
                # count on the next one coming ``interval_s`` later, not later still)
                tick = max(tick + self.acfg.interval_s, loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick - loop.time())
        finally:
            for w in workers:
                w.cancel()
            for w in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await w
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    await self._write_deliveries(conn)
                await conn.close()
            if self._client is not None:
                with contextlib.suppress(Exception):
                    await self._client.disconnect()

    async def _write_deliveries(self, conn: psycopg.AsyncConnection[Any]) -> None:
        todo, self._deliveries = self._deliveries, []
        for alert_id, at, event, detail in todo:
            await alertstore.delivery(conn, alert_id, at, event, detail)
