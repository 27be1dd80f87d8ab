"""Mopeka tank sensors: the vector corpus, the medium setting, differential agreement with
mopeka-iot-ble (test-only) on random valid frames, and bad input."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError
from bt_mqtt.parsers.mopeka import COMPANY_ID, MODELS, SERVICE_UUID, MopekaParser, set_medium
from bt_mqtt.parsers.registry import Registry
from tests.parsers.reference import service_info
from tests.parsers.vector_load import Vector, load_vectors
from tests.parsers.vectors import check_group

MAC = "C9:F3:32:E0:F5:09"
PARSER = MopekaParser()
REGISTRY = Registry.default(plugins=False)
VECTORS = [v for v in load_vectors() if v.format.startswith("mopeka")]
# Vectors that do not match every published value, and why (none at the time of writing).
NOT_MATCHING: dict[str, str] = {}


def advert(hexdata: str, uuids: tuple[str, ...] = (SERVICE_UUID,), mac: str = MAC) -> Advert:
    return Advert(
        mac,
        -60,
        manufacturer_data={COMPANY_ID: bytes.fromhex(hexdata)},
        service_uuids=list(uuids),
    )


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.ident)
def test_vectors(vector: Vector) -> None:
    (check,) = check_group(REGISTRY, [vector])
    if vector.ident in NOT_MATCHING:
        assert not check.ok, f"{vector.ident} matches now: drop it from NOT_MATCHING"
    else:
        assert check.ok, check.reasons
        assert check.parser == "mopeka"


def test_corpus_share() -> None:
    assert len(VECTORS) >= 11
    assert 1 - len(NOT_MATCHING) / len(VECTORS) >= 0.97


def test_medium_changes_the_level_and_defaults_by_sensor_kind() -> None:
    frame = "0c60383c832aea8c31f8"  # Pro Check Universal, raw level 828, 16 °C
    ctx = ParseContext()
    res = PARSER.parse(advert(frame), ctx)
    assert res is not None
    assert (res.facts["medium"], res.readings["tank_level_mm"]) == ("propane", 329)
    set_medium(ctx, MAC, "air")
    res = PARSER.parse(advert(frame), ctx)
    assert res is not None
    assert (res.facts["medium"], res.readings["tank_level_mm"]) == ("air", 141)
    td40 = PARSER.parse(advert("0a73404e4d6a75107f80"), ParseContext())
    assert td40 is not None
    assert (td40.facts["medium"], td40.readings["tank_level_mm"]) == ("air", 588)
    with pytest.raises(ValueError, match="molasses"):
        set_medium(ctx, MAC, "molasses")


def test_no_level_without_reading_quality() -> None:
    res = PARSER.parse(advert("0872460030e0f509f0d8"), ParseContext())
    assert res is not None
    assert "tank_level_mm" not in res.readings
    assert res.readings["reading_quality_pct"] == 0


def test_other_nordic_frames_are_not_claimed_and_short_ones_raise() -> None:
    # Company 0x0059 is Nordic's: without the Mopeka UUID or the MAC tail it is not ours.
    assert PARSER.parse(advert("087043b6c3e0f509fae3", uuids=()), ParseContext()) is not None
    assert PARSER.parse(advert("087043b6c3000000fae3", uuids=()), ParseContext()) is None
    assert PARSER.parse(advert("ff7043b6c3e0f509fae3"), ParseContext()) is None
    with pytest.raises(ParseError):
        PARSER.parse(advert("087043b6c3"), ParseContext())
    with pytest.raises(ParseError):
        PARSER.parse(advert("087043b6c3e0f509fae300"), ParseContext())


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=14), uuid=st.booleans())
def test_garbage_raises_only_parse_error(data: bytes, uuid: bool) -> None:
    adv = Advert(
        MAC,
        -60,
        manufacturer_data={COMPANY_ID: data},
        service_uuids=[SERVICE_UUID] if uuid else [],
    )
    with contextlib.suppress(ParseError):
        PARSER.parse(adv, ParseContext())


def _reference(frame: bytes, medium: str) -> dict[str, Any]:
    from mopeka_iot_ble import MediumType, MopekaIOTBluetoothDeviceData  # noqa: PLC0415

    info = service_info(MAC, manufacturer_data={COMPANY_ID: frame}, service_uuids=[SERVICE_UUID])
    update = MopekaIOTBluetoothDeviceData(MediumType(medium)).update(info)
    out = {k.key: v.native_value for k, v in update.entity_values.items()}
    out.update({k.key: v.native_value for k, v in update.binary_entity_values.items()})
    return out


# reference key -> our metric
_KEYS = {
    "temperature": "temperature_c",
    "battery": "battery_pct",
    "battery_voltage": "voltage_v",
    "tank_level": "tank_level_mm",
    "accelerometer_x": "accelerometer_x",
    "accelerometer_y": "accelerometer_y",
    "reading_quality_raw": "reading_quality_raw",
    "reading_quality": "reading_quality_pct",
    "button_pressed": "button_pressed",
}


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    hw=st.sampled_from(sorted(MODELS)),
    battery=st.integers(0, 0x7F),  # bit 7 is masked here; the reference reads it as voltage
    rest=st.binary(min_size=8, max_size=8),
    medium=st.sampled_from(["propane", "air", "fresh_water", "diesel"]),
)
def test_agrees_with_mopeka_iot_ble(hw: int, battery: int, rest: bytes, medium: str) -> None:
    frame = bytes([hw, battery]) + rest
    ctx = ParseContext()
    set_medium(ctx, MAC, medium)
    ours = PARSER.parse(advert(frame.hex()), ctx)
    assert ours is not None
    ref = _reference(frame, medium)
    for key, metric in _KEYS.items():
        want = ref.get(key)
        if want is None:
            assert metric not in ours.readings, key
        else:
            assert ours.readings[metric] == pytest.approx(float(want), abs=1e-9), key
