"""Fixed data, a publisher and waiting helpers for the console tests.

Everything is deterministic: a fixed clock (``CLOCK``), fixed adverts (encoded with the demo
encoders, decoded by the real parser registry) and fixed heartbeats for four scanners in four
states (online, offline, stale, silent).  Data goes through a real Mosquitto.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from bt_mqtt.console.app import ConsoleApp
from bt_mqtt.console.decoding import RegistryDecoder
from bt_mqtt.console.feed import MqttFeed
from bt_mqtt.console.state import ConsoleState, Limits
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.mqttclient import build_client
from bt_mqtt.core.mqttconfig import MqttConfig
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.demo import encoders
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import until

CLOCK = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PREFIX = "bt-mqtt"


def fixed_clock() -> float:
    return CLOCK


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = CLOCK) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _raw(
    mac: str,
    rssi: int,
    *,
    mfr: dict[int, str] | None = None,
    svc: dict[str, str] | None = None,
    name: str | None = None,
    kind: str = "random",
) -> Advert:
    return Advert(
        mac,
        rssi,
        address_type=kind,
        name=name,
        manufacturer_data={k: bytes.fromhex(v) for k, v in (mfr or {}).items()},
        service_data={k: bytes.fromhex(v) for k, v in (svc or {}).items()},
    )


def _adverts() -> list[tuple[str, Advert]]:
    """(scanner, advert) pairs: 5 parsed devices, 5 unknown ones, one heard by two scanners."""
    out: list[tuple[str, Advert]] = [
        ("kitchen", encoders.bthome_plain("A4:C1:38:00:00:01", -61, 1, 21.5, 45.25, 87)),
        ("kitchen", encoders.bthome_plain("A4:C1:38:00:00:01", -59, 2, 21.5, 45.5, 87)),
        ("attic", encoders.bthome_plain("A4:C1:38:00:00:01", -80, 2, 21.5, 45.5, 87)),
        ("kitchen", encoders.ruuvi_df5("C7:3A:00:00:00:02", -72, 10, 4.25, 80.0, 1003.5, 2.95, 1)),
        ("attic", encoders.ruuvi_df5("C7:3A:00:00:00:03", -88, 11, -7.5, 91.0, 998.0, 2.61, 0)),
        ("kitchen", encoders.ibeacon("F0:00:00:00:00:04", -70, uuid.UUID(int=0x1234), 1, 2, -59)),
        ("garage", encoders.bthome_plain("A4:C1:38:00:00:05", -90, 7, 12.0, 60.0, 20)),
        # Unknown: Apple "nearby" (not an iBeacon), Microsoft CDP, Google fast pair, a name only.
        ("kitchen", _raw("6E:11:22:33:44:01", -50, mfr={0x004C: "10050118 44aabb"})),
        ("kitchen", _raw("6E:11:22:33:44:02", -66, mfr={0x004C: "10050118 44aacc"})),
        ("attic", _raw("5A:00:00:00:00:03", -77, mfr={0x0006: "01092002"})),
        ("kitchen", _raw("4B:00:00:00:00:04", -83, svc={uuid16(0xFE2C): "000102"})),
        ("garage", _raw("00:1A:7D:DA:71:05", -91, name="LE-Headphones", kind="public")),
    ]  # fmt: skip
    return out


def advert_messages() -> list[tuple[str, bytes]]:
    """The fixed adverts as (topic, payload), in publish order."""
    msgs = []
    for i, (scanner, adv) in enumerate(_adverts()):
        ts = format_ts(CLOCK - 1.0 + i / 1000)  # seq starts at 1 in a boot (mqtt-schema.md)
        msgs.append((f"{PREFIX}/raw/{scanner}", encode(adv, scanner, "boot1", i + 1, ts)))
    return msgs


def heartbeat(scanner: str, **changes: Any) -> dict[str, Any]:
    """A heartbeat in the agent's format, 20 s old, with ``changes`` applied."""
    hb: dict[str, Any] = {
        "status": "online",
        "scanner_id": scanner,
        "boot": "boot1",
        "version": "0.1.0",
        "ts": format_ts(CLOCK - 20),
        "hostname": f"{scanner}-pi",
        "uptime_s": 3600.0,
        "interval_s": 60,
        "adapter": {"name": "hci0", "address": "B8:27:EB:00:00:01", "powered": True,
                    "discovering": True, "scan_mode": "passive"},
        "counters": {"received": 5000, "filtered": 3, "deduplicated": 4000, "published": 997,
                     "dropped_offline": 0, "dropped_backlog": 0},
        "received_per_s": 12.5,
        "published_per_s": 2.5,
        "last_advert_age_s": 0.4,
        "devices_seen": 40,
        "devices_tracked": 31,
        "cpu_pct": 7.5,
        "rss_mb": 38.0,
    }  # fmt: skip
    hb.update(changes)
    return hb


def heartbeat_messages() -> list[tuple[str, bytes]]:
    """Retained heartbeats: kitchen, attic online; garage offline; shed stale; porch silent."""
    beats = [
        heartbeat("kitchen"),
        heartbeat("attic", received_per_s=3.0, published_per_s=1.5),
        heartbeat("porch", last_advert_age_s=600.0, received_per_s=0.0, published_per_s=0.0),
        heartbeat("garage", status="offline", ts=format_ts(CLOCK - 300)),
        heartbeat("shed", ts=format_ts(CLOCK - 1000), cpu_pct=93.0),
    ]
    return [
        (f"{PREFIX}/scanner/{hb['scanner_id']}/status", json.dumps(hb).encode()) for hb in beats
    ]


async def publish(broker: Broker, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    """Publish at QoS 1 from a fresh gmqtt client and wait until the broker acknowledged all."""
    cfg = MqttConfig(host=broker.host, port=broker.port)
    client = build_client(cfg, f"console-test-pub-{uuid.uuid4().hex[:8]}")
    await client.connect(broker.host, broker.port)
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1, retain=retain)
        await until(lambda: client.qos_storage.is_empty, "publish acknowledgements")
    finally:
        await client.disconnect()


def make_app(broker: Broker, clock: Callable[[], float] = fixed_clock, **kw: Any) -> ConsoleApp:
    cfg = MqttConfig(host=broker.host, port=broker.port, topic_prefix=PREFIX)
    state = ConsoleState(RegistryDecoder(), kw.pop("limits", Limits()))
    return ConsoleApp(state, MqttFeed(cfg), clock=clock, fps=kw.pop("fps", 20.0), **kw)


async def feed_fixed_data(app: ConsoleApp, broker: Broker, heartbeats: bool = True) -> None:
    """Wait for the app's subscription, publish the fixed data, wait until all is ingested."""
    await until(lambda: app.connected, "the console to connect")
    # The subscription is sent from on_connect; a probe message proves it is active.
    probe = (f"{PREFIX}/raw/probe", b"probe")
    while app.state.counters["rejected:invalid_json"] == 0:
        await publish(broker, [probe])
        await asyncio.sleep(0.05)
    base = app.state.counters["adverts"]
    msgs = advert_messages()
    if heartbeats:
        await publish(broker, heartbeat_messages(), retain=True)
    await publish(broker, msgs)
    await until(lambda: app.state.counters["adverts"] >= base + len(msgs), "adverts ingested")
    if heartbeats:
        await until(lambda: app.state.counters["heartbeats"] >= 5, "heartbeats ingested")
    kept = [e for e in app.state.tail if "/probe" not in e.topic]
    app.state.tail.clear()
    app.state.tail.extend(kept)
    app.state.counters.pop("rejected:invalid_json", None)
    app.redraw()
