"""The alert shell against real PostgreSQL and Mosquitto: alerts stored with their history,
restored after a restart without firing again, delivered on the retained MQTT topic and to a
webhook that fails twice, counted in the metrics; and the real subscriber process alerting."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg

from bt_mqtt.subscriber.alertconfig import (
    AlertsConfig,
    ScannerOfflineRule,
    ThresholdRule,
    WebhookConfig,
)
from bt_mqtt.subscriber.alertdeliver import alert_topic
from bt_mqtt.subscriber.alertservice import AlertEngine, AlertService
from bt_mqtt.subscriber.config import SubscriberConfig, load_config
from bt_mqtt.subscriber.metrics import Metrics, render
from bt_mqtt.subscriber.migrate import migrate
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import read_retained
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import publish_raw, start_subscriber, stop, write_config

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def scanner(url: str, sid: str, status: str, since: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO scanners (scanner_id, status, status_since, first_seen, last_seen) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scanner_id) DO UPDATE SET "
            "status = EXCLUDED.status, status_since = EXCLUDED.status_since",
            (sid, status, since, since, since),
        )


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_engine_stores_history_and_survives_a_restart(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    scanner(pg_database, "garden", "offline", T0 - timedelta(seconds=400))
    cfg = AlertsConfig()

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            eng = AlertEngine(cfg, T0 - timedelta(hours=1))
            await eng.restore(conn)
            [s] = await eng.evaluate(conn, T0)
            assert (s.transition.kind, s.transition.state) == ("scanner_offline", "firing")
            assert await eng.evaluate(conn, T0 + timedelta(seconds=10)) == []
            # a restart: a new engine restores the firing alert and does not fire it again
            again = AlertEngine(cfg, T0)
            assert len(await again.restore(conn)) == 1
            assert await again.evaluate(conn, T0 + timedelta(seconds=20)) == []
            scanner(pg_database, "garden", "online", T0 + timedelta(seconds=30))
            assert await again.evaluate(conn, T0 + timedelta(seconds=30)) == []  # clear hold
            [r] = await again.evaluate(conn, T0 + timedelta(seconds=160))
            assert r.transition.state == "resolved" and r.alert_id == s.alert_id

    asyncio.run(go())
    [(kind, subject, state, fired, resolved)] = rows(
        pg_database, "SELECT kind, subject, state, fired_at, resolved_at FROM alerts"
    )
    assert (kind, subject, state) == ("scanner_offline", "garden", "resolved")
    assert (fired, resolved) == (T0, T0 + timedelta(seconds=160))
    events = rows(pg_database, "SELECT event FROM alert_events ORDER BY id")
    assert [e for (e,) in events] == ["fired", "resolved"]


def device(url: str, mac: str, readings: dict[str, float], at: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen, parser, last_readings, "
            "last_readings_at, updated_at) VALUES (%s, %s, %s, 'bthome', %s, %s, %s) "
            "ON CONFLICT (mac) DO UPDATE SET last_readings = EXCLUDED.last_readings, "
            "last_readings_at = EXCLUDED.last_readings_at, updated_at = EXCLUDED.updated_at",
            (mac, at, at, json.dumps(readings), at, at),
        )


def test_pending_and_battery_levels_survive_a_restart(pg_database: str) -> None:
    """A condition pending when the evaluator restarts fires when it would have fired without
    the restart (and only once, also across a later restart); a battery replaced while the
    evaluator was down is still seen."""
    migrate({"conninfo": pg_database})
    freezer = ThresholdRule("freezer_warm", "temperature_c", -15.0)  # above, for_s 600
    cfg = attrs.evolve(AlertsConfig(), thresholds=[freezer])
    fz, remote = "A4:C1:38:00:00:01", "A4:C1:38:00:00:02"

    async def engine(conn: psycopg.AsyncConnection[Any], started: datetime) -> AlertEngine:
        eng = AlertEngine(cfg, started)
        await eng.restore(conn)
        return eng

    async def go() -> list[tuple[float, str, str]]:
        fired: list[tuple[float, str, str]] = []

        async def step(eng: AlertEngine, t: float) -> None:
            now = T0 + timedelta(seconds=t)
            device(pg_database, fz, {"temperature_c": -10.0}, now)
            device(pg_database, remote, {"battery_pct": 12.0 if t < 400 else 95.0}, now)
            for s in await eng.evaluate(conn, now):
                fired.append((t, s.transition.kind, s.transition.state))

        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            await conn.execute(  # pending for a rule since removed from the configuration
                "INSERT INTO alert_pending (kind, subject, since, message) "
                "VALUES ('old_rule', 'x', %s, 'm')",
                (T0,),
            )
            eng = await engine(conn, T0 - timedelta(hours=1))
            for t in range(0, 300, 10):  # warm since 0 s: pending, and the battery at 12 %
                await step(eng, t)
            pending = await (await conn.execute("SELECT kind, since FROM alert_pending")).fetchall()
            assert sorted(pending) == [("battery_low", T0), ("freezer_warm", T0)]
            del eng  # the subscriber stops at 300 s and starts again at 420 s, battery new
            eng = await engine(conn, T0 + timedelta(seconds=420))
            for t in range(420, 800, 10):
                await step(eng, t)
            eng = await engine(conn, T0 + timedelta(seconds=800))  # restarted once more
            for t in range(800, 900, 10):
                await step(eng, t)
        return fired

    fired = asyncio.run(go())
    assert (600.0, "freezer_warm", "firing") in [(float(t), k, s) for t, k, s in fired]
    assert [f for f in fired if f[1] == "freezer_warm"] == [(600, "freezer_warm", "firing")]
    assert [f for f in fired if f[1] == "battery_replaced"] == [(420, "battery_replaced", "firing")]
    assert [f for f in fired if f[1] == "battery_low"] == []  # replaced before its 600 s
    assert rows(pg_database, "SELECT kind FROM alert_pending") == []
    assert rows(pg_database, "SELECT mac, level FROM alert_battery") == [(remote, 95.0)]


def test_service_restarted_mid_pending_fires_on_time_and_once(
    pg_database: str, mosquitto: Broker
) -> None:
    """The real service (its own connections, the retained topic) is stopped while a threshold
    alert is pending and started again: the alert fires ``for_s`` after the condition began,
    not ``for_s`` after the restart, and a third start does not fire it again."""
    migrate({"conninfo": pg_database})
    fz = "A4:C1:38:00:00:07"
    device(pg_database, fz, {"temperature_c": -10.0}, datetime.now(UTC))
    for_s = 4.0
    alerts = AlertsConfig(
        interval_s=0.2,
        thresholds=[ThresholdRule("freezer_warm", "temperature_c", -15.0, for_s=for_s)],
    )
    base = SubscriberConfig()
    cfg = attrs.evolve(
        base, mqtt=attrs.evolve(base.mqtt, host=mosquitto.host, port=mosquitto.port), alerts=alerts
    )

    async def run_for(seconds: float, until_fired: bool = False) -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(AlertService(cfg, {"conninfo": pg_database}).run(stop))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if until_fired and rows(pg_database, "SELECT id FROM alerts"):
                break
        stop.set()
        await task

    asyncio.run(run_for(1.5))  # pending, then the subscriber stops
    [(since,)] = rows(pg_database, "SELECT since FROM alert_pending")
    assert rows(pg_database, "SELECT id FROM alerts") == []
    time.sleep(1.0)  # down for a second
    restarted = datetime.now(UTC)
    asyncio.run(run_for(10.0, until_fired=True))
    [(fired_at,)] = rows(pg_database, "SELECT fired_at FROM alerts WHERE kind = 'freezer_warm'")
    assert for_s <= (fired_at - since).total_seconds() <= for_s + 1.5  # on time ...
    assert (fired_at - restarted).total_seconds() < for_s - 0.5  # ... not for_s after restart
    assert rows(pg_database, "SELECT kind FROM alert_pending") == []
    asyncio.run(run_for(1.0))  # started once more: it does not fire again
    events = rows(pg_database, "SELECT event FROM alert_events ORDER BY id")
    assert [e for (e,) in events] == ["fired"]
    retained = read_retained(mosquitto, alert_topic("bt-mqtt", "freezer_warm", fz))
    assert retained is not None and json.loads(retained)["state"] == "firing"


class Hook:
    """A local HTTP server (HTTPS with ``tls``): answers 503 to the first ``fail`` requests,
    then 204."""

    def __init__(self, fail: int, tls: ssl.SSLContext | None = None) -> None:
        self.fail = fail
        self.tls = tls
        self.bodies: list[dict[str, Any]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            body = await r.readexactly(length)
            self.bodies.append(json.loads(body))
            code = b"503 Busy" if len(self.bodies) <= self.fail else b"204 No Content"
            w.write(b"HTTP/1.1 " + code + b"\r\nContent-Length: 0\r\n\r\n")
            await w.drain()
            w.close()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self.tls)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            async with server:
                await server.serve_forever()

        self._task = self._loop.create_task(main())
        self._loop.run_forever()

    def __enter__(self) -> Hook:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_service_delivers_on_mqtt_and_webhook_with_retries(
    pg_database: str, mosquitto: Broker
) -> None:
    migrate({"conninfo": pg_database})
    now = datetime.now(UTC)
    scanner(pg_database, "garden", "offline", now - timedelta(seconds=30))
    with Hook(fail=2) as hook:
        alerts = AlertsConfig(
            interval_s=0.2,
            scanner_offline=ScannerOfflineRule(after_s=0),
            webhook=WebhookConfig(url=f"http://127.0.0.1:{hook.port}/hook", retry_s=0.05),
        )
        base = SubscriberConfig()
        cfg = attrs.evolve(
            base,
            mqtt=attrs.evolve(base.mqtt, host=mosquitto.host, port=mosquitto.port),
            alerts=alerts,
        )
        metrics = Metrics()

        async def go() -> None:
            stop = asyncio.Event()
            svc = AlertService(cfg, {"conninfo": pg_database}, metrics=metrics)
            task = asyncio.ensure_future(svc.run(stop))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and metrics.alert_webhook_sent < 1:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # one more evaluation writes the delivery events
            stop.set()
            await task

        asyncio.run(go())
        assert [b["state"] for b in hook.bodies] == ["firing"] * 3
    retained = read_retained(mosquitto, alert_topic("bt-mqtt", "scanner_offline", "garden"))
    assert retained is not None
    body = json.loads(retained)
    assert body["state"] == "firing" and body["kind"] == "scanner_offline"
    assert body["subject"] == "garden" and body["since"].endswith("Z")
    assert body == hook.bodies[-1]
    events = [e for (e,) in rows(pg_database, "SELECT event FROM alert_events ORDER BY id")]
    assert events == ["fired", "webhook_failed", "webhook_failed", "webhook_delivered"]
    text = render(metrics)
    assert 'btmqtt_subscriber_alerts_firing{kind="scanner_offline"} 1' in text
    assert 'btmqtt_subscriber_alerts_fired_total{kind="scanner_offline"} 1' in text
    assert "btmqtt_subscriber_alert_webhook_failures_total 2" in text


def test_subscriber_process_alerts_a_scanner_that_went_offline(
    tmp_path: Path, pg_database: str, mosquitto: Broker
) -> None:
    config = write_config(
        tmp_path / "sub.yaml",
        mosquitto.port,
        pg_database,
        alerts={"interval_s": 0.5, "scanner_offline": {"after_s": 1}},
    )
    assert load_config(config).alerts.scanner_offline.after_s == 1
    proc = start_subscriber(config, tmp_path / "sub.log")
    try:
        publish_raw(
            mosquitto.port,
            "bt-mqtt/scanner/garden/status",
            b'{"status": "online", "interval_s": 60}',
            retain=True,
        )
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/garden/status", b'{"status": "offline"}', retain=True
        )
        topic = alert_topic("bt-mqtt", "scanner_offline", "garden")
        wait_until(
            lambda: read_retained(mosquitto, topic, timeout=2) is not None,
            "the retained alert",
            30,
            proc=proc,
            log=tmp_path / "sub.log",
        )
        body = json.loads(read_retained(mosquitto, topic) or b"{}")
        assert body["state"] == "firing"
        assert rows(pg_database, "SELECT kind, subject, state FROM alerts") == [
            ("scanner_offline", "garden", "firing")
        ]
    finally:
        assert stop(proc) == 0
    log = (tmp_path / "sub.log").read_text()
    assert '"event": "alert_firing"' in log or '"event":"alert_firing"' in log
