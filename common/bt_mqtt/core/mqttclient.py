"""A gmqtt client built from ``MqttConfig``, and a connect loop with capped exponential backoff.

gmqtt is imported here only, so programs that never talk MQTT do not pay for it.

Two gmqtt 0.8 behaviours are corrected here (relying on its internals, checked by
tests/core/test_mqttclient.py): its automatic reconnect waits a fixed delay (``BackoffClient``
doubles it per failed attempt up to a cap; its ``publish_many`` also sends a batch in one
write instead of one system call per message), and its QoS 1/2 resend queue is unbounded and, when a
reconnect finds no session on the broker, is cleared without freeing the packet ids, which
eventually makes every publish fail with OverflowError (``BoundedQosStorage`` caps the queue
and frees the ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.package import PublishPacket
from gmqtt.storage import PersistentStorage

from bt_mqtt.core.mqttconfig import MqttConfig

log = logging.getLogger(__name__)

_PUBLISH_QOS1 = b"\x32"  # PUBLISH, QoS 1, no dup, no retain


class BoundedQosStorage(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store with a size limit; frees packet ids when it is cleared.

    gmqtt itself never refuses a message here: callers check ``full`` before publishing QoS > 0
    and drop (and count) what does not fit.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.free_id: Any = None
        self.on_free: Callable[[], None] | None = None  # called after each acknowledgement

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        if self.on_free is not None:
            self.on_free()

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:  # gmqtt picks ``persistent_storage or PersistentStorage()``
        return True

    @property
    def full(self) -> bool:
        return len(self._messages) >= self.limit

    def clear(self) -> None:
        if self.free_id is not None:
            for mid in list(self._messages):
                self.free_id(mid)
        super().clear()


class BackoffClient(gmqtt.Client):  # type: ignore[misc]
    """A gmqtt client whose automatic reconnect backs off: initial * 2**failures, capped."""

    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 30.0

    async def reconnect(self, delay: bool = False) -> None:
        failures = int(getattr(self._connection_state, "failed_connections", 0))
        self.reconnect_delay = min(
            self.backoff_initial_s * 2 ** min(failures, 16), self.backoff_cap_s
        )
        await super().reconnect(delay)

    @property
    def qos_storage(self) -> PersistentStorage:
        return self._persistent_storage

    def publish_many(self, messages: list[gmqtt.Message]) -> int:
        """Publish ``messages`` with one socket write (gmqtt writes, and so sends, each one
        separately).  Returns how many were sent: fewer when the packet ids ran out."""
        protocol = self._connection._protocol
        packets: list[bytes] = []
        for message in messages:
            try:
                mid, packet = PublishPacket.build_package(message, protocol)
            except OverflowError:
                break
            packets.append(packet)
            if message.qos > 0:
                self._persistent_storage.push_message(mid, packet)
        if packets:
            protocol.write_data(b"".join(packets))
        return len(packets)

    def publish_qos1(self, topic: bytes, payloads: list[bytes]) -> int:
        """``publish_many`` for the agent's hot path: QoS 1, not retained, no properties, one
        topic.  Builds the same PUBLISH bytes as gmqtt without a ``Message`` and a builder pass
        per payload.  Returns how many were sent: fewer when the packet ids ran out."""
        protocol = self._connection._protocol
        next_id = protocol.id_generator.next_id
        store = self._persistent_storage.push_message
        head = len(topic).to_bytes(2, "big") + topic
        props = b"\x00" if protocol.proto_ver == MQTTv50 else b""  # empty property list
        fixed = len(head) + 2 + len(props)
        packets: list[bytes] = []
        for payload in payloads:
            try:
                mid = next_id()
            except OverflowError:
                break
            n = fixed + len(payload)  # the remaining length, a variable byte integer
            if n < 0x80:
                length = bytes((n,))
            elif n < 0x4000:
                length = bytes((n & 0x7F | 0x80, n >> 7))
            else:
                length = bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14))
            packet = b"".join((_PUBLISH_QOS1, length, head, mid.to_bytes(2, "big"), props, payload))
            store(mid, packet)
            packets.append(packet)
        if packets:
            protocol.write_data(b"".join(packets))
        return len(packets)


def build_client(
    cfg: MqttConfig,
    client_id: str,
    *,
    password: str | None = None,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
    optimistic_acks: bool = True,
    session_expiry_s: int | None = None,
    qos_queue_limit: int | None = None,
) -> BackoffClient:
    """A configured, unconnected client.  ``will`` is (topic, payload), sent retained at QoS 1.

    ``qos_queue_limit`` bounds gmqtt's in-flight QoS queue (see ``BoundedQosStorage``).
    """
    kwargs: dict[str, Any] = {}
    if session_expiry_s is not None:
        kwargs["session_expiry_interval"] = session_expiry_s
    storage = BoundedQosStorage(qos_queue_limit) if qos_queue_limit is not None else None
    will_message = gmqtt.Message(will[0], will[1], qos=1, retain=True) if will else None
    client = BackoffClient(
        client_id,
        clean_session=clean_session,
        optimistic_acknowledgement=optimistic_acks,
        will_message=will_message,
        persistent_storage=storage,
        **kwargs,
    )
    if storage is not None:
        storage.free_id = client._package_handler.id_generator.free_id
    if cfg.username is not None:
        client.set_auth_credentials(cfg.username, password)
    return client


def _tls_hint(cfg: MqttConfig, exc: BaseException) -> str:
    """``exc`` as text; a failed certificate check also says which CA it was checked against
    (OpenSSL's own words, e.g. "self-signed certificate in certificate chain", mislead)."""
    if cfg.tls is None or not hasattr(exc, "verify_message"):  # ssl.SSLCertVerificationError
        return str(exc)
    trust = cfg.tls.ca_file or "the system CA store"
    return f"TLS: the broker's certificate did not verify against {trust} ({exc})"


async def connect_with_backoff(
    client: gmqtt.Client,
    cfg: MqttConfig,
    *,
    initial_s: float = 0.5,
    cap_s: float = 30.0,
    stop: asyncio.Event | None = None,
) -> bool:
    """Connect, retrying with doubling delays up to ``cap_s``; False if ``stop`` was set first.

    After the first success gmqtt's own reconnect (unlimited retries, ``cap_s`` delay) takes over.
    """
    delay = initial_s
    ssl = cfg.ssl_context()
    while stop is None or not stop.is_set():
        try:
            await client.connect(cfg.host, cfg.port, ssl=ssl, keepalive=cfg.keepalive_s)
        except (TimeoutError, OSError, gmqtt.mqtt.handler.MQTTConnectError) as exc:
            log.warning(
                "mqtt connect to %s:%s failed, retrying in %.1fs: %s",
                cfg.host,
                cfg.port,
                delay,
                _tls_hint(cfg, exc),
                extra={"event": "mqtt_connect_failed"},
            )
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, cap_s)
            continue
        client.reconnect_retries = -1
        client.reconnect_delay = min(max(initial_s, 1.0), cap_s)
        if isinstance(client, BackoffClient):
            client.backoff_initial_s = initial_s
            client.backoff_cap_s = cap_s
        return True
    return False
