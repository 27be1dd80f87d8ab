"""A faster receive path for gmqtt: PUBLISH packets straight to a sink, PUBACKs sent in bulk.

gmqtt (0.8) turns every received message into an asyncio task and, with optimistic
acknowledgement off, writes each PUBACK with its own socket write when that task ends; at tens
of thousands of messages a second that is most of the subscriber's CPU.  ``install`` replaces
the client's PUBLISH handler (through ``core.gmqtt_adapter``, the one module that touches gmqtt
internals): the packet is cut by the sans-IO codec (``core.mqttcodec.split_publish``) and
``sink(topic, payload, puback, connection)`` is called synchronously.  Nothing is acknowledged
automatically: ``puback`` is the complete PUBACK packet of a QoS 1 message (None for QoS 0)
and the caller sends the PUBACKs it collected with ``send_acks`` once the messages are safe,
on the connection that delivered them only (packet ids belong to one connection; after a
reconnect the broker delivers again).  A malformed PUBLISH is logged and dropped, as gmqtt
does (it is not acknowledged, so the broker delivers it again after a reconnect).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import gmqtt

from bt_mqtt.core import gmqtt_adapter
from bt_mqtt.core.mqttcodec import PUBACK_HEAD, MalformedPacket, split_publish, topic_alias_of

log = logging.getLogger(__name__)

TOPIC_CACHE_MAX: Final = 4096

Sink = Callable[[str, bytes, bytes | None, Any], None]


class FastPublish:
    """The PUBLISH handler installed on one client (see the module docstring)."""

    def __init__(self, client: gmqtt.Client, sink: Sink) -> None:
        self._client = client
        self._sink = sink
        self._topics: dict[bytes, str] = {}
        gmqtt_adapter.hook_publish(client, self.handle)

    def _topic(self, raw: bytes) -> str:
        topic = self._topics.get(raw)
        if topic is None:
            if len(self._topics) >= TOPIC_CACHE_MAX:
                self._topics.clear()
            topic = self._topics[raw] = raw.decode("utf-8", "replace")
        return topic

    def handle(self, cmd: int, packet: bytes) -> None:
        """One PUBLISH (its first byte and body), as gmqtt hands it over."""
        client = self._client
        try:
            topic_raw, packet_id, props, payload = split_publish(
                cmd, packet, gmqtt_adapter.protocol_version(client)
            )
            if props:
                alias = topic_alias_of(props)
                if alias is not None:
                    topic_raw = gmqtt_adapter.resolve_topic_alias(client, alias, topic_raw)
        except MalformedPacket as exc:
            log.error("malformed PUBLISH dropped: %s", exc, extra={"event": "bad_publish"})
            return  # gmqtt drops it too; the broker redelivers after reconnect
        ack: bytes | None = None
        if packet_id:
            if (cmd >> 1) & 3 == 2:  # never sent to us: we subscribe with QoS 1
                log.warning("QoS 2 message on %r handled as QoS 0", topic_raw)
            else:
                ack = PUBACK_HEAD + packet_id.to_bytes(2, "big")
        connection = gmqtt_adapter.current_connection(client)
        self._sink(self._topic(topic_raw), payload, ack, connection)


def install(client: gmqtt.Client, sink: Sink) -> FastPublish:
    """Route the client's incoming PUBLISH packets to ``sink`` (before connecting)."""
    return FastPublish(client, sink)


def current_connection(client: gmqtt.Client) -> Any:
    """The connection the client reads from now (None before the first)."""
    return gmqtt_adapter.current_connection(client)


def send_acks(client: gmqtt.Client, connection: Any, acks: bytes) -> bool:
    """Write ``acks`` (PUBACK packets) in one write if ``connection`` is still the client's
    live connection; False (nothing sent) otherwise."""
    return gmqtt_adapter.send_on(client, connection, acks)


pause_reading = gmqtt_adapter.pause_reading
resume_reading = gmqtt_adapter.resume_reading
