"""A gmqtt client built from ``MqttConfig``, and a connect loop with capped exponential backoff.

gmqtt is imported here only, so programs that never talk MQTT do not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import gmqtt

from bt_mqtt.core.mqttconfig import MqttConfig

log = logging.getLogger(__name__)


def build_client(
    cfg: MqttConfig,
    client_id: str,
    *,
    password: str | None = None,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
    optimistic_acks: bool = True,
    session_expiry_s: int | None = None,
) -> gmqtt.Client:
    """A configured, unconnected client.  ``will`` is (topic, payload), sent retained at QoS 1."""
    kwargs: dict[str, Any] = {}
    if session_expiry_s is not None:
        kwargs["session_expiry_interval"] = session_expiry_s
    will_message = gmqtt.Message(will[0], will[1], qos=1, retain=True) if will else None
    client = gmqtt.Client(
        client_id,
        clean_session=clean_session,
        optimistic_acknowledgement=optimistic_acks,
        will_message=will_message,
        **kwargs,
    )
    if cfg.username is not None:
        client.set_auth_credentials(cfg.username, password)
    return client


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
                exc,
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
        return True
    return False
