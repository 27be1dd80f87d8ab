"""The demo's scenario: 30+ simulated devices around three scanners, as an endless event stream.

Thermometers of several firmware families, a Ruuvi, beacons, an encrypted BTHome sensor (its key
is ``DEMO_BINDKEY``), Xiaomi and Govee hygrometers, plus phones that rotate their random address
and other devices no parser knows.  Coverage overlaps: most devices are heard by two or three
scanners, each with its own signal strength.  Pure code: ``events`` is deterministic for a seed.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Callable, Iterator

from attrs import define

from bt_mqtt.core.advert import Advert
from bt_mqtt.demo import encoders as enc

SCANNERS = ("livingroom", "kitchen", "garden")
DEMO_BINDKEY_MAC = "54:48:E6:8F:80:A5"
DEMO_BINDKEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")

Maker = Callable[[float, int, int], Advert]  # (t, rssi, n-th advert) -> Advert


@define
class Device:
    """One simulated device: how it advertises and how loudly each scanner hears it."""

    label: str
    kind: str
    interval_s: float
    rssi: dict[str, int]
    make: Maker


@define(order=True)
class Event:
    """An advertisement heard by one scanner at time ``t`` (seconds from the start)."""

    t: float
    scanner_id: str
    advert: Advert


def _wave(t: float, base: float, amp: float, period: float, phase: float) -> float:
    return base + amp * math.sin(2 * math.pi * t / period + phase)


def _mac(rng: random.Random, oui: str | None = None, static_random: bool = False) -> str:
    tail = [rng.randrange(256) for _ in range(3 if oui else 6)]
    if oui is None and static_random:
        tail[0] |= 0xC0
    parts = ([oui] if oui else []) + [f"{b:02X}" for b in tail]
    return ":".join(parts)


def _coverage(rng: random.Random) -> dict[str, int]:
    heard = rng.sample(SCANNERS, rng.choice((1, 2, 2, 3, 3)))
    return {s: rng.randrange(-92, -45) for s in heard}


def _sensor(kind: str, mac: str, ph: float, level: float) -> Maker:
    """A maker for one thermometer family; ``level`` shifts its climate and battery."""

    def temp(t: float, base: float, amp: float = 1.5) -> float:
        return _wave(t, base, amp, 600, ph)

    def hum(t: float, base: float = 50.0) -> float:
        return _wave(t, base, 6, 900, ph)

    def make(t: float, r: int, n: int) -> Advert:
        if kind == "bthome":
            return enc.bthome_plain(mac, r, n, temp(t, 21.5), hum(t), int(90 - level))
        if kind == "ruuvi":
            return enc.ruuvi_df5(
                mac,
                r,
                n,
                temp(t, 8 + 8 * level, 3),
                hum(t, 60),
                _wave(t, 1008, 4, 3000, ph),
                2.95,
                n // 20,
            )
        if kind == "atc1441":
            return enc.atc1441(mac, r, n, temp(t, 22), round(hum(t, 45)), 88, 3.01)
        if kind == "pvvx":
            return enc.pvvx(mac, r, n, temp(t, 20.5), hum(t), 93, 2.98)
        if kind == "xiaomi":
            return enc.mibeacon_th(mac, r, n, temp(t, 23), hum(t, 40))
        if kind == "qingping":
            return enc.qingping_air(
                mac,
                r,
                temp(t, 22.5),
                hum(t, 42),
                int(_wave(t, 12, 6, 300, ph)),
                int(_wave(t, 20, 8, 300, ph)),
                int(_wave(t, 800, 250, 1200, ph)),
            )
        if kind == "govee":
            return enc.govee_h5075(
                mac, r, temp(t, 4 - 6 * level, 2), hum(t, 70), int(100 - 7 * level)
            )
        raise ValueError(kind)

    return make


def _secure(t: float, r: int, n: int) -> Advert:
    return enc.bthome_encrypted(
        DEMO_BINDKEY_MAC,
        r,
        DEMO_BINDKEY,
        n + 1,
        _wave(t, 19, 1.5, 500, 1),
        _wave(t, 55, 4, 700, 1),
        77,
    )


def _ibeacon(mac: str, minor: int) -> Maker:
    store = uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e")
    return lambda t, r, n: enc.ibeacon(mac, r, store, 100, minor, -59)


def _altbeacon(mac: str, beacon_id: bytes) -> Maker:
    return lambda t, r, n: enc.altbeacon(mac, r, 0x0118, beacon_id, -62)


def _eddystone(mac: str, namespace: bytes, instance: bytes) -> Maker:
    def make(t: float, r: int, n: int) -> Advert:
        if n % 3 == 2:  # every third frame is telemetry
            return enc.eddystone_tlm(mac, r, 2.9, _wave(t, 20, 1, 600, 0), n * 10, t + 86400)
        return enc.eddystone_uid(mac, r, namespace, instance, -20)

    return make


def _phone(base: int, model: int) -> Maker:
    def make(t: float, r: int, n: int) -> Advert:
        epoch = int(t // 15)  # a new resolvable private address every 15 s
        raw = ((base + epoch * 7919) & ((1 << 46) - 1)) | (0x40 << 40)
        mac = ":".join(f"{(raw >> (8 * k)) & 0xFF:02X}" for k in range(5, -1, -1))
        nearby = bytes([0x10, 0x05, model, 0x18, n & 0xFF, 0x3C, 0x2A])
        return Advert(mac=mac, rssi=r, address_type="random", manufacturer_data={0x004C: nearby})

    return make


def _unknown(mac: str, company: int, payload: bytes) -> Maker:
    def make(t: float, r: int, n: int) -> Advert:
        data = payload[:-1] + bytes([n & 0xFF])
        return Advert(mac=mac, rssi=r, address_type="random", manufacturer_data={company: data})

    return make


SENSOR_FAMILIES = (
    ("bthome", 4, "A4:C1:38", 3.0),
    ("ruuvi", 3, None, 2.0),
    ("atc1441", 4, "A4:C1:38", 5.0),
    ("pvvx", 4, "A4:C1:38", 5.0),
    ("xiaomi", 3, "58:2D:34", 4.0),
    ("govee", 3, "A4:C1:38", 3.0),
    ("qingping", 2, "58:2D:34", 6.0),
)


def build_devices(seed: int = 7) -> list[Device]:
    """The scenario's devices, the same for the same seed."""
    rng = random.Random(seed)
    devs: list[Device] = []

    def add(label: str, kind: str, interval: float, make: Maker) -> None:
        devs.append(Device(label, kind, interval, _coverage(rng), make))

    for kind, count, oui, interval in SENSOR_FAMILIES:
        for i in range(count):
            mac = _mac(rng, oui, static_random=oui is None)
            add(f"{kind}-{i}", kind, interval, _sensor(kind, mac, rng.random() * 6, i))
    devs.append(
        Device(
            "bthome-secure", "bthome_encrypted", 4.0, {"livingroom": -58, "kitchen": -77}, _secure
        )
    )
    for i in range(3):
        add(f"ibeacon-{i}", "ibeacon", 1.0, _ibeacon(_mac(rng, static_random=True), i + 1))
    for i in range(2):
        bid = bytes(rng.randrange(256) for _ in range(20))
        add(f"altbeacon-{i}", "altbeacon", 1.0, _altbeacon(_mac(rng, static_random=True), bid))
    for i in range(2):
        ns = bytes(rng.randrange(256) for _ in range(10))
        inst = bytes([0, 0, 0, 0, 0, i + 1])
        add(f"eddystone-{i}", "eddystone", 1.0, _eddystone(_mac(rng, static_random=True), ns, inst))
    for i in range(4):
        add(f"phone-{i}", "phone", 0.5, _phone(rng.randrange(1 << 40), 0x01 + i))
    for i, company in enumerate((0x0006, 0x0075, 0x02E5)):
        payload = bytes(rng.randrange(256) for _ in range(10))
        add(
            f"unknown-{i}",
            "unknown",
            2.0,
            _unknown(_mac(rng, static_random=True), company, payload),
        )
    return devs


def events(devices: list[Device], seed: int = 7, start: float = 0.0) -> Iterator[Event]:
    """Every advertisement every scanner hears, in time order, forever."""
    rng = random.Random(seed)
    heap: list[tuple[float, int, int]] = []
    for idx, d in enumerate(devices):
        heapq.heappush(heap, (start + rng.random() * d.interval_s, idx, 0))
    while True:
        t, idx, n = heapq.heappop(heap)
        d = devices[idx]
        for scanner, base in d.rssi.items():
            if rng.random() < 0.05:  # a missed packet now and then
                continue
            yield Event(t, scanner, d.make(t, base + rng.randrange(-4, 5), n))
        jitter = d.interval_s * (0.9 + 0.2 * rng.random())
        heapq.heappush(heap, (t + jitter, idx, n + 1))
