"""Realistic advert streams for subscriber tests and the ingest benchmark.

A deterministic mix of BTHome, Ruuvi, ATC, iBeacon and unknown devices, encoded with the v1 wire
codec, plus the readings a fresh parser registry expects for them.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

from attrs import define

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes, uuid16
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

PREFIX = "bt-mqtt"


@define
class Msg:
    topic: str
    payload: bytes
    mac: str
    scanner_id: str
    seq: int


def _bthome(rng: random.Random, i: int) -> dict[str, bytes]:
    temp = rng.randint(-1000, 3500)
    hum = rng.randint(2000, 9000)
    body = bytes([0x40, 0x00, i & 0xFF, 0x01, rng.randint(10, 100), 0x02])
    body += struct.pack("<h", temp) + b"\x03" + struct.pack("<H", hum)
    return {uuid16(0xFCD2): body}


def _ruuvi(rng: random.Random, i: int, mac: str) -> dict[int, bytes]:
    body = struct.pack(
        ">BhHHhhhHBH",
        5,
        rng.randint(-4000, 7000),
        rng.randint(0, 40000),
        rng.randint(40000, 60000),
        rng.randint(-1000, 1000),
        rng.randint(-1000, 1000),
        rng.randint(-1000, 1000),
        (rng.randint(0, 1400) << 5) | 20,
        i & 0xFF,
        i & 0xFFFF,
    )
    return {0x0499: body + mac_bytes(mac)}


def _atc(rng: random.Random, i: int, mac: str) -> dict[str, bytes]:
    body = mac_bytes(mac) + struct.pack(
        ">hBBHB", rng.randint(-200, 350), rng.randint(20, 90), rng.randint(5, 100), 2900, i & 0xFF
    )
    return {uuid16(0x181A): body}


def advert(rng: random.Random, i: int, n_devices: int = 200) -> Advert:
    """One advert of the mix; device ``i % n_devices`` decides the format."""
    dev = rng.randrange(n_devices)
    kind = dev % 8
    mac = f"A4:C1:38:{dev >> 8:02X}:{dev & 0xFF:02X}:{kind:02X}"
    rssi = rng.randint(-100, -30)
    if kind in (0, 1):
        return Advert(mac=mac, rssi=rssi, service_data=_bthome(rng, i), address_type="public")
    if kind == 2:
        return Advert(mac=mac, rssi=rssi, manufacturer_data=_ruuvi(rng, i, mac), name="Ruuvi 88F")
    if kind == 3:
        return Advert(mac=mac, rssi=rssi, service_data=_atc(rng, i, mac), name="ATC_000001")
    if kind == 4:
        data = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e0") + struct.pack(
            ">HHb", 1, dev, -59
        )
        return Advert(mac=mac, rssi=rssi, manufacturer_data={0x004C: data})
    # unknown devices: random addresses and vendor data no parser claims
    mac = f"7E:{rng.randrange(256):02X}:{rng.randrange(256):02X}:00:{dev & 0xFF:02X}:{kind:02X}"
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="random",
        manufacturer_data={0x0075: rng.randbytes(12)},
        service_uuids=[uuid16(0xFE9F)],
    )


def stream(
    n: int,
    *,
    scanners: tuple[str, ...] = ("s1", "s2"),
    boot: str = "boot0001",
    seed: int = 1,
    start: float | None = None,
    n_devices: int = 200,
) -> Iterator[Msg]:
    """``n`` messages round-robin over ``scanners``, seq counting per scanner from 1."""
    rng = random.Random(seed)
    t0 = datetime.now(UTC).timestamp() if start is None else start
    seqs = dict.fromkeys(scanners, 1)
    for i in range(n):
        sid = scanners[i % len(scanners)]
        adv = advert(rng, i, n_devices)
        seq = seqs[sid]
        seqs[sid] += 1
        payload = encode(adv, sid, boot, seq, format_ts(t0 + i * 0.001))
        yield Msg(f"{PREFIX}/raw/{sid}", payload, adv.mac, sid, seq)


def expected_readings(msgs: list[Msg]) -> int:
    """The readings a fresh registry makes of ``msgs`` (each decoded independently)."""
    from bt_mqtt.core.wire import decode  # noqa: PLC0415

    reg = Registry.default(plugins=False)
    total = 0
    for m in msgs:
        res = reg.parse(decode(m.payload).advert, ParseContext())
        if res is not None:
            total += len(res.readings)
    return total
