"""SwitchBot meters, hubs and panels: the vector corpus, model inference without service data,
and bad input (only ``ParseError`` may escape the parser)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.switchbot import (
    COMPANY_ID,
    HUB3,
    HUB_2_OR_3,
    UUID_FD3D,
    SwitchBotParser,
    set_model,
)
from tests.parsers.vector_load import Vector, load_vectors
from tests.parsers.vectors import check_group, compare

MAC = "AA:BB:CC:DD:EE:FF"
PARSER = SwitchBotParser()
REGISTRY = Registry.default(plugins=False)
VECTORS = [v for v in load_vectors() if v.format.startswith("switchbot")]
# Vectors that do not match every published value, and why (none at the time of writing).
NOT_MATCHING: dict[str, str] = {}


def advert(sd: str | None = None, mfr: str | None = None, mac: str = MAC) -> Advert:
    return Advert(
        mac,
        -60,
        service_data={UUID_FD3D: bytes.fromhex(sd)} if sd is not None else {},
        manufacturer_data={COMPANY_ID: bytes.fromhex(mfr)} if mfr is not None else {},
    )


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.ident)
def test_vectors(vector: Vector) -> None:
    (check,) = check_group(REGISTRY, [vector])
    if vector.ident in NOT_MATCHING:
        assert not check.ok, f"{vector.ident} matches now: drop it from NOT_MATCHING"
    else:
        assert check.ok, check.reasons
        assert check.parser == "switchbot"


def test_corpus_share() -> None:
    assert len(VECTORS) >= 23
    assert 1 - len(NOT_MATCHING) / len(VECTORS) >= 0.97


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if v.raw.get("model_hint")], ids=lambda v: v.ident
)
def test_passive_vectors_without_the_hint(vector: Vector) -> None:
    """Without the model the source was told, the frame length and plausibility decide."""
    outcome = REGISTRY.decode(vector.advert, ParseContext())
    check = compare(vector, outcome)
    if vector.format == "switchbot_Hub3" and not vector.advert.service_data:
        # A Hub 3 frame alone looks like a Hub 2 one: only the shared values are reported.
        assert outcome.result is not None
        assert outcome.result.facts["model"] == HUB_2_OR_3
        assert outcome.result.readings == {"temperature_c": 25.3, "humidity_pct": 52}
    else:
        assert check.ok, check.reasons


def test_scan_response_model_is_remembered_for_passive_frames() -> None:
    ctx = ParseContext()
    mfr = "b0e9fe6e5e2900ff6826d6648303993480"
    active = PARSER.parse(advert("0000640010b940", mfr), ctx)
    assert active is not None
    assert active.facts["model"] == HUB3
    passive = PARSER.parse(advert(None, mfr), ctx)
    assert passive is not None
    assert passive.facts["model"] == HUB3
    assert "model_guessed" not in passive.facts
    assert passive.readings["illuminance_lux"] == 90
    assert passive.readings["motion"] == 1


def test_other_switchbot_products_are_not_claimed() -> None:
    ctx = ParseContext()
    curtain_mfr = "e7ab46ac8f927c0f001104"
    assert PARSER.parse(advert("63c058001104", curtain_mfr), ctx) is None
    # Once a scan response said "curtain", its bare frames are not mistaken for a meter.
    assert PARSER.parse(advert(None, curtain_mfr), ctx) is None


@pytest.mark.parametrize(
    "frame",
    [
        "e7ab46ac8f927c0f001104",  # curtain (11 bytes, like a Meter)
        "f5989408a0e7a50f632204",  # curtain
        "ccf4c4f9ac6ceb0f641204",  # curtain
        "e7ab46ac8f927c0f00110400",  # curtain (12 bytes, like an Indoor/Outdoor Meter)
        "aabbccddeefff7070011040049",  # Curtain 3 (13 bytes, like a Meter Pro)
        "cb39cdc43d46412c0046018fc4",  # contact sensor (13 bytes)
        "fc285c366c7f0b2700a184",  # blind tilt (11 bytes)
        "84f703b4cb7a03e4210000",  # color bulb (11 bytes)
        "c164b87d06050000000000",  # lock (11 bytes)
    ],
)
def test_bare_frames_of_other_products_are_not_guessed_as_meters(frame: str) -> None:
    """Frames from pySwitchbot's tests of non-sensor products, seen without a scan response."""
    assert PARSER.parse(advert(None, frame), ParseContext()) is None


def test_negative_temperature_and_fahrenheit_flag() -> None:
    res = PARSER.parse(advert("6900ba031938"), ParseContext())
    assert res is not None
    assert res.readings == {"battery_pct": 58, "temperature_c": -25.3, "humidity_pct": 56}
    res = PARSER.parse(advert(None, "b0e9fe543215b7e4079ba4003702d500"), ParseContext())
    assert res is not None
    assert res.facts["display_fahrenheit"] is True
    assert res.readings["co2_ppm"] == 725


def test_configured_model_and_unknown_model_name() -> None:
    ctx = ParseContext()
    set_model(ctx, MAC, "Hub3")
    res = PARSER.parse(advert(None, "b0e9fe6e5e2900ff6826d6648303993480"), ctx)
    assert res is not None
    assert res.facts["model"] == HUB3
    with pytest.raises(ValueError, match="Hub 9"):
        set_model(ctx, MAC, "Hub 9")


@pytest.mark.parametrize(
    "sd, mfr",
    [
        ("5400e4", None),  # a Meter scan response without its temperature bytes, no frame
        ("7600", "aabbccddeeff00ff66541a"),  # Hub 2 frame cut short
        ("0000640010b940", "b0e9fe6e5e2900ff"),  # Hub 3 frame cut short
        ("00205f0010f3d840", "b0e9fe843805"),  # Climate Panel frame cut short
        ("000050001053b0", None),  # Weather Station without its frame
    ],
)
def test_truncated_frames_raise_parse_error(sd: str, mfr: str | None) -> None:
    with pytest.raises(ParseError):
        PARSER.parse(advert(sd, mfr), ParseContext())


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(
    sd=st.one_of(st.none(), st.binary(min_size=1, max_size=10)),
    mfr=st.one_of(st.none(), st.binary(max_size=26)),
)
def test_garbage_raises_only_parse_error(sd: bytes | None, mfr: bytes | None) -> None:
    adv = Advert(
        MAC,
        -60,
        service_data={UUID_FD3D: sd} if sd is not None else {},
        manufacturer_data={COMPANY_ID: mfr} if mfr is not None else {},
    )
    try:
        res = PARSER.parse(adv, ParseContext())
    except ParseError:
        return
    if res is not None:
        assert all(isinstance(v, int | float) for v in res.readings.values())
