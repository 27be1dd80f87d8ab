"""The HA bridge: an MQTT client of its own beside the ingest, publishing HA discovery.

The ingest hands it each batch's parse results as soon as the batch is planned (``feed``, a
``Heard``: the latest readings per device, already corrected), so no advert is decoded twice.
It subscribes (QoS 1, clean session: nothing queues while it is down) to the scanners' status
topics, the alert topics, HA's birth topic and the discovery configs under HA's prefix, and
publishes what ``Tracker`` says.  Its availability topic carries a retained ``online``, and
``offline`` as its last will and when it stops.

Retained configs of devices the configuration now excludes (``ignore``, ``homeassistant:
false``, not listed) are emptied as they are seen, so removing a device from discovery removes
its entities at the next start.  ``remove_all`` empties every config this bridge ever made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import gmqtt

from bt_mqtt.core.mqttclient import build_client, connect_with_backoff
from bt_mqtt.core.topics import ALERT, STATUS, Topics
from bt_mqtt.core.version import VERSION
from bt_mqtt.subscriber import receiver
from bt_mqtt.subscriber.config import SubscriberConfig
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.hass import discovery as disc
from bt_mqtt.subscriber.hass.tracker import Publish, Tracker
from bt_mqtt.subscriber.heard import Heard
from bt_mqtt.subscriber.ledger import Loss

log = logging.getLogger(__name__)
TICK_S: Final = 1.0


def topics_for(cfg: SubscriberConfig) -> Topics:
    return Topics(cfg.mqtt.topic_prefix, cfg.homeassistant.prefix)


def excluded_node(tracker: Tracker, topic: str, topics: Topics) -> str | None:
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
        self,
        cfg: SubscriberConfig,
        *,
        mqtt_password: str | None,
        loss: Callable[[], Mapping[str, Loss]] | None = None,
    ) -> None:
        self.cfg = cfg
        self._loss = loss  # the ingest's seq ledger figures by scanner
        self.topics = topics_for(cfg)
        self.tracker = Tracker(cfg.homeassistant, Devices(cfg.devices), self.topics, VERSION)
        self._password = mqtt_password
        self._client: gmqtt.Client | None = None
        self._acks: list[bytes] = []
        self._ack_conn: Any = None
        self._flush_scheduled = False
        self._birth: asyncio.TimerHandle | None = None
        self.stats: dict[str, int] = {
            "batches": 0,
            "adverts": 0,
            "decoded": 0,
            "invalid": 0,
            "heartbeats": 0,
            "alerts": 0,
            "published": 0,
            "removed": 0,
            "births": 0,
        }

    def feed(self, heard: Heard) -> None:
        """One ingest batch's parse results (called on the bridge's event loop).  Before the
        bridge is connected they still update its state, which it says on connecting."""
        self.stats["batches"] += 1
        self.stats["adverts"] += heard.adverts()
        self.stats["decoded"] += len(heard)
        self._send(self.tracker.heard(heard))

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
        if topic == t.ha_status():
            if payload.strip() == b"online":
                self.stats["births"] += 1
                self._schedule_birth()
            return
        if topic.startswith(t.ha_prefix + "/"):
            mac = excluded_node(self.tracker, topic, t) if payload else None
            if mac is not None:
                log.info("removing %s from Home Assistant", mac, extra={"event": "ha_removed"})
                self.stats["removed"] += 1
                parts = topic.split("/")
                gone = [Publish(topic, b"")]
                if not parts[-2].startswith("alert_"):
                    gone.append(Publish(t.device_state(mac, parts[-2]), b""))
                self._send(gone)
            return
        route = t.classify(topic)
        if route is None:
            return
        if route.kind == ALERT and route.alert_kind and route.subject:
            self.stats["alerts"] += 1
            self._send(self.tracker.alert(route.alert_kind, route.subject, bool(payload)))
        elif route.kind == STATUS and route.scanner_id and payload:
            try:
                obj = json.loads(payload)
            except ValueError:
                self.stats["invalid"] += 1
                return
            if isinstance(obj, dict):
                self.stats["heartbeats"] += 1
                loss = self._loss_pct(route.scanner_id)
                self._send(self.tracker.heartbeat(time.time(), route.scanner_id, obj, loss))
            else:
                self.stats["invalid"] += 1

    def _loss_pct(self, scanner_id: str) -> float | None:
        figures = self._loss().get(scanner_id) if self._loss is not None else None
        if figures is None or figures.published <= 0:
            return None
        return 100.0 * figures.missing / figures.published

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
        filters = [t.status_filter(), t.alert_filter(), t.ha_status()]
        subs = [gmqtt.Subscription(f, qos=1) for f in filters]
        # the configs already retained (to empty excluded ones), not the bridge's own again
        subs += [
            gmqtt.Subscription(f, qos=1, no_local=True)
            for f in t.discovery_filters(disc.COMPONENTS)
        ]
        client.subscribe(subs)
        # after the SUBSCRIBE on the same connection: the broker handles them in order, so once
        # "online" is retained the bridge hears what is published
        client.publish(t.bridge_status(), disc.ONLINE.encode(), qos=1, retain=True)
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
            will=(self.topics.bridge_status(), disc.OFFLINE.encode()),
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
                self._send(self.tracker.tick(time.time()))
        finally:
            client.publish(self.topics.bridge_status(), disc.OFFLINE.encode(), qos=1, retain=True)
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
        elif topic.startswith(f"{topics.prefix}/ha/"):
            states.append(topic)

    client = build_client(cfg.mqtt, cfg.homeassistant.client_id + "-remove", password=mqtt_password)
    receiver.install(client, sink)
    await connect_with_backoff(client, cfg.mqtt)
    client.subscribe(
        [
            gmqtt.Subscription(f, qos=0)
            for f in [*topics.discovery_filters(disc.COMPONENTS), topics.bridge_filter()]
        ]
    )
    await asyncio.sleep(settle_s)
    for topic in found + states:
        client.publish(topic, b"", qos=1, retain=True)
    await asyncio.sleep(0.5)
    await client.disconnect()
    return len(found)


def make_bridge(
    cfg: SubscriberConfig,
    mqtt_password: str | None,
    loss: Callable[[], Mapping[str, Loss]] | None = None,
) -> Bridge | None:
    """The bridge when ``homeassistant.discovery`` is on (give ``Bridge.feed`` to the ingest);
    ``loss`` reads the ingest's seq-ledger figures (transit loss per scanner)."""
    if not cfg.homeassistant.discovery:
        return None
    return Bridge(cfg, mqtt_password=mqtt_password, loss=loss)


async def run_beside(bridge: Bridge | None, stop: asyncio.Event, main: Any) -> None:
    """Await ``main`` (the ingest), with ``bridge`` (if any) running beside it; the bridge stops
    when either ``stop`` is set or ``main`` ends, and its failure never stops the ingest."""
    if bridge is None:
        await main
        return
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
