"""SensorPush: the vector corpus, frame history across adverts, differential agreement with
sensorpush-ble (test-only) on random valid frames, and bad input."""

from __future__ import annotations

import contextlib
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.sensorpush import UUID_HT1, UUID_V2, SensorPushParser
from tests.parsers.reference import service_info
from tests.parsers.vector_load import Vector, groups, load_vectors
from tests.parsers.vectors import check_group

MAC = "AA:BB:CC:DD:EE:FF"
PARSER = SensorPushParser()
REGISTRY = Registry.default(plugins=False)
VECTORS = [v for v in load_vectors() if v.format.startswith("sensorpush")]
# Vectors that do not match every published value, and why.
# (tests/parsers/vector_rules.py restores the raw bytes test_ht_w_raw passed; none left.)
NOT_MATCHING: dict[str, str] = {}


def advert(frames: dict[int, str], name: str | None = None, uuids: tuple[str, ...] = ()) -> Advert:
    md = {cid: bytes.fromhex(data) for cid, data in frames.items()}
    return Advert(MAC, -60, name=name, manufacturer_data=md, service_uuids=list(uuids))


def _groups() -> list[list[Vector]]:
    return groups(VECTORS)


@pytest.mark.parametrize("group", _groups(), ids=lambda g: g[0].ident)
def test_vectors(group: list[Vector]) -> None:
    for vector, check in zip(group, check_group(REGISTRY, group), strict=True):
        if vector.ident in NOT_MATCHING:
            assert not check.ok, f"{vector.ident} matches now: drop it from NOT_MATCHING"
        else:
            assert check.ok, (vector.ident, check.reasons)
            assert check.parser == "sensorpush"


def test_corpus_share() -> None:
    assert len(VECTORS) >= 22
    assert len(VECTORS) - len(NOT_MATCHING) >= 22


def test_changed_frame_is_decoded_and_first_sight_of_many_is_not() -> None:
    ctx = ParseContext()
    name = "SensorPush TC.x EEFF"
    first = PARSER.parse(advert({0xE808: "0d0000", 0xF908: "0d0000"}, name), ctx)
    assert first is not None
    assert first.readings == {}  # which one is new is unknown on first sight
    res = PARSER.parse(advert({0xE808: "0d0000", 0xF908: "0d0300"}, name), ctx)
    assert res is not None
    assert res.readings == {"temperature_c": 311.19}
    same = PARSER.parse(advert({0xE808: "0d0000", 0xF908: "0d0300"}, name), ctx)
    assert same is not None
    assert same.readings == {}  # nothing changed: nothing new to report


def test_unnamed_frames_need_a_fitting_length_and_range() -> None:
    # No name and no UUID (ble_monitor's vectors): accepted only when the frame fits exactly.
    assert PARSER.parse(advert({0xE904: "187d39"}), ParseContext()) is not None
    assert PARSER.parse(advert({0xE904: "187d3900"}), ParseContext()) is None
    assert PARSER.parse(advert({0xE904: "ffffff"}), ParseContext()) is None
    assert PARSER.parse(advert({0xE905: "187d39"}), ParseContext()) is None  # page 1


def test_named_truncated_frames_raise() -> None:
    with pytest.raises(ParseError):
        PARSER.parse(advert({0x9A04: "c9a5"}, "SensorPush HT.w 0CA1"), ParseContext())
    with pytest.raises(ParseError):
        PARSER.parse(advert({0x4834: ""}, "s", (UUID_HT1,)), ParseContext())


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(
    cid=st.integers(0, 0xFFFF),
    data=st.binary(max_size=8),
    name=st.sampled_from([None, "s", "SensorPush HT.w 0CA1", "TC EEFF"]),
)
def test_garbage_raises_only_parse_error(cid: int, data: bytes, name: str | None) -> None:
    with contextlib.suppress(ParseError):
        PARSER.parse(Advert(MAC, -60, name=name, manufacturer_data={cid: data}), ParseContext())


def _reference(cid: int, data: bytes, name: str, uuid: str) -> dict[str, float]:
    from sensorpush_ble import SensorPushBluetoothDeviceData  # noqa: PLC0415

    info = service_info(MAC, name=name, manufacturer_data={cid: data}, service_uuids=[uuid])
    update = SensorPushBluetoothDeviceData().update(info)
    keys = {"temperature": "temperature_c", "humidity": "humidity_pct", "pressure": "pressure_hpa"}
    return {
        keys[k.key]: float(cast(float, v.native_value))
        for k, v in update.entity_values.items()
        if k.key in keys and v.native_value is not None
    }


_V2 = {
    0: ("SensorPush HTP.xw EEFF", 5),
    1: ("SensorPush HT.w EEFF", 3),
    2: ("SensorPush TC EEFF", 3),
}


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(sorted(_V2)), high=st.integers(0, 255), data=st.binary(min_size=5))
def test_v2_agrees_with_sensorpush_ble(kind: int, high: int, data: bytes) -> None:
    name, size = _V2[kind]
    cid = high << 8 | kind << 2
    payload = data[:size]
    ours = PARSER.parse(
        Advert(MAC, -60, name=name, manufacturer_data={cid: payload}), ParseContext()
    )
    assert ours is not None
    assert ours.readings == pytest.approx(_reference(cid, payload, name, UUID_V2), abs=1e-9)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(cid=st.integers(0, 0xFFFF), data=st.binary(min_size=2, max_size=2))
def test_ht1_agrees_with_sensorpush_ble(cid: int, data: bytes) -> None:
    data = data[:1] + bytes([data[1] & 0x83 | 0x04])  # type bits = 1 (HT1)
    ours = PARSER.parse(advert({cid: data.hex()}, "s", (UUID_HT1,)), ParseContext())
    assert ours is not None
    assert ours.readings == pytest.approx(_reference(cid, data, "s", UUID_HT1), abs=1e-9)
