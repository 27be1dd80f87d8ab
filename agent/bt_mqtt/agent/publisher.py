"""The agent's MQTT side: advertisements at QoS 1 through a bounded spool, retained status, last
will, clean shutdown.

Every advertisement that has a seq goes into the ``Spool`` (``publish_raw``) and leaves it oldest
first.  The caller checks ``spool.room`` *before* giving an advert a seq, and drops (and counts)
it when the spool is full; nothing that has a seq is ever dropped here.

While connected, the spool is written in batches, one socket write per batch: a batch is written
``FLUSH_DELAY_S`` after its first message or as soon as ``FLUSH_BATCH`` messages wait.  On a Pi
most of the cost of a message is system calls (the write, and the broker's PUBACK waking us), so
batching cuts CPU per advert several-fold for at most 50 ms of latency.  ``flush_delay_s`` 0
writes at the end of the current event-loop pass instead: for a backend that already hands over
adverts in batches, one write per batch and no extra wakeup.

While the broker is unreachable the spool keeps everything up to its bounds and is written after
the reconnect, ahead of newer adverts.  Written messages stay in gmqtt's resend store (at most
``inflight_limit``) until the broker acknowledges them; the broker's receive maximum (Mosquitto's
``max_inflight_messages``) caps the unacknowledged ones, and what a flush cannot write for want
of a packet id waits in the spool until PUBACKs free ids (``_on_acked``).  The agent's session
ends with its connection, so after a reconnect the store's unacknowledged adverts go back to the
front of the spool and are sent again (``requeued``; the broker may have had some of them: a
QoS 1 duplicate with the same seq, which readers deduplicate).

Reconnects retry after 0.25 s, doubling to at most 1 s, each wait shortened at random by up to
half, so the agent is back within about a second of the broker; opening a connection gives up
after ``CONNECT_TIMEOUT_S``.  Every (re)connect sets ``connect_signal`` so the heartbeat
replaces the will's offline status at once; a status that finds every packet id in use goes out
as soon as a PUBACK frees one, ahead of the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, Final

from bt_mqtt.agent.spool import DEFAULT_MAX_MB, DEFAULT_MAX_MESSAGES, Spool
from bt_mqtt.core import gmqtt_adapter, status
from bt_mqtt.core.mqttclient import BoundedQosStorage, build_client, connect_with_backoff
from bt_mqtt.core.mqttcodec import MalformedPacket, PublishTemplate, decode_publish, split_packet
from bt_mqtt.core.mqttconfig import MqttConfig

log = logging.getLogger(__name__)

DEFAULT_INFLIGHT_LIMIT: Final = 1024
FLUSH_DELAY_S = 0.05
FLUSH_BATCH = 64
RECONNECT_INITIAL_S: Final = 0.25
RECONNECT_CAP_S: Final = 1.0
RECONNECT_JITTER: Final = 0.5
REFUSED_CAP_S: Final = 30.0  # the broker answered and refused (credentials): no point hurrying
CONNECT_TIMEOUT_S: Final = 5.0
_RETRY_FLUSH_S: Final = 0.05


def offline_status(scanner_id: str, boot: str, reason: str, ts: str | None = None) -> bytes:
    """The retained offline status: the last will (``reason`` "connection lost") or shutdown."""
    bare = status.Status(
        status.OFFLINE,
        scanner_id=scanner_id,
        boot=boot,
        ts=ts,
        hostname=socket.gethostname(),
        reason=reason,
    )
    return status.encode(bare)


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
        spool_messages: int = DEFAULT_MAX_MESSAGES,
        spool_bytes: int = int(DEFAULT_MAX_MB * 2**20),
        reconnect_initial_s: float = RECONNECT_INITIAL_S,
        reconnect_cap_s: float = RECONNECT_CAP_S,
        reconnect_jitter: float = RECONNECT_JITTER,
    ) -> None:
        self.cfg = cfg
        self.scanner_id = scanner_id
        self.boot = boot
        topics = cfg.topics()
        self.raw_topic = topics.raw(scanner_id)
        self.status_topic = topics.status(scanner_id)
        self.reply_topic = topics.reply(scanner_id)
        # commands (``cmdshell``): subscribed at QoS 1 on every connect; (topic, payload,
        # retained) go to ``on_command``
        self.command_filters: list[str] = []
        self.on_command: Callable[[str, bytes, bool], None] | None = None
        self._template: PublishTemplate | None = None  # built on connect: the protocol level
        self._initial_s = reconnect_initial_s
        self._cap_s = reconnect_cap_s
        self._jitter = reconnect_jitter
        self.client = build_client(
            cfg,
            f"bt-mqtt-agent-{scanner_id}-{boot}",
            password=password,
            will=(self.status_topic, offline_status(scanner_id, boot, "connection lost")),
            qos_queue_limit=inflight_limit,
        )
        self.client.connect_timeout_s = CONNECT_TIMEOUT_S
        storage = self.client.qos_storage
        assert isinstance(storage, BoundedQosStorage)
        self._storage = storage
        storage.on_free = self._on_acked
        storage.on_clear = self._on_session_lost
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.spool = Spool(spool_messages, spool_bytes)
        self.online = False  # connected and acknowledged by the broker
        self.connect_signal = asyncio.Event()
        self.connects = 0
        self.disconnects = 0
        self.spooled = 0  # adverts taken while the broker was unreachable
        self.requeued = 0  # written, unacknowledged at a connection loss, written again
        self._closing = False
        self._limit = inflight_limit
        self._blocked = False  # the spool waits for PUBACKs (no packet id or in-flight room)
        self._status_due: bytes | None = None
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self.flush_delay_s: float | None = None  # None: FLUSH_DELAY_S

    # gmqtt callbacks -----------------------------------------------------------------------
    def _on_connect(self, _client: Any, _flags: Any, _rc: Any, _props: Any) -> None:
        version = gmqtt_adapter.protocol_version(self.client)
        if self._template is None or self._template.version != version:
            self._template = PublishTemplate(self.raw_topic.encode(), version, qos=1)
        self.online = True
        self._blocked = False
        self.connects += 1
        log.info(
            "connected to mqtt %s:%s",
            self.cfg.host,
            self.cfg.port,
            extra={
                "event": "mqtt_connected",
                "connects": self.connects,
                "spool_depth": len(self.spool),
            },
        )
        self.connect_signal.set()
        if self.command_filters:
            self._subscribe_commands()
        if self.spool:  # at once: a full spool refuses adverts until it is written
            self.flush()

    def _subscribe_commands(self) -> None:
        """(Re)subscribe to the command topics: the session ends with each connection."""
        self.client.on_message = self._on_message
        known = {s.topic: s for s in self.client.subscriptions}
        for topic in self.command_filters:
            sub = known.get(topic)
            if sub is None:
                self.client.subscribe(topic, qos=1)
            else:
                self.client.resubscribe(sub)

    def _on_message(self, _client: Any, topic: str, payload: bytes, _qos: int, props: Any) -> int:
        retained = bool(props.get("retain")) if isinstance(props, dict) else False
        if self.on_command is not None:
            self.on_command(topic, payload, retained)
        return 0

    def _on_disconnect(self, _client: Any, _packet: Any, _exc: Any = None) -> None:
        self.online = False
        self._cancel_flush()
        self._status_due = None  # a fresh heartbeat follows the reconnect
        if self._closing:
            return
        self.disconnects += 1
        log.warning(
            "lost mqtt connection to %s:%s; spooling adverts until it is back "
            "(%d waiting, room for %d)",
            self.cfg.host,
            self.cfg.port,
            len(self.spool),
            self.spool.max_messages,
            extra={"event": "mqtt_disconnected", "disconnects": self.disconnects},
        )

    def _on_session_lost(self, packets: list[bytes]) -> None:
        """gmqtt found no session after a reconnect and dropped its resend store: put the
        adverts among ``packets`` (oldest first) back at the front of the spool."""
        template = self._template
        if template is None:  # nothing was ever written
            return
        payloads: list[bytes] = []
        for packet in packets:
            try:
                msg = decode_publish(*split_packet(packet), template.version)
            except MalformedPacket as exc:  # we built it: a bug, and nothing to resend
                log.error("unreadable packet in the resend store: %s", exc)
                continue
            if msg.topic == template.topic:  # statuses are not resent: a new one follows
                payloads.append(msg.payload)
        if payloads:
            self.spool.requeue(payloads)
            self.requeued += len(payloads)
            log.info(
                "%d advert(s) written but not acknowledged before the connection was lost "
                "go out again (the broker may count some twice: same seq)",
                len(payloads),
                extra={"event": "mqtt_requeued", "requeued": len(payloads)},
            )

    def _on_acked(self) -> None:
        """A PUBACK freed a packet id: write what waited for one (once per loop pass)."""
        if self._blocked and self._flush_handle is None and self.online:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    # ---------------------------------------------------------------------------------------
    @property
    def inflight(self) -> int:
        """QoS 1 messages written and not yet acknowledged."""
        return len(self._storage)

    def spool_stats(self) -> status.Spool:
        """The spool as the heartbeat reports it."""
        s = self.spool
        return status.Spool(
            depth=len(s),
            bytes=s.bytes,
            peak_depth=s.peak,
            inflight=len(self._storage),
            max_depth=s.max_messages,
            max_bytes=s.max_bytes,
        )

    async def connect(self, stop: asyncio.Event | None = None) -> bool:
        """Connect with capped, jittered backoff (gmqtt reconnects on its own afterwards)."""
        ok = await connect_with_backoff(
            self.client,
            self.cfg,
            initial_s=self._initial_s,
            cap_s=self._cap_s,
            jitter=self._jitter,
            refused_cap_s=max(self._cap_s, REFUSED_CAP_S),
            stop=stop,
        )
        return bool(ok)

    def publish_raw(self, payload: bytes) -> bool:
        """Take one advertisement (QoS 1) for writing; False, and nothing taken, when the spool
        has no room (the caller checks ``spool.room`` before giving it a seq)."""
        spool = self.spool
        if not spool.room:
            return False
        spool.push(payload)
        if not self.online:
            self.spooled += 1
        elif not self._blocked:
            if len(spool) >= FLUSH_BATCH:
                self.flush()
            elif self._flush_handle is None:
                delay = FLUSH_DELAY_S if self.flush_delay_s is None else self.flush_delay_s
                self._flush_handle = asyncio.get_running_loop().call_later(delay, self.flush)
        return True

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def flush(self) -> None:
        """Write the spool, oldest first, in one write, as far as packet ids and the in-flight
        limit allow; the rest waits for PUBACKs."""
        self._cancel_flush()
        template = self._template
        if not self.online or template is None or not self.client.is_connected:
            return
        spool = self.spool
        sent = 0
        if self._status_due is None or self._send_status(self._status_due):
            room = self._limit - len(self._storage)
            if spool and room > 0:
                batch = spool.peek(room)
                try:
                    # fewer than all when gmqtt ran out of packet ids (the receive maximum)
                    sent = gmqtt_adapter.publish_batch(self.client, template, batch)
                except (OSError, AttributeError) as exc:  # the connection went away meanwhile
                    log.debug("publish failed: %s", exc)
                if sent:
                    spool.take(sent)
        # what is left waits for a PUBACK to free a packet id (``_on_acked``)
        self._blocked = bool(spool) or self._status_due is not None
        if self._blocked and not len(self._storage):  # no PUBACK will come to wake us
            self._flush_handle = asyncio.get_running_loop().call_later(_RETRY_FLUSH_S, self.flush)

    def _send_status(self, payload: bytes) -> bool:
        """Publish a retained status; False when no packet id is free (the caller keeps it)."""
        try:
            self.client.publish(self.status_topic, payload, qos=1, retain=True)
        except OverflowError:
            self._status_due = payload
            return False
        except (OSError, AttributeError) as exc:
            log.warning("status publish refused: %s", exc, extra={"event": "status_refused"})
        self._status_due = None
        return True

    def publish_status(self, payload: bytes) -> bool:
        """Send a retained status message (QoS 1); False when offline.  With every packet id in
        use it is sent as soon as a PUBACK frees one, before the spool (a newer status replaces
        a waiting one)."""
        if not self.online:
            return False
        if not self._send_status(payload):
            self._blocked = True
        return True

    def publish_reply(self, payload: bytes) -> bool:
        """Send a command reply (QoS 1, not retained); False when offline or no packet id is
        free (the caller retries)."""
        if not self.online:
            return False
        try:
            self.client.publish(self.reply_topic, payload, qos=1)
        except (OverflowError, OSError, AttributeError) as exc:
            log.debug("reply publish failed: %s", exc)
            return False
        return True

    async def wait_room(self) -> None:
        """Return once the in-flight queue is at most half full (or we are offline).

        Only for sources that can wait (a replay at full speed); a radio never waits.
        """
        await asyncio.sleep(0)
        while self.online and (len(self._storage) + len(self.spool)) * 2 > self._limit:
            await asyncio.sleep(0.001)

    async def drain(self, timeout_s: float) -> bool:
        """Write the spool and wait until the broker acknowledged everything; False on timeout
        (while offline it waits for a reconnect within the time)."""
        self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.spool or len(self._storage) or self._status_due is not None:
            if loop.time() >= deadline:
                return False
            if self.online and self._flush_handle is None and not self._blocked:
                self.flush()
            await asyncio.sleep(0.005)
        return True

    async def close(self, offline_payload: bytes | None, timeout_s: float = 5.0) -> None:
        """Publish the offline status (retained) if connected, wait for acks, disconnect."""
        self._closing = True
        self.flush()
        if self.online:
            if offline_payload is not None:
                self.publish_status(offline_payload)
            await self.drain(timeout_s)
        unsent = len(self.spool) + self.inflight
        if unsent:
            log.warning(
                "%d advert(s) not acknowledged by the broker at shutdown (%d never written); "
                "readers count them as lost from the heartbeat's last_seq",
                unsent,
                len(self.spool),
                extra={"event": "mqtt_unacked_at_shutdown", "unsent": unsent},
            )
        self.client.stop_reconnect()
        if gmqtt_adapter.has_connection(self.client):  # never connected: nothing to close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.disconnect(), timeout_s)
        self.online = False
