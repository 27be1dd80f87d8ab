"""Small independent encoders for generating valid advertisements in tests.

Written from the format descriptions (not from our parsers): BTHome v2 numeric and binary
objects, ATC1441 and pvvx frames.  Each returns the service-data bytes and the readings a
correct decoder must produce under our metric names.
"""

from __future__ import annotations

import random

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
    data = bytes.fromhex(mac.replace(":", ""))
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
    data = bytes.fromhex(mac.replace(":", ""))[::-1]
    data += temp.to_bytes(2, "little", signed=True) + hum.to_bytes(2, "little")
    data += mv.to_bytes(2, "little") + bytes((batt, rng.randint(0, 255), rng.randint(0, 15)))
    return data, {
        "temperature_c": temp / 100,
        "humidity_pct": hum / 100,
        "battery_pct": batt,
        "voltage_v": mv / 1000,
    }
