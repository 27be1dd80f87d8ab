"""Every use of gmqtt's internals, in one module, each checked once before the first client.

gmqtt (pinned to 0.8.x) has no public API for several things BT-MQTT needs:

- a QoS 1 resend store with a size limit that frees its packet ids when a reconnect finds no
  session on the broker (gmqtt clears the store but keeps the ids reserved, so after enough
  reconnects every publish fails with OverflowError), and that hands back what it held
  (``BoundedQosStorage``);
- a reconnect that backs off (doubling, capped, with jitter) instead of a fixed delay, that
  goes on after the broker refused a reconnect (gmqtt gives up for good on a refusal it deems
  permanent, a wrong password or "not authorised", though the fix is usually made on the
  broker, not on the scanner), and a time limit on opening the connection (``BackoffClient``);
- many QoS 1 PUBLISH packets written with one system call, their packet ids taken from gmqtt's
  own allocator and the packets kept in its store for resending (``publish_batch``; the bytes
  come from ``bt_mqtt.core.mqttcodec``);
- the subscriber's receive path: its own PUBLISH handler with no automatic PUBACK
  (``hook_publish``), the broker's topic aliases (``resolve_topic_alias``), the connection a
  message came on (``current_connection``), PUBACKs written in bulk on it (``send_on``), and
  reading from it paused while the database is behind (``pause_reading``).

Each access to a private name below says what it reaches and why.  ``check()`` looks for every
one of them once (``build_client`` calls it) and raises ``GmqttIncompatible`` naming the gmqtt
version and what is missing, so a gmqtt upgrade that moves them fails at start-up with that
message rather than later with an AttributeError in the middle of a publish.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import gmqtt

from bt_mqtt.core.mqttcodec import PUBLISH, PublishTemplate

_import_error: ImportError | None = None
try:  # gmqtt 0.8's module layout: none of these is exported by the package itself
    from gmqtt.mqtt.connection import MQTTConnection
    from gmqtt.mqtt.handler import MqttPackageHandler
    from gmqtt.mqtt.protocol import MQTTProtocol
    from gmqtt.mqtt.utils import IdGenerator
    from gmqtt.storage import PersistentStorage
except ImportError as exc:  # reported by check(), before any client exists
    _import_error = exc
    MQTTConnection = MqttPackageHandler = MQTTProtocol = IdGenerator = None
    PersistentStorage = object

log = logging.getLogger(__name__)

SUPPORTED: Final = "0.8."
VERSION: Final[str] = str(getattr(gmqtt, "__version__", "unknown"))

PublishHandler = Callable[[int, bytes], None]  # (first byte of the packet, body)


class GmqttIncompatible(RuntimeError):
    """The installed gmqtt lacks an internal BT-MQTT relies on."""


# -- the start-up check ------------------------------------------------------------------------

_checked = False


def missing_internals() -> list[str]:
    """The internals used below that this gmqtt does not have."""
    out: list[str] = []

    def need(obj: object, where: str, *names: str) -> None:
        out.extend(f"{where}.{n}" for n in names if not hasattr(obj, n))

    probe = gmqtt.Client("bt-mqtt-gmqtt-probe")  # no I/O: only objects are built
    need(probe, "Client", "_package_handler", "_connection_state", "_persistent_storage")
    need(probe, "Client", "_connection", "_create_connection", "reconnect", "reconnect_delay")
    state = getattr(probe, "_connection_state", None)
    need(state, "Client._connection_state", "failed_connections", "protocol_version")
    handler = getattr(probe, "_package_handler", None)
    need(MqttPackageHandler, "MqttPackageHandler", "_handle_publish_packet", "current_connection")
    need(MqttPackageHandler, "MqttPackageHandler", "_is_retryable_connack")
    need(handler, "MqttPackageHandler", "_handler_cache", "_server_topics_aliases", "id_generator")
    need(IdGenerator, "IdGenerator", "next_id", "free_id")
    need(getattr(handler, "id_generator", None), "IdGenerator", "_used_ids")
    need(PersistentStorage(), "PersistentStorage", "_messages")
    need(PersistentStorage, "PersistentStorage", "push_message", "remove_message_by_mid", "clear")
    need(PersistentStorage, "PersistentStorage", "get_all", "wait_empty", "is_empty")
    need(MQTTConnection, "MQTTConnection", "send_package", "is_closing")
    # set in MQTTConnection.__init__, which needs a live transport: look for the assignments
    for name in ("_protocol", "_transport"):
        if name not in MQTTConnection.__init__.__code__.co_names:
            out.append(f"MQTTConnection.{name}")
    need(MQTTProtocol, "MQTTProtocol", "write_data", "proto_ver")
    return out


def check() -> None:
    """Verify once that gmqtt has every internal this module uses; ``GmqttIncompatible`` if
    not.  A version other than 0.8.x that has them all is only logged."""
    global _checked  # noqa: PLW0603 - a once-per-process flag
    if _checked:
        return
    if _import_error is not None:
        raise GmqttIncompatible(
            f"gmqtt {VERSION}: cannot import {_import_error.name or _import_error}: BT-MQTT uses "
            f"gmqtt {SUPPORTED}x internals (bt_mqtt/core/gmqtt_adapter.py); "
            "install gmqtt>=0.8,<0.9"
        )
    missing = missing_internals()
    if missing:
        raise GmqttIncompatible(
            f"gmqtt {VERSION} lacks {', '.join(missing)}: BT-MQTT uses these gmqtt {SUPPORTED}x "
            "internals (bt_mqtt/core/gmqtt_adapter.py); install gmqtt>=0.8,<0.9"
        )
    if not VERSION.startswith(SUPPORTED):
        log.warning(
            "gmqtt %s is not the %sx BT-MQTT was tested with; its internals are all present",
            VERSION,
            SUPPORTED,
            extra={"event": "gmqtt_version"},
        )
    _checked = True


# -- the QoS store -----------------------------------------------------------------------------


class BoundedQosStorage(PersistentStorage):  # type: ignore[misc]
    """gmqtt's resend store for QoS 1 messages, with a size limit and a hook for what it drops.

    gmqtt itself never refuses a message here: callers check ``full`` (or their own count)
    before publishing.  gmqtt clears the store when a (re)connect finds no session on the
    broker; ``clear`` then frees the packet ids (gmqtt does not) and first hands the packets,
    oldest first, to ``on_clear`` so the caller can send their payloads again."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.free_id: Callable[[int], None] | None = None  # set by BackoffClient
        self.on_free: Callable[[], None] | None = None  # called after each acknowledgement
        self.on_clear: Callable[[list[bytes]], None] | None = None

    # gmqtt 0.8: the store is an OrderedDict ``_messages`` of packet id -> packet, send order.
    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        if self.on_free is not None:
            self.on_free()

    def push_many(self, pairs: Iterable[tuple[int, bytes]]) -> None:
        """Store (packet id, packet) pairs, as ``push_message`` does one by one."""
        self._messages.update(pairs)

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:  # gmqtt picks ``persistent_storage or PersistentStorage()``
        return True

    @property
    def full(self) -> bool:
        return len(self._messages) >= self.limit

    def clear(self) -> None:
        packets = list(self._messages.values())
        if self.free_id is not None:
            for mid in list(self._messages):
                self.free_id(mid)
        super().clear()
        if packets and self.on_clear is not None:
            self.on_clear(packets)


# -- the client --------------------------------------------------------------------------------


def jittered(base: float, jitter: float) -> float:
    """``base`` shortened at random by up to the fraction ``jitter`` (0: ``base`` itself).
    Uses os.urandom rather than importing ``random``, which the agent does not load."""
    if not jitter:
        return base
    return base * (1.0 - jitter * int.from_bytes(os.urandom(2), "big") / 65536)


def _retry_every_refusal(result: int) -> bool:
    """Whether to reconnect after a CONNACK refused with ``result``: always."""
    del result
    return True


class BackoffClient(gmqtt.Client):  # type: ignore[misc]
    """A gmqtt client whose automatic reconnect backs off: initial * 2**failures, capped, minus
    up to ``backoff_jitter`` of it at random; opening a connection is limited to
    ``connect_timeout_s`` (None: no limit, as in gmqtt)."""

    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 30.0
    backoff_jitter: float = 0.0
    connect_timeout_s: float | None = None

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        check()
        super().__init__(client_id, **kwargs)
        # gmqtt 0.8's handler asks this after a refused CONNACK; False stops reconnecting for
        # good (the scanner would stay offline until someone restarts it).  Every refusal is
        # retried instead, at the backoff's pace (``reconnect`` below).
        self._package_handler._is_retryable_connack = _retry_every_refusal
        storage = self._persistent_storage  # gmqtt 0.8: the QoS store given to __init__
        if isinstance(storage, BoundedQosStorage):
            # gmqtt 0.8's packet id allocator lives on its packet handler
            storage.free_id = self._package_handler.id_generator.free_id

    def backoff_delay(self, failures: int) -> float:
        """The wait before the next attempt after ``failures`` failed ones in a row."""
        base = min(self.backoff_initial_s * 2 ** min(failures, 16), self.backoff_cap_s)
        return jittered(base, self.backoff_jitter)

    async def reconnect(self, delay: bool = False) -> None:
        # gmqtt 0.8 counts failed attempts in its connection state (reset by a good CONNACK) and
        # sleeps ``reconnect_delay`` before the attempt when ``delay`` is set
        self.reconnect_delay = self.backoff_delay(self._connection_state.failed_connections)
        await super().reconnect(delay)

    async def _create_connection(
        self, host: str, port: int, ssl: Any, clean_session: bool, keepalive: int
    ) -> Any:
        # gmqtt 0.8 opens the TCP (and TLS) connection here, for connect() and reconnect(),
        # with no time limit: a broker host that drops packets would hold an attempt for the
        # kernel's SYN retries (about two minutes).  TimeoutError is an OSError, which both
        # callers treat as a failed attempt.
        opening = super()._create_connection(host, port, ssl, clean_session, keepalive)
        if self.connect_timeout_s is None:
            return await opening
        return await asyncio.wait_for(opening, self.connect_timeout_s)

    @property
    def qos_storage(self) -> PersistentStorage:
        return self._persistent_storage  # gmqtt 0.8: the QoS 1/2 resend store


# -- the agent's send path ---------------------------------------------------------------------


def protocol_version(client: gmqtt.Client) -> int:
    """The MQTT protocol level of the client's connection (5, or 4 after a downgrade)."""
    return int(client._connection_state.protocol_version)  # gmqtt 0.8: no public accessor


def has_connection(client: gmqtt.Client) -> bool:
    """Whether the client ever opened a connection (a never-connected one has nothing to
    close)."""
    return client._connection is not None  # gmqtt 0.8: None until the first connect


def _packet_ids(generator: Any) -> Iterator[int]:
    """Packet ids from gmqtt's allocator until it has none left (the broker's receive
    maximum of unacknowledged messages is reached)."""
    next_id = generator.next_id
    while True:
        try:
            mid = next_id()
        except OverflowError:
            return
        yield mid


def publish_batch(
    client: gmqtt.Client, template: PublishTemplate, payloads: Sequence[bytes]
) -> int:
    """Write PUBLISH packets for ``payloads`` (in order) with one socket write; each takes a
    packet id from gmqtt and stays in its QoS store until acknowledged.  Returns how many were
    taken: fewer than all when the packet ids ran out."""
    # gmqtt 0.8: the live connection's protocol object; write_data also feeds the keep-alive
    # clock, and logs instead of raising when the socket is already closing (the packets are in
    # the store then and go out again after the reconnect)
    protocol = client._connection._protocol
    # gmqtt 0.8's packet id allocator, shared with its own publish and subscribe
    pairs = template.encode_many(payloads, _packet_ids(client._package_handler.id_generator))
    if pairs:
        storage = client._persistent_storage  # gmqtt 0.8: the QoS resend store
        if isinstance(storage, BoundedQosStorage):
            storage.push_many(pairs)
        else:
            for mid, packet in pairs:
                storage.push_message(mid, packet)
        protocol.write_data(b"".join([packet for _, packet in pairs]))
    return len(pairs)


def used_packet_ids(client: gmqtt.Client) -> frozenset[int]:
    """The packet ids gmqtt holds reserved now (diagnostics and tests)."""
    return frozenset(client._package_handler.id_generator._used_ids)  # gmqtt 0.8 allocator


# -- the subscriber's receive path -------------------------------------------------------------


def hook_publish(client: gmqtt.Client, handler: PublishHandler) -> None:
    """Route every incoming PUBLISH packet to ``handler(first byte, body)`` instead of gmqtt's
    handler, which makes an asyncio task per message and acknowledges it by itself.  Install
    before connecting."""
    packets = client._package_handler
    # gmqtt 0.8 looks its handlers up by name ("_handle_<type>_packet") and caches the bound
    # method per packet type: replace the method and forget the cached one
    packets._handle_publish_packet = handler
    packets._handler_cache.pop(PUBLISH, None)


def resolve_topic_alias(client: gmqtt.Client, alias: int, topic: bytes) -> bytes:
    """A PUBLISH's topic under MQTT 5 topic aliases: a non-empty ``topic`` (re)defines
    ``alias`` for this connection; an empty one is looked up (b"" when unknown)."""
    # gmqtt 0.8 keeps the broker's aliases in this dict and replaces it (not clears it) on
    # every connect and disconnect, so it is looked up each time, never kept
    aliases: dict[int, bytes] = client._package_handler._server_topics_aliases
    if topic:
        aliases[alias] = topic
        return topic
    return aliases.get(alias, b"")


def current_connection(client: gmqtt.Client) -> Any:
    """The connection the client reads from now (None before the first); a message's packet
    id is only valid on the connection that delivered it."""
    return client._package_handler.current_connection  # gmqtt 0.8: the handler tracks it


def send_on(client: gmqtt.Client, connection: Any, data: bytes) -> bool:
    """Write ``data`` (say, many PUBACK packets) in one write if ``connection`` is still the
    client's live connection; False, and nothing sent, otherwise."""
    if not data:
        return True
    if connection is None or connection is not current_connection(client):
        return False
    if connection.is_closing():
        return False
    connection.send_package(data)
    return True


def pause_reading(connection: Any) -> bool:
    """Stop reading from ``connection``'s socket (TCP then pushes back on the broker); False
    when it has no open transport."""
    transport = getattr(connection, "_transport", None)  # gmqtt 0.8: MQTTConnection's socket
    if transport is None or transport.is_closing():
        return False
    transport.pause_reading()
    return True


def resume_reading(connection: Any) -> None:
    """Undo ``pause_reading`` (nothing happens on a closed connection)."""
    transport = getattr(connection, "_transport", None)  # gmqtt 0.8: MQTTConnection's socket
    if transport is not None and not transport.is_closing():
        transport.resume_reading()
