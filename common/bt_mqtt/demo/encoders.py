"""Encoders that build valid advertisements of the common sensor and beacon formats.

They give the BlueZ simulator realistic traffic (the demo scenario) and are written from the
formats' public layouts, independently of the parsers that decode them.  Each returns the
advertisement fields as an ``Advert`` for one device at one moment.
"""

from __future__ import annotations

import struct
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes, uuid16

BTHOME = uuid16(0xFCD2)
ENV_SENSING = uuid16(0x181A)
MIBEACON = uuid16(0xFE95)
EDDYSTONE = uuid16(0xFEAA)


def bthome_plain(
    mac: str, rssi: int, packet_id: int, temp_c: float, hum_pct: float, battery: int
) -> Advert:
    """BTHome v2, unencrypted: packet id, battery, temperature (0.01), humidity (0.01)."""
    body = bytes([0x40]) + _bthome_objects(packet_id, temp_c, hum_pct, battery)
    return Advert(
        mac=mac, rssi=rssi, address_type="public", name="DIY-sensor", service_data={BTHOME: body}
    )


def _bthome_objects(packet_id: int, temp_c: float, hum_pct: float, battery: int) -> bytes:
    return (
        struct.pack("<BB", 0x00, packet_id & 0xFF)
        + struct.pack("<BB", 0x01, battery)
        + struct.pack("<Bh", 0x02, round(temp_c * 100))
        + struct.pack("<BH", 0x03, round(hum_pct * 100))
    )


def bthome_encrypted(
    mac: str, rssi: int, key: bytes, counter: int, temp_c: float, hum_pct: float, battery: int
) -> Advert:
    """BTHome v2 with AES-CCM (4-byte MIC); nonce = MAC + UUID16 LE + device info + counter."""
    info = 0x41
    plain = _bthome_objects(counter, temp_c, hum_pct, battery)[2:]  # no packet id when encrypted
    ctr = struct.pack("<I", counter)
    nonce = mac_bytes(mac) + b"\xd2\xfc" + bytes([info]) + ctr
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, plain, None)
    body = bytes([info]) + sealed[:-4] + ctr + sealed[-4:]
    return Advert(
        mac=mac, rssi=rssi, address_type="public", name="BTHome secure", service_data={BTHOME: body}
    )


def ruuvi_df5(
    mac: str,
    rssi: int,
    seq: int,
    temp_c: float,
    hum_pct: float,
    pressure_hpa: float,
    voltage_v: float,
    movement: int,
) -> Advert:
    """Ruuvi data format 5 (RAWv2) under company id 0x0499."""
    power = ((round(voltage_v * 1000) - 1600) << 5) | ((4 + 40) // 2)
    body = struct.pack(
        ">BhHHhhhHBH",
        5,
        round(temp_c / 0.005),
        round(hum_pct / 0.0025),
        round(pressure_hpa * 100) - 50000,
        12,
        -8,
        1012,
        power,
        movement & 0xFF,
        seq & 0xFFFF,
    ) + mac_bytes(mac)
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="random",
        name=f"Ruuvi {mac[-5:].replace(':', '')}",
        manufacturer_data={0x0499: body},
    )


def atc1441(
    mac: str, rssi: int, counter: int, temp_c: float, hum_pct: int, battery: int, voltage_v: float
) -> Advert:
    """ATC1441 custom firmware: service data 0x181A, big-endian fields."""
    body = mac_bytes(mac) + struct.pack(
        ">hBBHB", round(temp_c * 10), hum_pct, battery, round(voltage_v * 1000), counter & 0xFF
    )
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="public",
        name=f"ATC_{mac[-8:].replace(':', '')}",
        service_data={ENV_SENSING: body},
        service_uuids=[ENV_SENSING],
    )


def pvvx(
    mac: str, rssi: int, counter: int, temp_c: float, hum_pct: float, battery: int, voltage_v: float
) -> Advert:
    """pvvx custom firmware: service data 0x181A, little-endian fields, reversed MAC."""
    body = mac_bytes(mac)[::-1] + struct.pack(
        "<hHHBBB",
        round(temp_c * 100),
        round(hum_pct * 100),
        round(voltage_v * 1000),
        battery,
        counter & 0xFF,
        0x05,
    )
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="public",
        name=f"LYW_{mac[-8:].replace(':', '')}",
        service_data={ENV_SENSING: body},
        service_uuids=[ENV_SENSING],
    )


def ibeacon(
    mac: str, rssi: int, beacon_uuid: uuid.UUID, major: int, minor: int, power_1m: int
) -> Advert:
    """Apple iBeacon: company 0x004C, type 0x02, length 0x15."""
    body = b"\x02\x15" + beacon_uuid.bytes + struct.pack(">HHb", major, minor, power_1m)
    return Advert(mac=mac, rssi=rssi, address_type="random", manufacturer_data={0x004C: body})


def altbeacon(mac: str, rssi: int, company: int, beacon_id: bytes, ref_rssi: int) -> Advert:
    """AltBeacon: 0xBEAC code, 20-byte id, reference RSSI at 1 m, one reserved byte."""
    body = b"\xbe\xac" + beacon_id[:20].ljust(20, b"\0") + struct.pack(">bB", ref_rssi, 0)
    return Advert(mac=mac, rssi=rssi, address_type="random", manufacturer_data={company: body})


def eddystone_uid(mac: str, rssi: int, namespace: bytes, instance: bytes, tx_0m: int) -> Advert:
    """Eddystone-UID frame (0x00): TX power at 0 m, 10-byte namespace, 6-byte instance."""
    body = struct.pack(">Bb", 0x00, tx_0m) + namespace[:10] + instance[:6] + b"\0\0"
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="random",
        service_data={EDDYSTONE: body},
        service_uuids=[EDDYSTONE],
    )


def eddystone_tlm(
    mac: str, rssi: int, voltage_v: float, temp_c: float, adv_count: int, uptime_s: float
) -> Advert:
    """Eddystone-TLM frame (0x20, version 0): battery mV, 8.8 temperature, counters."""
    body = struct.pack(
        ">BBHhII",
        0x20,
        0,
        round(voltage_v * 1000),
        round(temp_c * 256),
        adv_count,
        round(uptime_s * 10),
    )
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="random",
        service_data={EDDYSTONE: body},
        service_uuids=[EDDYSTONE],
    )


def mibeacon_th(mac: str, rssi: int, counter: int, temp_c: float, hum_pct: float) -> Advert:
    """Xiaomi MiBeacon v2 (LYWSDCGQ, product 0x01AA), plain, object 0x100D temp + humidity."""
    body = (
        struct.pack("<HHB", 0x2050, 0x01AA, counter & 0xFF)
        + mac_bytes(mac)[::-1]
        + struct.pack("<HBhH", 0x100D, 4, round(temp_c * 10), round(hum_pct * 10))
    )
    return Advert(
        mac=mac, rssi=rssi, address_type="public", name="MJ_HT_V1", service_data={MIBEACON: body}
    )


def govee_h5075(mac: str, rssi: int, temp_c: float, hum_pct: float, battery: int) -> Advert:
    """Govee H5072/H5075: company 0xEC88, one 24-bit packed temperature/humidity value."""
    packed = round(abs(temp_c) * 10) * 1000 + round(hum_pct * 10)
    if temp_c < 0:
        packed |= 0x800000
    body = b"\x00" + packed.to_bytes(3, "big") + bytes([battery, 0])
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="public",
        name=f"GVH5075_{mac[-5:].replace(':', '')}",
        manufacturer_data={0xEC88: body},
        service_uuids=[uuid16(0xEC88)],
    )


QINGPING = uuid16(0xFDCD)


def qingping_air(
    mac: str, rssi: int, temp_c: float, hum_pct: float, pm25: int, pm10: int, co2_ppm: int
) -> Advert:
    """Qingping air monitor (CGDN1 type 0x0E): service data 0xFDCD, little-endian records."""
    body = (
        bytes([0x88, 0x0E])
        + mac_bytes(mac)[::-1]
        + struct.pack("<BBhH", 0x01, 4, round(temp_c * 10), round(hum_pct * 10))
        + struct.pack("<BBHH", 0x12, 4, pm25, pm10)
        + struct.pack("<BBH", 0x13, 2, co2_ppm)
    )
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type="public",
        name="Qingping Air Monitor Lite",
        service_data={QINGPING: body},
    )
