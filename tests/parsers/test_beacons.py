"""iBeacon, AltBeacon and Eddystone: spec examples, distance model, bad input, round trips."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.altbeacon import AltBeaconParser
from bt_mqtt.parsers.api import ParseContext, ParseError
from bt_mqtt.parsers.beaconmath import distance_m
from bt_mqtt.parsers.eddystone import EDDYSTONE_UUID, EddystoneParser, decode_url
from bt_mqtt.parsers.ibeacon import IBeaconParser
from bt_mqtt.parsers.registry import Registry
from tests.parsers.encoders import encode_ibeacon, encode_tlm, ibeacon_readings, tlm_readings
from tests.parsers.vector_load import vectors_dir

REG = Registry.default(plugins=False)
CTX = ParseContext()


def test_distance_model() -> None:
    assert distance_m(-59, -59) == 1.0
    assert distance_m(-59, -79) == 10.0  # 20 dB more loss = 10x the distance (n = 2)
    assert distance_m(-59, -65) == pytest.approx(1.995, abs=0.01)
    assert distance_m(0, -60) is None
    assert distance_m(-59, 0) is None
    assert distance_m(-59, 127) is None


def test_ibeacon_example() -> None:
    data = bytes.fromhex("0215f7826da64fa24e988024bc5b71e0893e01020304b3")
    res = IBeaconParser().parse(Advert("AA:BB:CC:DD:EE:FF", -77, manufacturer_data={76: data}), CTX)
    assert res is not None
    assert res.facts["uuid"] == "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
    assert (res.facts["major"], res.facts["minor"]) == (0x0102, 0x0304)
    assert res.readings == {"tx_power_dbm": -77, "distance_m": 1.0}


def test_ibeacon_rejects() -> None:
    p = IBeaconParser()
    short = Advert("AA:BB:CC:DD:EE:FF", -60, manufacturer_data={76: bytes.fromhex("0215aabb")})
    with pytest.raises(ParseError):
        p.parse(short, CTX)
    other = Advert("AA:BB:CC:DD:EE:FF", -60, manufacturer_data={76: bytes.fromhex("1005aabb")})
    assert p.parse(other, CTX) is None


def test_altbeacon_with_and_without_reserved_byte() -> None:
    body = bytes.fromhex("beac2f234454cf6d4a0fadf2f4911ba9ffa600010002c5")
    for data, reserved in ((body, 0), (body + b"\x09", 9)):
        res = AltBeaconParser().parse(
            Advert("AA:BB:CC:DD:EE:FF", -55, manufacturer_data={280: data}), CTX
        )
        assert res is not None
        assert res.facts["uuid"] == "2f234454-cf6d-4a0f-adf2-f4911ba9ffa6"
        assert res.facts["mfg_reserved"] == reserved
        assert res.readings["tx_power_dbm"] == -59
    with pytest.raises(ParseError):
        AltBeaconParser().parse(
            Advert("AA:BB:CC:DD:EE:FF", -55, manufacturer_data={280: body[:19]}), CTX
        )


def _url_vectors() -> list[tuple[str, str]]:
    path = vectors_dir() / "android-beacon-library_tests.jsonl"
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj["format"] == "eddystone_url_encoding":
            out.append((obj["eddystone_url_body_hex"], obj["expected"]["url"]))
    return out


@pytest.mark.parametrize("body, url", _url_vectors())
def test_eddystone_url_vectors(body: str, url: str) -> None:
    assert decode_url(bytes.fromhex(body)) == url


def test_eddystone_url_bad_bytes() -> None:
    with pytest.raises(ParseError):
        decode_url(b"\x07abc")
    with pytest.raises(ParseError):
        decode_url(b"\x00ab\x19c")


def eddy(data: bytes, rssi: int = -70) -> Advert:
    return Advert("AA:BB:CC:DD:EE:FF", rssi, service_data={EDDYSTONE_UUID: data})


def test_eddystone_uid_and_distance() -> None:
    res = EddystoneParser().parse(
        eddy(bytes.fromhex("00e3123456789012346789010000000000010000"), -70), CTX
    )
    assert res is not None
    assert res.facts["namespace"] == "12345678901234678901"
    assert res.facts["instance"] == "000000000001"
    # 0 m power -29 dBm -> -70 dBm at 1 m; RSSI -70 -> 1 m
    assert res.readings == {"tx_power_dbm": -29, "distance_m": 1.0}


@pytest.mark.parametrize(
    "hexdata", ["00e31234", "20000b18", "2005" + "00" * 12, "10f8", "30e34549"]
)
def test_eddystone_truncated_or_broken_raises(hexdata: str) -> None:
    with pytest.raises(ParseError):
        EddystoneParser().parse(eddy(bytes.fromhex(hexdata)), CTX)


def test_eddystone_unknown_frame_not_claimed() -> None:
    assert EddystoneParser().parse(eddy(bytes.fromhex("01e3123456")), CTX) is None


@settings(max_examples=300, deadline=None)
@given(
    mv=st.integers(0, 65535),
    temp=st.integers(-32767, 32767),
    count=st.integers(0, 2**32 - 1),
    secs=st.integers(0, 2**32 - 1),
)
def test_tlm_round_trip_through_registry(mv: int, temp: int, count: int, secs: int) -> None:
    res = REG.parse(eddy(encode_tlm(mv, temp, count, secs)), ParseContext())
    assert res is not None
    assert res.parser == "eddystone"
    expected = tlm_readings(mv, temp, count, secs)
    assert res.readings == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert ("voltage_v" in res.readings) == (mv != 0)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(min_size=16, max_size=16),
    major=st.integers(0, 65535),
    minor=st.integers(0, 65535),
    power=st.integers(-100, -1),
    rssi=st.integers(-110, -20),
)
def test_ibeacon_round_trip_through_registry(
    raw: bytes, major: int, minor: int, power: int, rssi: int
) -> None:
    proximity = uuid.UUID(bytes=raw)
    data = encode_ibeacon(proximity, major, minor, power)
    res = REG.parse(Advert("11:22:33:44:55:66", rssi, manufacturer_data={76: data}), ParseContext())
    assert res is not None
    assert res.parser == "ibeacon"
    assert res.facts["uuid"] == str(proximity)
    assert (res.facts["major"], res.facts["minor"]) == (major, minor)
    expected = ibeacon_readings(proximity, minor, power, rssi)
    assert res.readings == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert res.readings["distance_m"] == pytest.approx(10 ** ((power - rssi) / 20), abs=0.0051)


def test_cypress_sensor_beacon_reads_its_minor() -> None:
    data = bytes.fromhex("02150005000100001000800000805f9b013100026c66c3")  # beacontools
    res = REG.parse(Advert("AA:BB:CC:DD:EE:FF", -61, manufacturer_data={76: data}), CTX)
    assert res is not None
    assert int(res.readings["temperature_c"] * 100) == 2316
    assert int(res.readings["humidity_pct"] * 100) == 4673
    other = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000640000c5")  # not Cypress
    res = REG.parse(Advert("AA:BB:CC:DD:EE:FF", -77, manufacturer_data={76: other}), CTX)
    assert res is not None
    assert "temperature_c" not in res.readings


def test_altbeacon_from_any_company_through_the_signature_index() -> None:
    data = bytes.fromhex("beacd3162f5af3ee494799db09756062d0fc005a0005c400")
    res = REG.parse(Advert("AA:BB:CC:DD:EE:FF", -44, manufacturer_data={0x1357: data}), CTX)
    assert res is not None
    assert (res.parser, res.facts["company_id"], res.facts["major"]) == ("altbeacon", 0x1357, 90)


def test_ibeacon_and_eddystone_tlm_in_one_advert_merge() -> None:
    advert = Advert(  # ibeacon-ble's BlueCharm capture: an iBeacon and an Eddystone-TLM frame
        "AA:BB:CC:DD:EE:FF",
        -60,
        manufacturer_data={76: bytes.fromhex("0215426c7565436861726d426561636f6e730efe1355c5")},
        service_data={EDDYSTONE_UUID: bytes.fromhex("20000bfe1c000000070800003e7c")},
    )
    out = Registry.default(plugins=False).decode(advert, ParseContext())
    assert out.parser == "ibeacon"
    assert out.result is not None
    assert out.result.facts["major"] == 3838
    assert out.result.facts["merged_from"] == ["eddystone"]
    assert out.result.readings["tx_power_dbm"] == -59  # the primary's value stands
    assert out.result.readings["voltage_v"] == 3.07
    assert out.result.readings["temperature_c"] == 28.0


def test_eddystone_etlm_salt_and_mic() -> None:
    frame = bytes.fromhex("2001" + "41" * 12 + "deadbeef")
    res = EddystoneParser().parse(
        Advert("AA:BB:CC:DD:EE:FF", -60, service_data={EDDYSTONE_UUID: frame}), CTX
    )
    assert res is not None
    assert (res.facts["salt"], res.facts["mic"]) == (0xDEAD, 0xBEEF)
    with pytest.raises(ParseError):
        EddystoneParser().parse(
            Advert("AA:BB:CC:DD:EE:FF", -60, service_data={EDDYSTONE_UUID: frame[:10]}), CTX
        )
