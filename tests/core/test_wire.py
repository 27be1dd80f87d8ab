"""The v1 wire codec: round trips, and every kind of bad payload gets its reason."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert


def sample() -> Advert:
    return Advert(
        mac="AA:BB:CC:DD:EE:FF",
        rssi=-71,
        address_type="random",
        tx_power=4,
        name="Thermo ☃",
        manufacturer_data={76: bytes.fromhex("0215aabb"), 1177: b"\x05\x00"},
        service_data={wire.uuid16(0xFCD2): bytes.fromhex("4002c409")},
        service_uuids=[wire.uuid16(0x181A)],
    )


def test_round_trip_keeps_every_field() -> None:
    payload = wire.encode(sample(), "kitchen", "b0", 42, "2026-11-27T07:49:52.123Z")
    msg = wire.decode(payload, "kitchen")
    assert msg.advert == sample()
    assert (msg.scanner_id, msg.boot, msg.seq) == ("kitchen", "b0", 42)
    assert msg.time.isoformat() == "2026-11-27T07:49:52.123000+00:00"
    obj = json.loads(payload)
    assert obj["manufacturer_data"] == {"76": "0215aabb", "1177": "0500"}
    assert obj["v"] == 1


def test_format_ts_is_rfc3339_utc_millis() -> None:
    assert wire.format_ts(0.5) == "1970-01-01T00:00:00.500Z"
    assert wire.format_ts(1795000000.0429) == "2026-11-18T11:06:40.042Z"


def test_unknown_fields_are_ignored_and_kept() -> None:
    obj = json.loads(wire.encode(sample(), "k", "b", 1, "2026-01-01T00:00:00.000Z"))
    obj["future"] = {"x": 1}
    msg = wire.decode(json.dumps(obj).encode(), "k")
    assert msg.raw["future"] == {"x": 1}


def _mutated(**changes: object) -> bytes:
    obj = json.loads(wire.encode(sample(), "k", "b", 1, "2026-01-01T00:00:00.000Z"))
    for k, v in changes.items():
        if v is KeyError:
            del obj[k]
        else:
            obj[k] = v
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1,2]", "not_object"),
        (_mutated(seq=KeyError), "missing_field"),
        (_mutated(mac=KeyError), "missing_field"),
        (_mutated(seq="1"), "wrong_type"),
        (_mutated(rssi=True), "wrong_type"),
        (_mutated(v=2), "bad_version"),
        (_mutated(scanner_id="other"), "scanner_mismatch"),
        (_mutated(mac="nonsense"), "bad_value"),
        (_mutated(ts="yesterday"), "bad_value"),
        (_mutated(manufacturer_data={"76": "zz"}), "bad_value"),
        (_mutated(manufacturer_data={"apple": "00"}), "bad_value"),
        (_mutated(service_data={"fcd2": "00"}), "bad_value"),
        (_mutated(address_type="weird"), "bad_value"),
        (_mutated(service_uuids="abc"), "wrong_type"),
        (b"{" + b" " * 20000 + b"}", "too_large"),
    ],
)
def test_bad_payloads_are_rejected_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode(payload, "k")
    assert info.value.reason == reason


def test_lower_case_mac_is_normalised() -> None:
    msg = wire.decode(_mutated(mac="aa:bb:cc:dd:ee:ff"), "k")
    assert msg.advert.mac == "AA:BB:CC:DD:EE:FF"


@given(st.binary(max_size=300))
def test_decode_never_raises_anything_but_wire_error(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(data, "k")
