"""The v1 wire codec: round trips, and every kind of bad payload gets its reason."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16


def sample() -> Advert:
    return Advert(
        mac="AA:BB:CC:DD:EE:FF",
        rssi=-71,
        address_type="random",
        tx_power=4,
        name="Thermo ☃",
        manufacturer_data={76: bytes.fromhex("0215aabb"), 1177: b"\x05\x00"},
        service_data={uuid16(0xFCD2): bytes.fromhex("4002c409")},
        service_uuids=[uuid16(0x181A)],
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


BAD: list[tuple[bytes, str]] = [
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
    # Unicode digits and compatibility forms are not ASCII
    (_mutated(manufacturer_data={"\u00b2": "00"}), "bad_value"),  # superscript two
    (_mutated(manufacturer_data={"\u0663": "00"}), "bad_value"),  # Arabic-Indic three
    (_mutated(manufacturer_data={"007": "00"}), "bad_value"),
    (_mutated(manufacturer_data={"65536": "00"}), "bad_value"),
    (_mutated(mac="\ufb00:\ufb00:\ufb00:\ufb00:\ufb00:\ufb00"), "bad_value"),  # ligature ff
    (_mutated(mac="\uff21A:BB:CC:DD:EE:FF"), "bad_value"),  # fullwidth A
    (_mutated(manufacturer_data={"76": "02 15"}), "bad_value"),
    (_mutated(service_data={uuid16(0xFCD2): " 40\t02"}), "bad_value"),
    (_mutated(service_uuids=["fcd2"]), "bad_value"),
    (_mutated(seq=0), "bad_value"),
    (_mutated(seq=-5), "bad_value"),
    (_mutated(seq=2**63), "bad_value"),
    (_mutated(rssi=40000), "bad_value"),
    (_mutated(tx_power=-(10**30)), "bad_value"),
    (_mutated(boot=""), "bad_value"),
    (_mutated(boot="b" * 65), "bad_value"),
    (_mutated(boot="b\u0000"), "bad_value"),
    (_mutated(boot="b\u00e4"), "bad_value"),
    (_mutated(ts="2026-12-04"), "bad_value"),
    (_mutated(ts="2026-W49-4"), "bad_value"),
    (_mutated(ts="2026-12-04T10:00:00"), "bad_value"),  # RFC 3339 needs an offset
    (_mutated(ts="2026-12-04 10:00:00Z"), "bad_value"),
    (_mutated(ts="20261204T100000Z"), "bad_value"),
    (_mutated(ts="2026-12-04T10:00:00+0100"), "bad_value"),
    (_mutated(ts="\u0662\u0660\u0662\u0666-12-04T10:00:00Z"), "bad_value"),
    (_mutated(ts="2026-12-04T10:00:60Z"), "bad_value"),
    (_mutated(ts="0001-01-01T00:00:00+01:00"), "bad_value"),  # year 0 in UTC
    (_mutated(ts="9999-12-31T23:59:59-01:00"), "bad_value"),  # year 10000 in UTC
    (_mutated(x=float("nan")), "invalid_json"),
    (_mutated(x=float("inf")), "invalid_json"),
    (_mutated(x=float("-inf")), "invalid_json"),
    (_mutated(x=1).replace(b'"x": 1', b'"x": 1e400'), "invalid_json"),
    (_mutated(x=1).replace(b'"x": 1', b'"x": -1e400'), "invalid_json"),
    (_mutated(x=1).replace(b'"x": 1', b'"x": 1e-400'), "invalid_json"),
    (_mutated(x=1).replace(b'"x": 1', b'"x": ' + b"[" * 3000 + b"]" * 3000), "invalid_json"),
]


@pytest.mark.parametrize(
    ("payload", "reason"), BAD, ids=[f"{i}-{r}" for i, (_, r) in enumerate(BAD)]
)
def test_bad_payloads_are_rejected_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode(payload, "k")
    assert info.value.reason == reason


def test_lower_case_mac_is_normalised() -> None:
    msg = wire.decode(_mutated(mac="aa:bb:cc:dd:ee:ff"), "k")
    assert msg.advert.mac == "AA:BB:CC:DD:EE:FF"


@pytest.mark.parametrize(
    ("ts", "utc"),
    [
        ("2026-12-04T10:00:00Z", "2026-12-04T10:00:00+00:00"),
        ("2026-12-04t10:00:00z", "2026-12-04T10:00:00+00:00"),
        ("2026-12-04T10:00:00.5+01:00", "2026-12-04T09:00:00.500000+00:00"),
        ("2026-12-04T00:30:00.123456789-02:30", "2026-12-04T03:00:00.123456+00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
        ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59+00:00"),
    ],
)
def test_rfc3339_times_are_accepted_as_utc(ts: str, utc: str) -> None:
    when = wire.decode(_mutated(ts=ts), "k").time
    assert when.isoformat() == utc
    assert when.utcoffset() is not None and not when.utcoffset()


def test_edges_that_stay_valid() -> None:
    obj = json.loads(_mutated(seq=2**63 - 1, rssi=-32768, tx_power=32767, boot="~" * 64))
    obj["manufacturer_data"] = {"0": "", "65535": "ABcd"}
    obj["extra"] = [0.0, -0.0, 1e-300, 1.5e308, 10**100]
    obj["name"] = "\\u0000 is six characters"
    msg = wire.decode(json.dumps(obj).encode(), "k")
    assert msg.seq == 2**63 - 1
    assert msg.advert.manufacturer_data == {0: b"", 65535: b"\xab\xcd"}
    assert msg.advert.name == "\\u0000 is six characters"
    assert msg.raw["extra"][3] == 1.5e308


@given(st.binary(max_size=300))
def test_decode_never_raises_anything_but_wire_error(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(data, "k")


_FIELDS = list(json.loads(wire.encode(sample(), "k", "b", 1, "2026-01-01T00:00:00.000Z")))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6),
    st.sets(st.sampled_from(_FIELDS), max_size=4),
)
def test_mutated_messages_raise_only_wire_error(changes: dict[str, object], drop: set[str]) -> None:
    """Any field replaced by any JSON value (NaN and infinities included), or left out."""
    obj = json.loads(wire.encode(sample(), "k", "b", 1, "2026-01-01T00:00:00.000Z"))
    obj.update(changes)
    for key in drop:
        obj.pop(key, None)
    try:
        msg = wire.decode(json.dumps(obj).encode(), "k")
    except wire.WireError:
        return
    assert wire.MAC_RE.fullmatch(msg.advert.mac)
    assert msg.seq >= 1 and msg.time.utcoffset() is not None
    assert all(0 <= k <= 0xFFFF for k in msg.advert.manufacturer_data)
