"""Pure parts of the BlueZ simulator: simulated adverts, AD structures, patterns, filters.

Nothing here touches D-Bus or clocks.  ``SimAdvert`` is what a radio would hear; the simulator
turns it into Device1 properties and matches it against advertisement-monitor ``or_patterns``
the way bluetoothd does (AD type equal, content equal at ``start_position`` of the AD data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

from attrs import define, field

from bt_mqtt.core.bluetooth import BASE_UUID_SUFFIX, short_uuid

MAC_RE: Final = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")
UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# AD types (Bluetooth assigned numbers, "Common Data Types").
AD_FLAGS: Final = 0x01
AD_UUID16_ALL: Final = 0x03
AD_UUID128_ALL: Final = 0x07
AD_NAME_COMPLETE: Final = 0x09
AD_TX_POWER: Final = 0x0A
AD_SERVICE_DATA16: Final = 0x16
AD_SERVICE_DATA128: Final = 0x21
AD_MANUFACTURER: Final = 0xFF

# SetDiscoveryFilter keys and the D-Bus signature each must carry (org.bluez.Adapter(5)).
FILTER_KEYS: Final = {
    "UUIDs": "as",
    "RSSI": "n",
    "Pathloss": "q",
    "Transport": "s",
    "DuplicateData": "b",
    "Discoverable": "b",
    "Pattern": "s",
}
TRANSPORTS: Final = frozenset({"auto", "bredr", "le"})


class ScenarioError(ValueError):
    """A scenario line that is not a valid advert; names the line."""


@define(slots=True)
class SimAdvert:
    """One advertisement as heard by the simulated radio (wire-format fields plus AD flags)."""

    mac: str
    rssi: int = -60
    address_type: str = "public"
    tx_power: int | None = None
    name: str | None = None
    manufacturer_data: dict[int, bytes] = field(factory=dict)
    service_data: dict[str, bytes] = field(factory=dict)
    service_uuids: list[str] = field(factory=list)
    flags: int | None = 0x06


@define(slots=True)
class DiscoveryFilter:
    """One client's validated SetDiscoveryFilter."""

    transport: str = "auto"
    duplicate_data: bool = False
    rssi: int | None = None
    pathloss: int | None = None
    uuids: list[str] = field(factory=list)
    pattern: str = ""
    discoverable: bool = False


def device_path(adapter_path: str, mac: str) -> str:
    """BlueZ's object path for a device: ``/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF``."""
    return f"{adapter_path}/dev_{mac.replace(':', '_')}"


def _uuid_bytes_le(uuid: str) -> tuple[int, bytes]:
    """(AD type size marker, little-endian bytes) of a UUID: 16-bit when on the SIG base."""
    short = short_uuid(uuid)
    if short is not None:
        return 16, short.to_bytes(2, "little")
    return 128, bytes.fromhex(uuid.replace("-", ""))[::-1]


def ad_structures(advert: SimAdvert) -> list[tuple[int, bytes]]:
    """The (AD type, data) structures a device would put on air for this advert."""
    out: list[tuple[int, bytes]] = []
    if advert.flags is not None:
        out.append((AD_FLAGS, bytes([advert.flags])))
    u16 = [b for kind, b in map(_uuid_bytes_le, advert.service_uuids) if kind == 16]
    u128 = [b for kind, b in map(_uuid_bytes_le, advert.service_uuids) if kind == 128]
    if u16:
        out.append((AD_UUID16_ALL, b"".join(u16)))
    if u128:
        out.append((AD_UUID128_ALL, b"".join(u128)))
    if advert.name is not None:
        out.append((AD_NAME_COMPLETE, advert.name.encode()))
    if advert.tx_power is not None:
        out.append((AD_TX_POWER, (advert.tx_power & 0xFF).to_bytes(1, "little")))
    for uuid, data in advert.service_data.items():
        kind, raw = _uuid_bytes_le(uuid)
        out.append((AD_SERVICE_DATA16 if kind == 16 else AD_SERVICE_DATA128, raw + data))
    for company, data in advert.manufacturer_data.items():
        out.append((AD_MANUFACTURER, company.to_bytes(2, "little") + data))
    return out


def pattern_matches(
    structures: Iterable[tuple[int, bytes]], patterns: Iterable[tuple[int, int, bytes]]
) -> bool:
    """True when any (start_position, AD type, content) pattern matches any AD structure."""
    structs = list(structures)
    for start, ad_type, content in patterns:
        end = start + len(content)
        for kind, data in structs:
            if kind == ad_type and data[start:end] == content:
                return True
    return False


def validate_patterns(patterns: Any) -> list[tuple[int, int, bytes]]:
    """Check an ``or_patterns`` Patterns value like bluetoothd; raises ValueError."""
    if not isinstance(patterns, list) or not patterns:
        raise ValueError("Patterns must have at least one entry")
    out: list[tuple[int, int, bytes]] = []
    for entry in patterns:
        start, ad_type, content = entry
        content = bytes(content)
        if not 1 <= len(content) <= 31 or start + len(content) > 31:
            raise ValueError(f"pattern content length {len(content)} at {start} is invalid")
        out.append((int(start), int(ad_type), content))
    return out


def parse_filter(raw: dict[str, Any]) -> DiscoveryFilter:
    """Validate a SetDiscoveryFilter dict of (signature, value) pairs; raises ValueError."""
    flt = DiscoveryFilter()
    for key, (signature, value) in raw.items():
        expected = FILTER_KEYS.get(key)
        if expected is None:
            raise ValueError(f"unknown filter key {key!r}")
        if signature != expected:
            raise ValueError(f"filter key {key!r} must have signature {expected!r}")
        if key == "Transport":
            if value not in TRANSPORTS:
                raise ValueError(f"Transport {value!r} is not one of auto, bredr, le")
            flt.transport = value
        elif key == "DuplicateData":
            flt.duplicate_data = bool(value)
        elif key == "RSSI":
            flt.rssi = int(value)
        elif key == "Pathloss":
            flt.pathloss = int(value)
        elif key == "UUIDs":
            flt.uuids = [str(u).lower() for u in value]
        elif key == "Pattern":
            flt.pattern = str(value)
        elif key == "Discoverable":
            flt.discoverable = bool(value)
    if flt.rssi is not None and flt.pathloss is not None:
        raise ValueError("RSSI and Pathloss cannot be set together")
    return flt


def advert_from_json(obj: Any, where: str = "advert") -> tuple[float | None, SimAdvert]:
    """(``t`` offset or None, advert) from a wire-format object; raises ScenarioError."""
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: not a JSON object")
    try:
        mac = str(obj["mac"]).upper()
        if not MAC_RE.fullmatch(mac):
            raise ScenarioError(f"{where}: mac {obj['mac']!r} is not AA:BB:CC:DD:EE:FF")
        mfr = {int(k): bytes.fromhex(v) for k, v in (obj.get("manufacturer_data") or {}).items()}
        svc = {str(k).lower(): bytes.fromhex(v) for k, v in (obj.get("service_data") or {}).items()}
        uuids = [str(u).lower() for u in (obj.get("service_uuids") or [])]
        for u in (*svc, *uuids):
            if not UUID_RE.fullmatch(u):
                raise ScenarioError(f"{where}: {u!r} is not a 128-bit UUID")
        t = obj.get("t")
        advert = SimAdvert(
            mac=mac,
            rssi=int(obj.get("rssi", -60)),
            address_type=str(obj.get("address_type") or "public"),
            tx_power=None if obj.get("tx_power") is None else int(obj["tx_power"]),
            name=None if obj.get("name") is None else str(obj["name"]),
            manufacturer_data=mfr,
            service_data=svc,
            service_uuids=uuids,
            flags=int(obj["flags"]) if "flags" in obj and obj["flags"] is not None else 0x06,
        )
        if advert.address_type not in ("public", "random"):
            raise ScenarioError(f"{where}: address_type {advert.address_type!r} is invalid")
        return (None if t is None else float(t)), advert
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"{where}: {type(exc).__name__}: {exc}") from None


def read_scenario(
    lines: Iterable[str], name: str = "scenario"
) -> Iterator[tuple[float | None, SimAdvert]]:
    """Parse JSON lines (blank lines and ``#`` comments skipped); errors name file and line."""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ScenarioError(f"{name}:{number}: invalid JSON: {exc}") from None
        yield advert_from_json(obj, f"{name}:{number}")


def synthetic(
    devices: int, count: int | None = None, seed: int = 1
) -> Iterator[tuple[float | None, SimAdvert]]:
    """Adverts from ``devices`` random static addresses, round robin, content always changing.

    Each advert carries a counter in its manufacturer data (company 0xFFFF, "for testing") and
    a service data frame, so no two consecutive adverts of a device are identical.
    """
    import random  # noqa: PLC0415 - only the generator needs it

    rng = random.Random(seed)
    macs = []
    for _ in range(devices):
        raw = [rng.randrange(256) for _ in range(6)]
        raw[0] |= 0xC0  # static random address
        macs.append(":".join(f"{b:02X}" for b in raw))
    n = 0
    while count is None or n < count:
        mac = macs[n % devices]
        yield (
            None,
            SimAdvert(
                mac=mac,
                rssi=-40 - (n % 50),
                address_type="random",
                tx_power=0,
                manufacturer_data={0xFFFF: n.to_bytes(4, "little") + b"\x01\x02"},
                service_data={f"0000fcd2{BASE_UUID_SUFFIX}": bytes([0x40, n & 0xFF])},
                flags=0x06,
            ),
        )
        n += 1
