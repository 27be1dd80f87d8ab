"""The HA bridge: an MQTT client of its own beside the ingest, publishing HA discovery.

It subscribes (QoS 1, clean session: nothing queues while it is down) to the raw adverts, the
scanners' status topics, HA's birth topic and the discovery configs under HA's prefix; decodes
adverts with the parser registry; and publishes what ``Tracker`` says.  Its availability topic
carries a retained ``online``, and ``offline`` as its last will and when it stops.

Retained configs of devices the configuration now excludes (``ignore``, ``homeassistant:
false``, not listed) are emptied as they are seen, so removing a device from discovery removes
its entities at the next start.  ``remove_all`` empties every config this bridge ever made.
Adverts that fail validation are counted here and otherwise left to the ingest, which keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Final

import gmqtt

from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.version import VERSION
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber import receiver
from bt_mqtt.subscriber.config import SubscriberConfig, bindkeys
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.hass import discovery as disc
from bt_mqtt.subscriber.hass.tracker import Publish, Tracker

log = logging.getLogger(__name__)
TICK_S: Final = 1.0
SEEN_MAX: Final = 50_000  # devices whose last content is remembered


def topics_for(cfg: SubscriberConfig) -> disc.Topics:
    return disc.Topics(cfg.homeassistant.prefix, cfg.mqtt.topic_prefix)


def excluded_node(tracker: Tracker, topic: str, topics: disc.Topics) -> str | None:
    """The MAC of a retained device config under HA's prefix that the configuration excludes
    now (None: keep it, or not ours)."""
    parts = topic[len(topics.ha_prefix) + 1 :].split("/")
    if len(parts) != 4 or not parts[1].startswith("btmqtt_") or "scanner" in parts[1]:
        return None
    hexmac = parts[1][len("btmqtt_") :]
    if len(hexmac) != 12:
        return None
    mac = ":".join(hexmac[i : i + 2] for i in range(0, 12, 2)).upper()
    settings = tracker.devices.get(mac)
    if settings.ignore or settings.homeassistant is False:
        return mac
    if tracker.cfg.devices == "listed" and settings.homeassistant is not True:
        return None if tracker.devices.listed(mac) else mac
    return None


class Bridge:
    """See the module docstring.  ``stats`` counts what it did."""

    def __init__(
        self, cfg: SubscriberConfig, registry: Registry, *, mqtt_password: str | None
    ) -> None:
        self.cfg = cfg
        self.registry = registry
        self.topics = topics_for(cfg)
        self.tracker = Tracker(cfg.homeassistant, Devices(cfg.devices), self.topics, VERSION)
        self.ctx = ParseContext(bindkeys=bindkeys(cfg))
        self._password = mqtt_password
        self._client: gmqtt.Client | None = None
        self._acks: list[bytes] = []
        self._ack_conn: Any = None
        self._flush_scheduled = False
        self._birth: asyncio.TimerHandle | None = None
        self._max_payload = cfg.ingest.max_payload_bytes
        # MAC as sent -> (content key, advert, parse result) of its last decoded content
        self._seen: dict[str, tuple[tuple[str, str], Advert, ParseResult | None]] = {}
        self.stats: dict[str, int] = {
            "adverts": 0,
            "decoded": 0,
            "invalid": 0,
            "heartbeats": 0,
            "published": 0,
            "removed": 0,
            "births": 0,
            "reused": 0,
        }

    # -- outgoing ---------------------------------------------------------------------------
    def _send(self, messages: list[Publish]) -> None:
        client = self._client
        if client is None or not messages:
            return
        for msg in messages:
            client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        self.stats["published"] += len(messages)

    def _flush_acks(self) -> None:
        self._flush_scheduled = False
        if self._client is not None and self._acks:
            receiver.send_acks(self._client, self._ack_conn, b"".join(self._acks))
        self._acks.clear()

    # -- incoming ---------------------------------------------------------------------------
    def _on_publish(self, topic: str, payload: bytes, ack: bytes | None, connection: Any) -> None:
        try:
            self._dispatch(topic, payload)
        except Exception:  # a bug here must not stop the bridge (or the ingest beside it)
            log.exception("HA bridge failed on a message on %r", topic[:200])
        if ack is not None:
            if connection is not self._ack_conn:
                self._flush_acks()
                self._ack_conn = connection
            self._acks.append(ack)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_acks)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        t = self.topics
        now = time.monotonic()
        if topic.startswith(t.topic_prefix + "/raw/"):
            self.stats["adverts"] += 1
            self._raw(now, topic[len(t.topic_prefix) + 5 :], payload)
        elif topic == t.ha_status:
            if payload.strip() == b"online":
                self.stats["births"] += 1
                self._schedule_birth()
        elif topic.startswith(t.ha_prefix + "/"):
            mac = excluded_node(self.tracker, topic, t) if payload else None
            if mac is not None:
                log.info("removing %s from Home Assistant", mac, extra={"event": "ha_removed"})
                self.stats["removed"] += 1
                parts = topic.split("/")
                self._send([Publish(topic, b""), Publish(t.device_state(mac, parts[-2]), b"")])
        elif topic.endswith("/status"):
            scanner_id = topic[len(t.topic_prefix) + 9 : -len("/status")]
            try:
                obj = json.loads(payload)
            except ValueError:
                self.stats["invalid"] += 1
                return
            if isinstance(obj, dict):
                self.stats["heartbeats"] += 1
                self._send(self.tracker.heartbeat(now, scanner_id, obj))

    def _raw(self, now: float, scanner_id: str, payload: bytes) -> None:
        """One advert.  The same device content heard again (by another scanner, or repeated)
        reuses the last validation and decode: only the envelope fields that change are
        checked.  Anything else goes through ``wire`` and the parsers in full."""
        try:
            obj = wire.loads(payload.decode()) if len(payload) <= self._max_payload else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            self.stats["invalid"] += 1
            return
        mac, seq, rssi, boot = obj.get("mac"), obj.get("seq"), obj.get("rssi"), obj.get("boot")
        if not (
            obj.get("v") == 1
            and obj.get("scanner_id") == scanner_id
            and type(seq) is int
            and seq > 0
            and isinstance(boot, str)
        ):  # the envelope fields the bridge uses (the ingest checks every field, and keeps
            self.stats["invalid"] += 1  # what fails)
            return
        key = (repr(obj.get("manufacturer_data")), repr(obj.get("service_data")))
        cached = self._seen.get(mac) if isinstance(mac, str) else None
        if cached is not None and cached[0] == key and type(rssi) is int and -32768 <= rssi < 32768:
            self.stats["reused"] += 1
            known = cached[1]
            adv = Advert(known.mac, rssi, known.address_type, name=known.name)
            self._send(self.tracker.advert(now, scanner_id, seq, boot, adv, cached[2]))
            return
        try:
            advert = wire.advert_from_obj(obj)
        except wire.WireError:
            self.stats["invalid"] += 1
            return
        result = self.registry.parse(advert, self.ctx)
        if result is not None:
            self.stats["decoded"] += 1
        if len(self._seen) >= SEEN_MAX:
            self._seen.clear()
        self._seen[str(mac)] = (key, advert, result)
        self._send(self.tracker.advert(now, scanner_id, seq, boot, advert, result))

    def _schedule_birth(self) -> None:
        """HA subscribes to the state topics only after reading the configs: send the configs
        at once, the states again after ``birth_delay_s``."""
        if self._birth is not None:
            self._birth.cancel()
        self._send([m for m in self.tracker.ha_online() if "/config" in m.topic])
        self._birth = asyncio.get_running_loop().call_later(
            self.cfg.homeassistant.birth_delay_s,
            lambda: self._send([m for m in self.tracker.ha_online() if "/config" not in m.topic]),
        )

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, props: Any) -> None:
        t = self.topics
        filters = [t.raw_filter, t.status_filter, t.ha_status, *t.config_filter()]
        client.subscribe([gmqtt.Subscription(f, qos=1) for f in filters])
        # after the SUBSCRIBE on the same connection: the broker handles them in order, so once
        # "online" is retained the bridge hears what is published
        client.publish(t.bridge_status, disc.ONLINE.encode(), qos=1, retain=True)
        # after a reconnect (the broker may have restarted without persistence) say it all again
        self._send(self.tracker.ha_online())
        log.info(
            "HA bridge connected, discovery under %s/", t.ha_prefix, extra={"event": "ha_connected"}
        )

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        m = self.cfg.mqtt
        client = build_client(
            m,
            self.cfg.homeassistant.client_id,
            password=self._password,
            will=(self.topics.bridge_status, disc.OFFLINE.encode()),
            optimistic_acks=False,
        )
        receiver.install(client, self._on_publish)
        client.on_connect = self._on_connect
        self._client = client
        if not await connect_with_backoff(client, m, stop=stop):
            return
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_S)
                self._send(self.tracker.tick(time.monotonic()))
        finally:
            client.publish(self.topics.bridge_status, disc.OFFLINE.encode(), qos=1, retain=True)
            with contextlib.suppress(Exception):
                await client.disconnect()
            log.info("HA bridge stopped", extra={"event": "ha_stopped", **self.stats})


async def remove_all(
    cfg: SubscriberConfig, *, mqtt_password: str | None, settle_s: float = 2.0
) -> int:
    """Empty every retained discovery config and state this bridge made; the number of configs."""
    topics = topics_for(cfg)
    found: list[str] = []
    states: list[str] = []

    def sink(topic: str, payload: bytes, ack: bytes | None, connection: Any) -> None:
        if not payload:
            return
        if topic.startswith(topics.ha_prefix + "/"):
            parts = topic.split("/")
            if len(parts) >= 4 and parts[-3].startswith("btmqtt_"):
                found.append(topic)
        elif topic.startswith(f"{topics.topic_prefix}/ha/"):
            states.append(topic)

    client = build_client(cfg.mqtt, cfg.homeassistant.client_id + "-remove", password=mqtt_password)
    receiver.install(client, sink)
    await connect_with_backoff(client, cfg.mqtt)
    client.subscribe(
        [
            gmqtt.Subscription(f, qos=0)
            for f in [*topics.config_filter(), f"{topics.topic_prefix}/ha/#"]
        ]
    )
    await asyncio.sleep(settle_s)
    for topic in found + states:
        client.publish(topic, b"", qos=1, retain=True)
    await asyncio.sleep(0.5)
    await client.disconnect()
    return len(found)


async def run_beside(
    cfg: SubscriberConfig,
    mqtt_password: str | None,
    stop: asyncio.Event,
    main: Any,
) -> None:
    """Await ``main`` (the ingest), with the bridge running beside it when
    ``homeassistant.discovery`` is on; the bridge stops when either ``stop`` is set or ``main``
    ends.  The bridge has its own parser registry (the ingest's counts stay its own)."""
    if not cfg.homeassistant.discovery:
        await main
        return
    registry = Registry.default(plugins=cfg.parsers.plugins, theengs=cfg.parsers.theengs)
    bridge = Bridge(cfg, registry, mqtt_password=mqtt_password)
    bridge_stop = asyncio.Event()

    async def relay() -> None:
        await stop.wait()
        bridge_stop.set()

    relaying = asyncio.ensure_future(relay())
    task = asyncio.ensure_future(bridge.run(bridge_stop))

    def report(done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error(
                "the HA bridge failed; the ingest goes on without it",
                exc_info=done.exception(),
                extra={"event": "ha_failed"},
            )

    task.add_done_callback(report)
    try:
        await main
    finally:
        bridge_stop.set()
        relaying.cancel()
        with contextlib.suppress(Exception):  # already logged by report()
            await task
