"""Small independent encoders for generating valid advertisements in tests.

Written from the format descriptions (not from our parsers): BTHome v2 numeric and binary
objects, ATC1441 and pvvx frames, Ruuvi data format 5, Eddystone TLM and iBeacon.  Each
``random_*``/vendor function returns the payload bytes (service data or manufacturer data after
the company id) and the readings a correct decoder must produce under our metric names; fields
holding a format's "not available" sentinel are absent from the readings.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
import uuid

from bt_mqtt.core.bluetooth import mac_bytes

# BTHome v2: object id -> (our metric, size, signed, factor)
BTHOME_NUMERIC: dict[int, tuple[str, int, bool, float]] = {
    0x01: ("battery_pct", 1, False, 1),
    0x02: ("temperature_c", 2, True, 0.01),
    0x03: ("humidity_pct", 2, False, 0.01),
    0x04: ("pressure_hpa", 3, False, 0.01),
    0x05: ("illuminance_lux", 3, False, 0.01),
    0x06: ("mass_kg", 2, False, 0.01),
    0x08: ("dewpoint_c", 2, True, 0.01),
    0x09: ("count", 1, False, 1),
    0x0A: ("energy_kwh", 3, False, 0.001),
    0x0B: ("power_w", 3, False, 0.01),
    0x0C: ("voltage_v", 2, False, 0.001),
    0x0D: ("pm25_ugm3", 2, False, 1),
    0x0E: ("pm10_ugm3", 2, False, 1),
    0x12: ("co2_ppm", 2, False, 1),
    0x13: ("tvoc_ugm3", 2, False, 1),
    0x14: ("moisture_pct", 2, False, 0.01),
    0x3F: ("rotation_deg", 2, True, 0.1),
    0x40: ("distance_mm", 2, False, 1),
    0x41: ("distance_m", 2, False, 0.1),
    0x42: ("duration_s", 3, False, 0.001),
    0x43: ("current_a", 2, False, 0.001),
    0x44: ("speed_m_s", 2, False, 0.01),
    0x46: ("uv_index", 1, False, 0.1),
    0x47: ("volume_l", 2, False, 0.1),
    0x48: ("volume_ml", 2, False, 1),
    0x49: ("volume_flow_rate_m3_h", 2, False, 0.001),
    0x4B: ("gas_m3", 3, False, 0.001),
    0x4D: ("energy_kwh", 4, False, 0.001),
    0x4F: ("water_l", 4, False, 0.001),
    0x51: ("acceleration_ms2", 2, False, 0.001),
    0x52: ("gyroscope_deg_s", 2, False, 0.001),
    0x56: ("conductivity_us_cm", 2, False, 1),
    0x57: ("temperature_c", 1, True, 1),
    0x5C: ("power_w", 4, True, 0.01),
    0x5D: ("current_a", 2, True, 0.001),
    0x5E: ("direction_deg", 2, False, 0.01),
    0x5F: ("precipitation_mm", 2, False, 0.1),
    0x61: ("rotational_speed_rpm", 2, False, 1),
}
BTHOME_BINARY: dict[int, str] = {
    0x0F: "generic_boolean",
    0x10: "power",
    0x11: "opening",
    0x15: "battery_low",
    0x1A: "door",
    0x20: "moisture_detected",
    0x21: "motion",
    0x23: "occupancy",
    0x29: "smoke",
    0x2D: "window",
}


def bthome_object(oid: int, raw: int) -> tuple[bytes, str, float]:
    """One object's bytes, our metric name and the value it stands for."""
    if oid in BTHOME_BINARY:
        return bytes((oid, raw & 1)), BTHOME_BINARY[oid], raw & 1
    metric, size, signed, factor = BTHOME_NUMERIC[oid]
    body = raw.to_bytes(size, "little", signed=signed)
    return bytes((oid,)) + body, metric, raw * factor


def bthome_raw_range(oid: int) -> tuple[int, int]:
    """The raw integer range of an object id."""
    if oid in BTHOME_BINARY:
        return 0, 1
    _, size, signed, _ = BTHOME_NUMERIC[oid]
    if signed:
        return -(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1
    return 0, (1 << (8 * size)) - 1


def random_bthome(rng: random.Random) -> tuple[bytes, dict[str, float]]:
    """A plain BTHome v2 frame of 1-5 objects with distinct metrics."""
    ids = list(BTHOME_NUMERIC) + list(BTHOME_BINARY)
    payload = bytearray(b"\x40")
    expected: dict[str, float] = {}
    for oid in rng.sample(ids, rng.randint(1, 5)):
        lo, hi = bthome_raw_range(oid)
        chunk, metric, value = bthome_object(oid, rng.randint(lo, hi))
        if metric in expected:
            continue
        payload += chunk
        expected[metric] = value
    return bytes(payload), expected


def atc1441(mac: str, rng: random.Random) -> tuple[bytes, dict[str, float]]:
    temp, hum, batt, mv = (
        rng.randint(-400, 600),
        rng.randint(0, 100),
        rng.randint(0, 100),
        rng.randint(1800, 3300),
    )
    data = mac_bytes(mac)
    data += temp.to_bytes(2, "big", signed=True) + bytes((hum, batt)) + mv.to_bytes(2, "big")
    data += bytes((rng.randint(0, 255),))
    return data, {
        "temperature_c": temp / 10,
        "humidity_pct": hum,
        "battery_pct": batt,
        "voltage_v": mv / 1000,
    }


def pvvx(mac: str, rng: random.Random) -> tuple[bytes, dict[str, float]]:
    temp, hum = rng.randint(-4000, 6000), rng.randint(0, 10000)
    mv, batt = rng.randint(1800, 3300), rng.randint(0, 100)
    data = mac_bytes(mac)[::-1]
    data += temp.to_bytes(2, "little", signed=True) + hum.to_bytes(2, "little")
    data += mv.to_bytes(2, "little") + bytes((batt, rng.randint(0, 255), rng.randint(0, 15)))
    return data, {
        "temperature_c": temp / 100,
        "humidity_pct": hum / 100,
        "battery_pct": batt,
        "voltage_v": mv / 1000,
    }


# --- Ruuvi data format 5 (docs.ruuvi.com "Data format 5 (RAWv2)"), company 0x0499 ----------


@dataclasses.dataclass(frozen=True)
class Df5:
    """Raw format-5 fields.  ``mv`` is the battery in mV (1600 + an 11-bit code), ``tx`` the tx
    power in dBm (-40 + 2 * a 5-bit code), ``mac`` 6 bytes; see ``DF5_FIELDS`` for sentinels."""

    t: int
    h: int
    p: int
    ax: int
    ay: int
    az: int
    mv: int
    tx: int
    move: int
    seq: int
    mac: bytes


# field -> (our metric, min valid raw, max valid raw, "not available" raw, raw -> value)
DF5_FIELDS: dict[str, tuple[str, int, int, int, float]] = {
    "t": ("temperature_c", -32767, 32767, -32768, 0.005),
    "h": ("humidity_pct", 0, 65534, 65535, 0.0025),
    "p": ("pressure_hpa", 0, 65534, 65535, 0.01),  # plus 500 hPa
    "ax": ("acceleration_x_g", -32767, 32767, -32768, 0.001),
    "ay": ("acceleration_y_g", -32767, 32767, -32768, 0.001),
    "az": ("acceleration_z_g", -32767, 32767, -32768, 0.001),
    "mv": ("voltage_v", 1600, 3646, 3647, 0.001),
    "tx": ("tx_power_dbm", -40, 20, 22, 1),
    "move": ("movement_count", 0, 254, 255, 1),
    "seq": ("measurement_sequence", 0, 65534, 65535, 1),
}


def encode_df5(v: Df5) -> bytes:
    """The 24-byte format-5 manufacturer data (after the company id) for the fields ``v``."""
    power = ((v.mv - 1600) << 5) | ((v.tx + 40) // 2)
    fields = (v.t, v.h, v.p, v.ax, v.ay, v.az, power, v.move, v.seq)
    return struct.pack(">BhHHhhhHBH", 5, *fields) + v.mac


def df5_readings(v: Df5) -> dict[str, float]:
    """The readings the fields ``v`` stand for; a field at its sentinel is absent."""
    out: dict[str, float] = {}
    for key, (metric, _, _, invalid, factor) in DF5_FIELDS.items():
        raw: int = getattr(v, key)
        if raw != invalid:
            out[metric] = raw * factor + (500 if key == "p" else 0)
    return out


def _edgy(rng: random.Random, lo: int, hi: int, invalid: int) -> int:
    """Mostly uniform in [lo, hi]; sometimes an end of the range or the sentinel."""
    roll = rng.random()
    if roll < 0.06:
        return invalid
    if roll < 0.12:
        return lo
    if roll < 0.18:
        return hi
    return rng.randint(lo, hi)


def random_df5(rng: random.Random) -> Df5:
    """Random format-5 fields with range ends and sentinels mixed in."""
    raw = {k: _edgy(rng, lo, hi, bad) for k, (_, lo, hi, bad, _) in DF5_FIELDS.items()}
    if raw["tx"] != 22:
        raw["tx"] &= ~1  # 2 dBm steps
    mac = b"\xff" * 6 if rng.random() < 0.06 else rng.randbytes(6)
    return Df5(mac=mac, **raw)


def random_ruuvi_df5(rng: random.Random) -> tuple[bytes, dict[str, float]]:
    """A random format-5 frame and its readings."""
    v = random_df5(rng)
    return encode_df5(v), df5_readings(v)


# --- Eddystone TLM (unencrypted, version 0), service data 0xFEAA ------------------------------


def encode_tlm(mv: int, temp: int, count: int, deciseconds: int) -> bytes:
    """A TLM frame: battery mV (0 = n/a), 8.8 fixed-point °C (-0x8000 = n/a), count, uptime."""
    return struct.pack(">BBHhII", 0x20, 0, mv, temp, count, deciseconds)


def tlm_readings(mv: int, temp: int, count: int, deciseconds: int) -> dict[str, float]:
    """The readings of ``encode_tlm(...)`` with the same arguments."""
    out: dict[str, float] = {"adv_count": count, "uptime_s": deciseconds / 10}
    if mv != 0:
        out["voltage_v"] = mv / 1000
    if temp != -0x8000:
        out["temperature_c"] = temp / 256
    return out


def random_tlm(rng: random.Random) -> tuple[bytes, dict[str, float]]:
    """A random TLM frame (negative temperatures, range ends, sentinels) and its readings."""
    mv = _edgy(rng, 1, 0xFFFF, 0)
    temp = _edgy(rng, -0x7FFF, 0x7FFF, -0x8000)
    count, secs = _edgy(rng, 0, 2**32 - 1, 0), _edgy(rng, 0, 2**32 - 1, 0)
    return encode_tlm(mv, temp, count, secs), tlm_readings(mv, temp, count, secs)


# --- iBeacon, manufacturer data of company 0x004C ---------------------------------------------

CYPRESS_SENSOR_UUID = uuid.UUID("00050001-0000-1000-8000-00805f9b0131")


def encode_ibeacon(proximity: uuid.UUID, major: int, minor: int, power: int) -> bytes:
    """Apple's 0x02 0x15 frame: UUID, major, minor (big-endian), measured power at 1 m."""
    return b"\x02\x15" + proximity.bytes + struct.pack(">HHb", major, minor, power)


def ibeacon_readings(
    proximity: uuid.UUID, minor: int, power: int, rssi: int | None
) -> dict[str, float]:
    """Readings: the measured power; the log-distance estimate ``10 ** ((P1m - rssi) / 20)``
    (path-loss exponent 2) to the centimetre when both are known (non-zero) and the RSSI is a
    plausible dBm figure (-127..20); Cypress sensor beacons' humidity and temperature."""
    out: dict[str, float] = {"tx_power_dbm": power}
    if power != 0 and rssi and -127 <= rssi <= 20:
        out["distance_m"] = round(math.pow(10, (power - rssi) / 20), 2)
    if proximity == CYPRESS_SENSOR_UUID:
        out["humidity_pct"] = 125 * (minor // 256) / 256 - 6
        out["temperature_c"] = 175.72 * (minor % 256) / 256 - 46.85
    return out


def random_ibeacon(rng: random.Random, rssi: int | None) -> tuple[bytes, dict[str, float]]:
    """A random iBeacon frame heard at ``rssi`` and its readings."""
    proximity = uuid.UUID(bytes=rng.randbytes(16))
    if rng.random() < 0.05:
        proximity = CYPRESS_SENSOR_UUID
    major, minor = _edgy(rng, 0, 0xFFFF, 0), _edgy(rng, 0, 0xFFFF, 0)
    power = _edgy(rng, -128, 127, 0) if rng.random() < 0.2 else rng.randint(-100, -30)
    data = encode_ibeacon(proximity, major, minor, power)
    return data, ibeacon_readings(proximity, minor, power, rssi)
