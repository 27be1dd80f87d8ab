"""A strict reading of wire v1 for what the agent publishes: the codec's reader must accept it,
and every field must be in the exact form docs/mqtt-schema.md gives (ASCII digits and hex, the
upper-case MAC, 128-bit lower-case UUIDs, dBm as signed bytes, an RFC 3339 UTC time)."""

from __future__ import annotations

import json
import re
from typing import Any

from bt_mqtt.core import wire
from bt_mqtt.core.advert import WireMessage

_ASCII_MAC = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}", re.ASCII)
_ASCII_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_COMPANY = re.compile(r"0|[1-9][0-9]{0,4}", re.ASCII)
_HEX = re.compile(r"(?:[0-9a-f]{2})*", re.ASCII)
_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII)


def _no_constants(name: str) -> Any:
    raise AssertionError(f"payload contains {name}, which is not JSON")


def _dbm(value: Any) -> bool:
    return type(value) is int and -128 <= value <= 127


def strict_decode(payload: bytes, scanner_id: str) -> WireMessage:
    """``wire.decode`` plus the checks above; raises AssertionError naming the bad field."""
    msg = wire.decode(payload, scanner_id)
    obj = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    assert obj["v"] == 1 and type(obj["seq"]) is int and obj["seq"] >= 1, obj
    assert _TS.fullmatch(obj["ts"]), obj["ts"]
    assert _ASCII_MAC.fullmatch(obj["mac"]), obj["mac"]
    assert obj["address_type"] in (None, "public", "random"), obj["address_type"]
    assert _dbm(obj["rssi"]), obj["rssi"]
    assert obj["tx_power"] is None or _dbm(obj["tx_power"]), obj["tx_power"]
    name = obj["name"]
    assert name is None or (type(name) is str and len(name.encode()) <= 248), name
    for k, v in obj["manufacturer_data"].items():
        assert _COMPANY.fullmatch(k) and int(k) <= 0xFFFF and _HEX.fullmatch(v), (k, v)
    for k, v in obj["service_data"].items():
        assert _ASCII_UUID.fullmatch(k) and _HEX.fullmatch(v), (k, v)
    assert all(_ASCII_UUID.fullmatch(u) for u in obj["service_uuids"]), obj["service_uuids"]
    assert len(payload) <= wire.DEFAULT_MAX_BYTES
    return msg
