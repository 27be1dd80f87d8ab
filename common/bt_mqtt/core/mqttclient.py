"""A gmqtt client built from ``MqttConfig``, and a connect loop with capped exponential backoff.

gmqtt is imported here and in ``gmqtt_adapter`` only, so programs that never talk MQTT do not
pay for it.  The client is ``gmqtt_adapter.BackoffClient`` (reconnects back off, doubling up to
a cap), optionally with ``gmqtt_adapter.BoundedQosStorage`` (a bounded QoS 1 resend store that
frees its packet ids); both rely on gmqtt internals, which the adapter checks when the first
client is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import gmqtt

from bt_mqtt.core.gmqtt_adapter import BackoffClient, BoundedQosStorage, check, jittered
from bt_mqtt.core.mqttconfig import MqttConfig

__all__ = ["BackoffClient", "BoundedQosStorage", "build_client", "connect_with_backoff"]

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
    qos_queue_limit: int | None = None,
    receive_maximum: int | None = None,
) -> BackoffClient:
    """A configured, unconnected client.  ``will`` is (topic, payload), sent retained at QoS 1.

    ``qos_queue_limit`` bounds gmqtt's in-flight QoS queue (see ``BoundedQosStorage``);
    ``receive_maximum`` is how many unacknowledged QoS 1 messages the broker may send us.
    """
    check()
    kwargs: dict[str, Any] = {}
    if session_expiry_s is not None:
        kwargs["session_expiry_interval"] = session_expiry_s
    if receive_maximum is not None:
        kwargs["receive_maximum"] = receive_maximum
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
    jitter: float = 0.0,
    refused_cap_s: float | None = None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Connect, retrying with doubling delays up to ``cap_s`` (``refused_cap_s``, when given,
    after the broker answered and refused, say a wrong password: retrying fast cannot help),
    each shortened at random by up to ``jitter`` (a fraction) so that many clients do not retry
    in step; False if ``stop`` was set first.

    After the first success gmqtt's own reconnect takes over (unlimited retries; a
    ``BackoffClient`` backs off the same way, other clients wait a fixed delay).
    """
    delay = initial_s
    ssl = cfg.ssl_context()
    while stop is None or not stop.is_set():
        try:
            await client.connect(cfg.host, cfg.port, ssl=ssl, keepalive=cfg.keepalive_s)
        except (TimeoutError, OSError, gmqtt.MQTTConnectError) as exc:
            wait = jittered(delay, jitter)
            log.warning(
                "mqtt connect to %s:%s failed, retrying in %.1fs: %s",
                cfg.host,
                cfg.port,
                wait,
                _tls_hint(cfg, exc),
                extra={"event": "mqtt_connect_failed"},
            )
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            refused = isinstance(exc, gmqtt.MQTTConnectError) and refused_cap_s is not None
            delay = min(delay * 2, refused_cap_s if refused and refused_cap_s else cap_s)
            continue
        client.reconnect_retries = -1
        client.reconnect_delay = min(max(initial_s, 1.0), cap_s)
        if isinstance(client, BackoffClient):
            client.backoff_initial_s = initial_s
            client.backoff_cap_s = cap_s
            client.backoff_jitter = jitter
        return True
    return False
