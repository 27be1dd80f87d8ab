"""An independent MQTT observer for the demo: counts what the broker delivered per scanner."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import gmqtt

from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.topics import RAW, STATUS

log = logging.getLogger(__name__)


class Witness:
    """Subscribes (QoS 1) to every raw and status topic; ``keep`` stores each distinct advert."""

    def __init__(self, cfg: MqttConfig, *, keep: bool = False) -> None:
        self.cfg = cfg
        self.keep = keep
        self.messages: list[dict[str, Any]] = []
        self.raw: Counter[str] = Counter()
        self.ids: set[tuple[str, str, int]] = set()
        self.status: dict[str, dict[str, Any]] = {}
        self._topics = cfg.topics()
        self._client: gmqtt.Client = build_client(cfg, "bt-mqtt-demo-witness")
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        client.subscribe([gmqtt.Subscription(f, qos=1) for f in self._topics.ingest_filters()])

    def _on_message(
        self, client: gmqtt.Client, topic: str, payload: bytes, qos: int, props: Any
    ) -> int:
        route = self._topics.classify(topic)
        if route is None or route.scanner_id is None:
            log.warning("unexpected topic %s", topic)
        elif route.kind == RAW:
            try:
                msg = json.loads(payload)
                ident = (str(msg["scanner_id"]), str(msg["boot"]), int(msg["seq"]))
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable advert on %s", topic)
                return 0
            if ident not in self.ids:
                self.ids.add(ident)
                self.raw[route.scanner_id] += 1
                if self.keep:
                    self.messages.append(msg)
        elif route.kind == STATUS:
            try:
                self.status[route.scanner_id] = json.loads(payload)
            except ValueError:
                log.warning("unreadable status on %s", topic)
        return 0

    async def start(self) -> None:
        await connect_with_backoff(self._client, self.cfg)

    async def stop(self) -> None:
        await self._client.disconnect()

    @property
    def total(self) -> int:
        return sum(self.raw.values())
