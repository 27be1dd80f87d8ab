"""Running the HA bridge in tests: on its own thread, fed through a real broker.

The subscriber hands the bridge each batch the planner made; here a small feeder does the same
without a database: it reads the raw adverts from the broker and plans each one with the real
``plan_chunk`` (parsers, device settings, parser hints) before ``Bridge.feed``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from typing import Any

import gmqtt

from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import Topics
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import plan_chunk
from bt_mqtt.subscriber.config import SubscriberConfig, SubscriberMqttConfig, bindkeys
from bt_mqtt.subscriber.devicesettings import Devices, DeviceSettings, apply_hints
from bt_mqtt.subscriber.hass.bridge import Bridge
from bt_mqtt.subscriber.hass.config import HomeAssistantConfig
from bt_mqtt.subscriber.heard import Heard
from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import require_binary

SCANNER = "livingroom"


class RunningBridge:
    """The bridge on its own thread and event loop."""

    def __init__(self, cfg: SubscriberConfig) -> None:
        self.cfg = cfg
        self.bridge = Bridge(cfg, mqtt_password=None)
        self.registry = Registry.default(plugins=False)
        self.devices = Devices(cfg.devices)
        self.ctx = apply_hints(ParseContext(bindkeys=bindkeys(cfg)), self.devices)
        self.topics = Topics(cfg.mqtt.topic_prefix)
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _plan(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        heard = Heard()
        plan_chunk(
            [topic],
            [payload],
            [time.time()],
            self.topics,
            self.registry,
            self.ctx,
            max_bytes=self.cfg.ingest.max_payload_bytes,
            skew_s=self.cfg.ingest.clock_skew_s,
            devices=self.devices,
            heard=heard,
        )
        if heard:
            self.bridge.feed(heard)
        return 0

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            feeder = gmqtt.Client(f"hass-feeder-{time.time_ns()}")
            subscribed = asyncio.Event()
            feeder.on_message = self._plan
            feeder.on_subscribe = lambda *a: subscribed.set()
            await feeder.connect(self.cfg.mqtt.host, self.cfg.mqtt.port)
            feeder.subscribe(self.topics.raw_filter(), qos=1)
            await asyncio.wait_for(subscribed.wait(), 30)
            try:
                await self.bridge.run(self.stop_event)
            finally:
                await feeder.disconnect()

        self.loop.run_until_complete(main())

    def stop(self) -> None:
        while self.stop_event is None:
            time.sleep(0.01)
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.loop.close()


def config(broker: Broker, **devices: DeviceSettings) -> SubscriberConfig:
    return SubscriberConfig(
        mqtt=SubscriberMqttConfig(host=broker.host, port=broker.port),
        homeassistant=HomeAssistantConfig(discovery=True, min_interval_s=0, birth_delay_s=1),
        devices=dict(devices),
    )


def publish(broker: Broker, topic: str, payload: bytes, retain: bool = False) -> None:
    exe = require_binary("mosquitto_pub", "mosquitto-clients")
    argv = [exe, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", topic, "-s"]
    if retain:
        argv.append("-r")
    subprocess.run(argv, input=payload, check=True, timeout=30)


def advert(broker: Broker, adv: Advert, seq: int) -> None:
    """One advert from ``SCANNER`` (boot ``boot1``)."""
    ts = wire.format_ts(time.time())
    publish(broker, f"bt-mqtt/raw/{SCANNER}", wire.encode(adv, SCANNER, "boot1", seq, ts))


def heartbeat(broker: Broker, **fields: Any) -> None:
    body = {
        "status": "online",
        "scanner_id": SCANNER,
        "boot": "boot1",
        "version": "0.1.0",
        "received_per_s": 12.5,
        "published_per_s": 3.0,
        "last_advert_age_s": 0.4,
        "cpu_pct": 7.5,
        "rss_mb": 31.2,
        "devices_seen": 4,
        "interval_s": 60,
    }
    body.update(fields)
    publish(broker, f"bt-mqtt/scanner/{SCANNER}/status", json.dumps(body).encode(), retain=True)
