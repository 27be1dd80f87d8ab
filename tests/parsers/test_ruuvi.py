"""Ruuvi formats 3/5/C5/6/E1: spec examples, bad input, random round trips, ruuvitag-ble diff."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruuvitag_ble.df5_decoder import DataFormat5Decoder

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.ruuvi import RuuviParser
from tests.parsers.encoders import DF5_FIELDS, Df5, df5_readings, encode_df5, random_df5

RUUVI = 0x0499
REG = Registry.default(plugins=False)


def adv(payload: bytes) -> Advert:
    return Advert(mac="CB:B8:33:4C:88:4F", rssi=-60, manufacturer_data={RUUVI: payload})


def parse(payload: bytes) -> ParseResult | None:  # direct, so ParseError is visible
    return RuuviParser().parse(adv(payload), ParseContext())


def test_df5_docs_valid_example() -> None:
    res = parse(bytes.fromhex("0512fc5394c37c0004fffc040cac364200cdcbb8334c884f"))
    assert res is not None
    assert res.readings == {
        "temperature_c": 24.3,
        "humidity_pct": 53.49,
        "pressure_hpa": 1000.44,
        "acceleration_x_g": 0.004,
        "acceleration_y_g": -0.004,
        "acceleration_z_g": 1.036,
        "voltage_v": 2.977,
        "tx_power_dbm": 4,
        "movement_count": 66,
        "measurement_sequence": 205,
    }
    assert res.facts["mac"] == "CB:B8:33:4C:88:4F"


def test_df5_invalid_values_are_absent() -> None:
    res = parse(bytes.fromhex("058000ffffffff800080008000ffffffffffffffffffffff"))
    assert res is not None
    assert res.readings == {}
    assert "mac" not in res.facts


def test_df3_docs_example() -> None:
    res = parse(bytes.fromhex("03291a1ece1efc18f94202ca0b53"))
    assert res is not None
    assert res.readings["temperature_c"] == 26.3
    assert res.readings["pressure_hpa"] == 1027.66
    assert res.readings["acceleration_y_g"] == -1.726
    low = parse(bytes.fromhex("0300ff6300008001800180010000"))
    assert low is not None
    assert low.readings["temperature_c"] == -127.99


def test_c5_with_its_own_format_byte() -> None:
    res = parse(bytes.fromhex("c512fc5394c37cac364200cdcbb8334c884f"))
    assert res is not None
    assert res.readings["temperature_c"] == 24.3
    assert res.readings["voltage_v"] == 2.977
    assert res.facts["data_format"] == "C5"


def test_df6_and_e1_docs_examples() -> None:
    df6 = parse(bytes.fromhex("06170c5668c79e007000c90501d900cd004c884f"))
    assert df6 is not None
    assert df6.readings["pm25_ugm3"] == 11.2
    assert df6.readings["co2_ppm"] == 201
    assert (df6.readings["voc_index"], df6.readings["nox_index"]) == (10, 2)
    assert df6.readings["illuminance_lux"] == 13026.67  # the spec: rounded to 0.01 lux
    assert "sound_avg_dba" not in df6.readings  # byte 14 is reserved
    assert df6.facts["mac"] == "4C:88:4F"
    invalid = parse(bytes.fromhex("068000ffffffffffffffffffffff00ffffffffff"))
    assert invalid is not None
    assert "mac" not in invalid.facts  # all ones = not available
    assert set(invalid.readings) == {"measurement_sequence"}  # 255 is a valid count in DF6
    e1 = parse(
        bytes.fromhex(
            "e1170c5668c79e0065007004bd11ca00c90a0213e0ac000000decdee010000000000cbb8334c884f"
        )
    )
    assert e1 is not None
    assert e1.readings["pm10_ugm3"] == 455.4
    assert e1.readings["illuminance_lux"] == 13027.0
    assert e1.readings["measurement_sequence"] == 14601710
    assert e1.facts["calibration_in_progress"] is True


def _url_advert(url_tail: bytes) -> Advert:
    frame = b"\x10\xee\x03ruu.vi/#" + url_tail
    return Advert(
        "CB:B8:33:4C:88:4F", -60, service_data={"0000feaa-0000-1000-8000-00805f9b34fb": frame}
    )


@pytest.mark.parametrize(
    "tail, fmt, temp, hum, pres",
    [
        (b"AjwYAMFf", "2", 24.0, 30.0, 995.03),  # ble_monitor's RuuviTag v2 capture
        (b"BGQYAMq8w", "4", 24.0, 50.0, 1019.0),  # format 4: one tag-id character more
        (b"AjyYAMFf", "2", -24.0, 30.0, 995.03),  # sign bit of the temperature byte
    ],
)
def test_eddystone_url_formats_2_and_4(
    tail: bytes, fmt: str, temp: float, hum: float, pres: float
) -> None:
    out = REG.decode(_url_advert(tail), ParseContext())
    assert out.parser == "ruuvi"  # a sensor parser: ranks above the Eddystone beacon parser
    assert out.result is not None
    assert out.result.readings == {"temperature_c": temp, "humidity_pct": hum, "pressure_hpa": pres}
    assert out.result.facts["data_format"] == fmt


def test_other_ruu_vi_urls_are_plain_eddystone_urls() -> None:
    reg = Registry.default(plugins=False)
    out = reg.decode(_url_advert(b"!!!!!!!!"), ParseContext())
    assert out.parser == "eddystone"
    assert out.result is not None
    assert out.result.facts["url"] == "https://ruu.vi/#!!!!!!!!"
    assert reg.stats.errors == {}


@pytest.mark.parametrize("fmt, size", [(0x03, 14), (0x05, 24), (0x06, 20), (0xE1, 40), (0xC5, 18)])
def test_truncated_raises_parse_error(fmt: int, size: int) -> None:
    for n in range(1, size):
        if fmt == 0x05 and n == 18:
            continue  # an 18-byte 0x05 frame is the docs' C5 layout
        with pytest.raises(ParseError):
            parse(bytes([fmt]) + bytes(n - 1))


def test_unknown_format_not_claimed_and_registry_never_raises() -> None:
    assert parse(b"\x08" + bytes(30)) is None
    out = REG.decode(adv(b"\x05\x01"), ParseContext())
    assert out.result is None
    assert out.parser == "ruuvi"
    assert out.error is not None


# --- random round trips: an independent encoder -------------------------------------------

df5_values = st.builds(  # every field valid (no sentinels): ruuvitag-ble reads them all
    Df5,
    t=st.integers(-32767, 32767),
    h=st.integers(0, 65534),
    p=st.integers(0, 65534),
    ax=st.integers(-32767, 32767),
    ay=st.integers(-32767, 32767),
    az=st.integers(-32767, 32767),
    mv=st.integers(1600, 1600 + 2046),
    tx=st.integers(-40, 20).map(lambda x: x - x % 2),
    move=st.integers(0, 254),
    seq=st.integers(0, 65534),
    mac=st.binary(min_size=6, max_size=6).filter(lambda b: b != b"\xff" * 6),
)


@settings(max_examples=300, deadline=None)
@given(df5_values)
def test_df5_round_trip_through_registry(v: Df5) -> None:
    res = REG.parse(adv(encode_df5(v)), ParseContext())
    assert res is not None
    assert res.parser == "ruuvi"
    assert res.readings == pytest.approx(df5_readings(v), rel=1e-12, abs=1e-12)
    assert res.facts["mac"] == ":".join(f"{b:02X}" for b in v.mac)


def test_df5_sentinels_and_range_ends_through_registry() -> None:
    rng = random.Random(5)
    absent = set()
    for _ in range(500):
        v = random_df5(rng)
        res = REG.parse(adv(encode_df5(v)), ParseContext())
        assert res is not None
        expected = df5_readings(v)
        assert res.readings == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert ("mac" in res.facts) == (v.mac != b"\xff" * 6)
        absent |= {m for m, *_ in DF5_FIELDS.values()} - set(expected)
    assert len(absent) == len(DF5_FIELDS)  # every field was "not available" at least once


@settings(max_examples=300, deadline=None)
@given(df5_values)
def test_df5_agrees_with_ruuvitag_ble(v: Df5) -> None:
    payload = encode_df5(v)
    ref = DataFormat5Decoder(payload)
    ours = parse(payload)
    assert ours is not None
    r = ours.readings
    assert r["temperature_c"] == pytest.approx(ref.temperature_celsius, abs=0.0051)
    assert r["humidity_pct"] == pytest.approx(ref.humidity_percentage, abs=0.0051)
    assert r["pressure_hpa"] == pytest.approx(ref.pressure_hpa, abs=0.0051)
    assert r["voltage_v"] * 1000 == pytest.approx(ref.battery_voltage_mv)
    assert r["tx_power_dbm"] == ref.tx_power_dbm
    assert r["movement_count"] == ref.movement_counter
    assert r["measurement_sequence"] == ref.measurement_sequence_number
    ax, ay, az = ref.acceleration_vector_mg
    assert ax is not None and ay is not None and az is not None
    assert r["acceleration_x_g"] == pytest.approx(ax / 1000)
    assert r["acceleration_y_g"] == pytest.approx(ay / 1000)
    assert r["acceleration_z_g"] == pytest.approx(az / 1000)
