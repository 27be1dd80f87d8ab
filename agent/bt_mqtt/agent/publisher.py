"""The agent's MQTT side: advertisements at QoS 1, retained status, last will, clean shutdown.

No buffering while disconnected (seed ADR-0009): the caller checks ``online`` and drops (and
counts) what arrives meanwhile.  Accepted advertisements are sent in batches, one socket write
per batch: a batch is written ``FLUSH_DELAY_S`` after its first message or as soon as it holds
``FLUSH_BATCH`` messages.  On a Pi most of the cost of a message is system calls (the write, and
the broker's PUBACK waking us), so batching cuts CPU per advert several-fold for at most 50 ms
of latency.  ``flush_delay_s`` 0 writes at the end of the current event-loop pass instead: for a
backend that already hands over adverts in batches, one write per batch and no extra wakeup.
Messages that cannot be sent at flush time (the connection dropped in between, or dropped
while they waited) are reported through ``on_lost``.  The broker's receive maximum (Mosquitto's
``max_inflight_messages``, 20 by default) caps the unacknowledged messages: what a flush cannot
send for want of a packet id waits, and goes out as PUBACKs free ids (``_on_acked``).
gmqtt's in-flight QoS queue is bounded by ``inflight_limit`` (``BoundedQosStorage``); a payload
that does not fit is refused and the caller counts it.  Reconnects back off exponentially up to
``reconnect_cap_s``; every (re)connect sets ``connect_signal`` so the heartbeat replaces the
will's offline status at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from bt_mqtt.core import gmqtt_adapter
from bt_mqtt.core.mqttclient import BoundedQosStorage, build_client, connect_with_backoff
from bt_mqtt.core.mqttcodec import PublishTemplate
from bt_mqtt.core.mqttconfig import MqttConfig

log = logging.getLogger(__name__)

DEFAULT_INFLIGHT_LIMIT = 1024
FLUSH_DELAY_S = 0.05
FLUSH_BATCH = 64


def offline_status(scanner_id: str, boot: str, reason: str, ts: str | None = None) -> bytes:
    """The retained offline status: the last will (``reason`` "connection lost") or shutdown."""
    obj: dict[str, Any] = {
        "status": "offline",
        "scanner_id": scanner_id,
        "boot": boot,
        "hostname": socket.gethostname(),
        "reason": reason,
    }
    if ts is not None:
        obj["ts"] = ts
    return json.dumps(obj, separators=(",", ":")).encode()


class Publisher:
    """One gmqtt connection for one agent process."""

    def __init__(
        self,
        cfg: MqttConfig,
        scanner_id: str,
        boot: str,
        *,
        password: str | None = None,
        inflight_limit: int = DEFAULT_INFLIGHT_LIMIT,
        reconnect_initial_s: float = 0.5,
        reconnect_cap_s: float = 30.0,
    ) -> None:
        self.cfg = cfg
        self.scanner_id = scanner_id
        self.boot = boot
        self.raw_topic = cfg.raw_topic(scanner_id)
        self.status_topic = cfg.status_topic(scanner_id)
        self._template: PublishTemplate | None = None  # built on connect: the protocol level
        self._initial_s = reconnect_initial_s
        self._cap_s = reconnect_cap_s
        self.client = build_client(
            cfg,
            f"bt-mqtt-agent-{scanner_id}-{boot}",
            password=password,
            will=(self.status_topic, offline_status(scanner_id, boot, "connection lost")),
            qos_queue_limit=inflight_limit,
        )
        self._storage: Any = self.client.qos_storage
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.connect_signal = asyncio.Event()
        self.connects = 0
        self.disconnects = 0
        self._closing = False
        self._limit = inflight_limit
        self._pending: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        if isinstance(self._storage, BoundedQosStorage):
            self._storage.on_free = self._on_acked
        self.flush_delay_s: float | None = None  # None: FLUSH_DELAY_S
        self.on_lost: Callable[[int], None] = lambda _n: None

    # gmqtt callbacks -----------------------------------------------------------------------
    def _on_connect(self, _client: Any, _flags: Any, _rc: Any, _props: Any) -> None:
        version = gmqtt_adapter.protocol_version(self.client)
        if self._template is None or self._template.version != version:
            self._template = PublishTemplate(self.raw_topic.encode(), version, qos=1)
        self.connects += 1
        log.info(
            "connected to mqtt %s:%s",
            self.cfg.host,
            self.cfg.port,
            extra={"event": "mqtt_connected", "connects": self.connects},
        )
        self.connect_signal.set()

    def _on_disconnect(self, _client: Any, _packet: Any, _exc: Any = None) -> None:
        if self._closing:
            return
        self.disconnects += 1
        if self._pending:  # accepted but never written: no buffering while disconnected
            self._cancel_flush()
            lost, self._pending = len(self._pending), []
            self.on_lost(lost)
        log.warning(
            "lost mqtt connection to %s:%s; dropping adverts until it is back",
            self.cfg.host,
            self.cfg.port,
            extra={"event": "mqtt_disconnected", "disconnects": self.disconnects},
        )

    # ---------------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        """Connected and acknowledged by the broker."""
        return bool(self.client.is_connected)

    @property
    def inflight(self) -> int:
        """QoS 1 messages sent and not yet acknowledged."""
        return len(self._storage)

    async def connect(self, stop: asyncio.Event | None = None) -> bool:
        """Connect with capped backoff (gmqtt reconnects on its own afterwards)."""
        ok = await connect_with_backoff(
            self.client, self.cfg, initial_s=self._initial_s, cap_s=self._cap_s, stop=stop
        )
        return bool(ok)

    def publish_raw(self, payload: bytes) -> bool:
        """Queue one advertisement (QoS 1) for this loop iteration's write; False when offline
        or the in-flight queue is full."""
        pending = self._pending
        if len(self._storage) + len(pending) >= self._limit or not self.client.is_connected:
            return False
        pending.append(payload)
        if len(pending) >= FLUSH_BATCH:
            self.flush()
        elif self._flush_handle is None:
            delay = FLUSH_DELAY_S if self.flush_delay_s is None else self.flush_delay_s
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self.flush)
        return True

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _on_acked(self) -> None:
        """A PUBACK freed a packet id: send what the receive maximum held back (once per pass)."""
        if self._pending and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send the queued advertisements in one write; report what could not be sent."""
        self._cancel_flush()
        batch = self._pending
        if not batch:
            return
        self._pending = []
        sent = 0
        if self.client.is_connected and self._template is not None:
            try:
                # fewer than all when gmqtt ran out of packet ids (the broker's receive maximum)
                sent = gmqtt_adapter.publish_batch(self.client, self._template, batch)
            except (OSError, AttributeError) as exc:
                log.debug("publish failed: %s", exc)
            else:
                if sent < len(batch) and len(self._storage):
                    self._pending = batch[sent:]  # out of packet ids: PUBACKs will free some
                    return
        if sent < len(batch):
            self.on_lost(len(batch) - sent)

    def publish_status(self, payload: bytes) -> bool:
        """Send a retained status message (QoS 1); False when it could not be sent."""
        if not self.client.is_connected:
            return False
        try:
            self.client.publish(self.status_topic, payload, qos=1, retain=True)
        except (OverflowError, OSError, AttributeError) as exc:
            log.warning("status publish refused: %s", exc, extra={"event": "status_refused"})
            return False
        return True

    async def wait_room(self) -> None:
        """Return once the in-flight queue is at most half full (or we are offline).

        Only for sources that can wait (a replay at full speed); a radio never waits.
        """
        await asyncio.sleep(0)
        while (
            self.client.is_connected and (len(self._storage) + len(self._pending)) * 2 > self._limit
        ):
            await asyncio.sleep(0.001)

    async def drain(self, timeout_s: float) -> bool:
        """Send what is queued, then wait until every QoS 1 message is acknowledged; False on
        timeout."""
        self.flush()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    await self._storage.wait_empty()
                    if not self._pending or not self.client.is_connected:
                        return True
                    self.flush()  # normally done by _on_acked already
                    await asyncio.sleep(0)
        except TimeoutError:
            return False

    async def close(self, offline_payload: bytes | None, timeout_s: float = 5.0) -> None:
        """Publish the offline status (retained) if connected, wait for acks, disconnect."""
        self._closing = True
        self.flush()
        if self.client.is_connected:
            if offline_payload is not None:
                self.publish_status(offline_payload)
            if not await self.drain(timeout_s):
                log.warning(
                    "%d message(s) unacknowledged at shutdown",
                    self.inflight,
                    extra={"event": "mqtt_unacked_at_shutdown"},
                )
        self.client.stop_reconnect()
        if gmqtt_adapter.has_connection(self.client):  # never connected: nothing to close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.disconnect(), timeout_s)
