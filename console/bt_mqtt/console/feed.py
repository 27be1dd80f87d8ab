"""The MQTT side of the console: subscribe to the raw stream and heartbeats, buffer payloads.

``MqttFeed`` only appends ``(topic, payload)`` to a list from gmqtt's callback; the app drains
it a few times a second and ingests the batch into the state.  A random client id and a clean
session make the console an ephemeral viewer that never steals the subscriber's session; QoS 0
is enough.  If the app falls behind by more than ``max_backlog`` messages or ``max_backlog_bytes``
of payload (a few huge messages from anyone who may publish must not exhaust memory), the
excess is counted in ``dropped`` (never silently lost).  ``route`` maps a topic to (kind,
scanner id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import gmqtt

from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.mqttconfig import MqttConfig

log = logging.getLogger(__name__)


def route(prefix: str, topic: str) -> tuple[str, str] | None:
    """``{prefix}/raw/ID`` -> ("raw", ID); ``{prefix}/scanner/ID/status`` -> ("status", ID);
    ``{prefix}/alert/KIND/SUBJECT`` -> ("alert", "KIND/SUBJECT")."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) == 2 and parts[0] == "raw" and parts[1]:
        return "raw", parts[1]
    if len(parts) == 3 and parts[0] == "scanner" and parts[2] == "status" and parts[1]:
        return "status", parts[1]
    if len(parts) == 3 and parts[0] == "alert" and parts[1] and parts[2]:
        return "alert", f"{parts[1]}/{parts[2]}"
    return None


class MqttFeed:
    """A gmqtt subscriber that buffers payloads for ``drain``."""

    def __init__(
        self,
        cfg: MqttConfig,
        password: str | None = None,
        max_backlog: int = 200_000,
        max_backlog_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.cfg = cfg
        self.password = password
        self.max_backlog = max_backlog
        self.max_backlog_bytes = max_backlog_bytes
        self.pending: list[tuple[str, bytes]] = []
        self.pending_bytes = 0
        self.connected = False
        self.dropped = 0
        self.received = 0
        self.client_id = f"bt-mqtt-console-{secrets.token_hex(4)}"
        self._client: gmqtt.Client | None = None
        self._task: asyncio.Task[bool] | None = None
        self._stop = asyncio.Event()

    @property
    def prefix(self) -> str:
        return self.cfg.topic_prefix

    def drain(self) -> list[tuple[str, bytes]]:
        """Everything received since the last call, oldest first."""
        out, self.pending = self.pending, []
        self.pending_bytes = 0
        return out

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        self.connected = True
        client.subscribe(
            [
                gmqtt.Subscription(f"{self.prefix}/raw/+", qos=0),
                gmqtt.Subscription(f"{self.prefix}/scanner/+/status", qos=0),
                gmqtt.Subscription(f"{self.prefix}/alert/+/+", qos=0),
            ]
        )
        log.info("console connected to %s:%s", self.cfg.host, self.cfg.port)

    def _on_disconnect(self, client: gmqtt.Client, packet: Any, exc: Any = None) -> None:
        self.connected = False

    def _on_message(
        self, client: gmqtt.Client, topic: str, payload: bytes, qos: int, props: Any
    ) -> int:
        self.received += 1
        size = len(payload)
        if (
            len(self.pending) >= self.max_backlog
            or self.pending_bytes + size > self.max_backlog_bytes
        ):
            self.dropped += 1
        else:
            self.pending.append((topic, payload))
            self.pending_bytes += size
        return 0

    async def start(self) -> None:
        """Begin connecting in the background (with backoff); returns at once."""
        client = build_client(self.cfg, self.client_id, password=self.password, clean_session=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._task = asyncio.create_task(connect_with_backoff(client, self.cfg, stop=self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2.0)
        if self._client is not None and self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.disconnect(), 2.0)
        self.connected = False
