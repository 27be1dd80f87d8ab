"""A faster receive path for gmqtt: PUBLISH packets straight to a sink, PUBACKs sent in bulk.

gmqtt (0.8) turns every received message into an asyncio task and, with optimistic
acknowledgement off, writes each PUBACK with its own socket write when that task ends; at tens
of thousands of messages a second that is most of the subscriber's CPU.  ``install`` replaces
the client's PUBLISH handler (gmqtt internals, checked by tests/subscriber/test_receiver.py):
the packet is parsed here and ``sink(topic, payload, puback, connection)`` is called
synchronously.  Nothing is acknowledged automatically: ``puback`` is the complete PUBACK packet
of a QoS 1 message (None for QoS 0) and the caller sends the PUBACKs it collected with
``send_acks`` once the messages are safe, on the connection that delivered them only (packet
ids belong to one connection; after a reconnect the broker delivers again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

log = logging.getLogger(__name__)

PUBLISH: Final = 0x30
PUBACK_HEAD: Final = b"\x40\x02"  # PUBACK, remaining length 2: packet id only (reason 0)
TOPIC_CACHE_MAX: Final = 4096

Sink = Callable[[str, bytes, bytes | None, Any], None]


class FastPublish:
    """The PUBLISH handler installed on one client (see the module docstring)."""

    def __init__(self, client: gmqtt.Client, sink: Sink) -> None:
        self._handler = client._package_handler
        self._sink = sink
        self._topics: dict[bytes, str] = {}
        self._handler._handle_publish_packet = self._handle
        self._handler._handler_cache.pop(PUBLISH, None)

    def _topic(self, raw: bytes) -> str:
        topic = self._topics.get(raw)
        if topic is None:
            if len(self._topics) >= TOPIC_CACHE_MAX:
                self._topics.clear()
            topic = self._topics[raw] = raw.decode("utf-8", "replace")
        return topic

    def _handle(self, cmd: int, packet: bytes) -> None:
        qos = (cmd >> 1) & 3
        end = 2 + ((packet[0] << 8) | packet[1])
        topic_raw = packet[2:end]
        ack: bytes | None = None
        if qos:
            ack = PUBACK_HEAD + packet[end : end + 2]
            end += 2
            if qos == 2:  # never sent to us: we subscribe with QoS 1
                log.warning("QoS 2 message on %r handled as QoS 0", topic_raw)
                ack = None
        handler = self._handler
        if handler._connection_state.protocol_version >= MQTTv50:
            if packet[end] == 0:  # no properties, the usual case
                end += 1
            else:
                props, rest = handler._parse_properties(packet[end:])
                if props is None or rest is None:
                    log.error("PUBLISH with invalid properties on %r dropped", topic_raw)
                    return  # gmqtt drops it too; the broker redelivers after reconnect
                alias = props.get("topic_alias")
                if alias:
                    if topic_raw:
                        handler._server_topics_aliases[alias[0]] = topic_raw
                    else:
                        topic_raw = handler._server_topics_aliases.get(alias[0], b"")
                self._sink(self._topic(topic_raw), rest, ack, handler._connection)
                return
        self._sink(self._topic(topic_raw), packet[end:], ack, handler._connection)


def install(client: gmqtt.Client, sink: Sink) -> FastPublish:
    """Route the client's incoming PUBLISH packets to ``sink`` (before connecting)."""
    return FastPublish(client, sink)


def current_connection(client: gmqtt.Client) -> Any:
    """The connection the client's handler is bound to now (None before the first)."""
    return client._package_handler._connection


def send_acks(client: gmqtt.Client, connection: Any, acks: bytes) -> bool:
    """Write ``acks`` (PUBACK packets) in one write if ``connection`` is still the client's
    live connection; False (nothing sent) otherwise."""
    if not acks:
        return True
    if connection is None or connection is not current_connection(client):
        return False
    if connection.is_closing():
        return False
    connection.send_package(acks)
    return True


def pause_reading(connection: Any) -> bool:
    """Stop reading from ``connection``'s socket (TCP then pushes back to the broker); False
    when it has no open transport."""
    transport = getattr(connection, "_transport", None)
    if transport is None or transport.is_closing():
        return False
    transport.pause_reading()
    return True


def resume_reading(connection: Any) -> None:
    """Undo ``pause_reading`` (nothing happens on a closed connection)."""
    transport = getattr(connection, "_transport", None)
    if transport is not None and not transport.is_closing():
        transport.resume_reading()
