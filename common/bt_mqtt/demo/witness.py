"""An independent MQTT observer for the demo: counts what the broker delivered per scanner, and
(with Home Assistant discovery on) when each device was first heard and first announced to HA."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import gmqtt

from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.topics import RAW, STATUS, Topics

log = logging.getLogger(__name__)


class Witness:
    """Subscribes (QoS 1) to every raw and status topic; ``keep`` stores each distinct advert.
    With ``ha_prefix``, also to the HA discovery configs: ``first_heard`` (MAC -> Unix time of
    its first advert) and ``first_announced`` (12 hex digits -> time of its first config)."""

    def __init__(
        self, cfg: MqttConfig, *, keep: bool = False, ha_prefix: str | None = None
    ) -> None:
        self.cfg = cfg
        self.keep = keep
        self.ha = Topics(cfg.topic_prefix, ha_prefix) if ha_prefix else None
        self.first_heard: dict[str, float] = {}
        self.first_announced: dict[str, float] = {}
        self.messages: list[dict[str, Any]] = []
        self.raw: Counter[str] = Counter()
        self.ids: set[tuple[str, str, int]] = set()
        self.status: dict[str, dict[str, Any]] = {}
        self._topics = cfg.topics()
        self._client: gmqtt.Client = build_client(cfg, "bt-mqtt-demo-witness")
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        filters = self._topics.ingest_filters()
        if self.ha is not None:
            filters += self.ha.discovery_filters(("sensor", "binary_sensor"))
        client.subscribe([gmqtt.Subscription(f, qos=1) for f in filters])

    def _announced(self, topic: str) -> None:
        """``{ha_prefix}/{platform}/btmqtt_{hex}/{object}/config``: a device's entity."""
        node = topic.split("/")[-3]
        if node.startswith("btmqtt_") and not node.startswith("btmqtt_scanner_"):
            self.first_announced.setdefault(node[len("btmqtt_") :], time.time())

    def _on_message(
        self, client: gmqtt.Client, topic: str, payload: bytes, qos: int, props: Any
    ) -> int:
        if self.ha is not None and topic.startswith(self.ha.ha_prefix + "/"):
            if payload:
                self._announced(topic)
            return 0
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
            if self.ha is not None and isinstance(msg.get("mac"), str):
                self.first_heard.setdefault(msg["mac"], time.time())
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
