"""Govee, INKBIRD, Qingping, ThermoBeacon, BlueMaestro: published examples and bad input.

The vector corpus is also run through the registry (``vectors.check_all``) with a per-family
floor, so that a regression in any of these parsers shows up by name.
"""

from __future__ import annotations

import collections

import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseError
from bt_mqtt.parsers.bluemaestro import BlueMaestroParser
from bt_mqtt.parsers.govee import GoveeParser
from bt_mqtt.parsers.inkbird import InkbirdParser
from bt_mqtt.parsers.qingping import QINGPING_UUID, QingpingParser
from bt_mqtt.parsers.thermobeacon import ThermoBeaconParser
from tests.parsers.vectors import check_all

CTX = ParseContext()
MAC = "A4:C1:38:DD:DB:F8"


def mfr(cid: int, hexdata: str, name: str | None = None) -> Advert:
    return Advert(MAC, -60, name=name, manufacturer_data={cid: bytes.fromhex(hexdata)})


@pytest.mark.parametrize(
    "cid, data, name, want",
    [
        (0xEC88, "00034db26400", "GVH5075_DBF8", {"temperature_c": 21.6, "humidity_pct": 49.8}),
        (0xEC88, "0081c2896400", "GVH5075_CB9B", {"temperature_c": -11.5, "humidity_pct": 33.7}),
        (0xEC88, "00e609bc126402", "Govee_H5074", {"temperature_c": 25.34, "humidity_pct": 47.96}),
        (0xEC88, "00ba0af90f63020101", None, {"temperature_c": 27.46, "battery_pct": 99}),
        (0x0001, "010103cb0164", "GVH5102_CB9B", {"temperature_c": 24.8, "humidity_pct": 57.7}),
        (0x0001, "01010ed13298", "GVH5106_4E05", {"temperature_c": 24.8, "pm25_ugm3": 0}),
        (0x0001, "0101033dee023e00", "GV5140303A", {"humidity_pct": 46.2, "co2_ppm": 574}),
        (0x8801, "ec0001010a0aa40664", None, {"temperature_c": 25.7, "humidity_pct": 17.0}),
        (
            0x1234,
            "4401000101e4018608341cdc8609602249",
            "GVH5182_5544",
            {"temperature_probe_1_c": 21.0, "temperature_alarm_probe_2_c": 87.77},
        ),
    ],
)
def test_govee_examples(cid: int, data: str, name: str | None, want: dict[str, float]) -> None:
    res = GoveeParser().parse(mfr(cid, data, name), CTX)
    assert res is not None
    for key, value in want.items():
        assert res.readings[key] == pytest.approx(value)


def test_govee_error_values_dropped_battery_kept() -> None:
    res = GoveeParser().parse(mfr(0xEC88, "004a00283b00", "GVH5075_2762"), CTX)
    assert res is not None
    assert res.readings == {"battery_pct": 59}


def test_inkbird_examples() -> None:
    p = InkbirdParser()
    sps = p.parse(mfr(2044, "c71200c83d5606", "sps"), CTX)
    assert sps is not None
    assert sps.readings == {"temperature_c": 20.44, "humidity_pct": 48.07, "battery_pct": 86}
    neg = p.parse(mfr(63915, "1b1e0048e33708", "sps"), CTX)
    assert neg is not None
    assert neg.readings["temperature_c"] == -16.21
    ith = p.parse(mfr(0x2449, "0812005efeff48036400640800000000", "ITH-11-B"), CTX)
    assert ith is not None
    assert ith.readings == {"temperature_c": -0.2, "humidity_pct": 84.0, "battery_pct": 100}
    bbq = p.parse(mfr(0, "000030e2837db502cefffa000401fa00", "iBBQ"), CTX)
    assert bbq is not None
    assert bbq.readings["temperature_probe_1_c"] == -5.0
    iam = p.parse(mfr(0x3254, "006200a13e29bed4011a0227026791"), CTX)
    assert iam is not None
    assert iam.readings == {"temperature_c": 28.2, "humidity_pct": 55.1, "co2_ppm": 615}
    with pytest.raises(ParseError):
        p.parse(mfr(2044, "c712", "sps"), CTX)


def test_qingping_records_and_truncation() -> None:
    p = QingpingParser()
    data = bytes.fromhex("88336f6c82342d580104ee003d0102015d13028f02")
    res = p.parse(Advert(MAC, -60, service_data={QINGPING_UUID: data}), CTX)
    assert res is not None
    assert res.readings == {
        "temperature_c": 23.8,
        "humidity_pct": 31.7,
        "battery_pct": 93,
        "co2_ppm": 655,
    }
    with pytest.raises(ParseError):
        p.parse(Advert(MAC, -60, service_data={QINGPING_UUID: data[:-1]}), CTX)


def test_thermobeacon_and_bluemaestro() -> None:
    tb = ThermoBeaconParser().parse(mfr(16, "0000b002000047a4e20c8001b6024a000000"), CTX)
    assert tb is not None
    assert tb.readings["temperature_c"] == 24.0
    assert tb.readings["humidity_pct"] == 43.38
    assert tb.readings["voltage_v"] == 3.3
    with pytest.raises(ParseError):
        ThermoBeaconParser().parse(mfr(16, "6100160000acfa2f0b26014703a7e71200c0"), CTX)
    bm = BlueMaestroParser().parse(mfr(0x0133, "17550e10061eff2f02a6ff030100"), CTX)
    assert bm is not None
    assert bm.readings == {
        "battery_pct": 85,
        "temperature_c": -20.9,
        "humidity_pct": 67.8,
        "dewpoint_c": -25.3,
    }
    with pytest.raises(ParseError):
        BlueMaestroParser().parse(mfr(0x0133, "1755"), CTX)


# Vectors matching every published value, per family, when this was written (see
# docs/parsers.md for why the rest do not).  A drop below the floor is a regression.
FLOORS = {
    "Ruuvi": 27,
    "Qingping": 30,
    "Inkbird": 43,
    "Govee": 53,
    "ThermoBeacon": 5,
    "BlueMaestro": 2,
    "Eddystone": 4,
    "Negative (must not decode)": 12,
}


def test_vector_families_do_not_regress() -> None:
    ok: collections.Counter[str] = collections.Counter()
    for chk in check_all():
        ok[chk.family] += chk.ok
    low = {fam: (ok[fam], floor) for fam, floor in FLOORS.items() if ok[fam] < floor}
    assert not low, f"families below their floor (got, floor): {low}"
