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
from bt_mqtt.parsers.inkbird import InkbirdParser, set_model
from bt_mqtt.parsers.qingping import QINGPING_UUID, QingpingParser
from bt_mqtt.parsers.registry import Outcome, Registry
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
    assert tb.readings["humidity_pct"] == 43.375  # 694 / 16: the frame's own resolution
    assert tb.readings["voltage_v"] == 3.298
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
    "Ruuvi": 40,
    "iBeacon": 11,
    "AltBeacon": 8,
    "Eddystone": 15,
    "Qingping": 30,
    "Inkbird": 53,
    "Govee": 107,
    "ThermoBeacon": 11,
    "BlueMaestro": 5,
    "Negative (must not decode)": 12,
}


def test_vector_families_do_not_regress() -> None:
    ok: collections.Counter[str] = collections.Counter()
    for chk in check_all():
        ok[chk.family] += chk.ok
    low = {fam: (ok[fam], floor) for fam, floor in FLOORS.items() if ok[fam] < floor}
    assert not low, f"families below their floor (got, floor): {low}"


def _reg_decode(advert: Advert, ctx: ParseContext | None = None) -> Outcome:
    return Registry.default(plugins=False).decode(advert, ctx or ParseContext())


@pytest.mark.parametrize(
    "frame, name, readings, event",
    [  # govee-ble's captures of the encrypted H512x frames
        (
            "59940000f0b91937ae50b6372c866ac2f3d061e717c02cef",
            "GV5121195A",
            {},
            ("motion", "motion"),
        ),
        ("3dec0000de4377d55e55f991496e36bdc67f8b2c27067497", "GV51230B3D", {"window": 1}, None),
        ("3dec000159db6bd9bed7aff72a26aa4bd72dfa94573e5be9", "GV51230B3D", {"window": 0}, None),
        ("477500ae6750fa3447445146492085c27610ea02b3a0063f", "GV51307479", {"presence": 1}, None),
        ("01c400016b98d35dcbbc1316c4c93f2bf92bec8659ce2040", "", {}, ("button_1", "press")),
    ],
)
def test_govee_h512x_decrypts(
    frame: str, name: str, readings: dict[str, float], event: tuple[str, str] | None
) -> None:
    out = _reg_decode(mfr(0xEF88, frame, name or None))
    assert out.result is not None, out.error
    assert out.result.readings == {"battery_pct": 100, **readings}
    events = [(e["key"], e["event"]) for e in out.result.facts.get("events", [])]
    assert events == ([event] if event else [])


def test_govee_h512x_bad_crc_is_a_counted_error() -> None:
    reg = Registry.default(plugins=False)
    bad = mfr(0xEF88, "59940000f0b91937ae50b6372c866ac2f3d061e717c00000", "GV5121195A")
    out = reg.decode(bad, ParseContext())
    assert out.result is None
    assert out.error is not None and "CRC" in out.error
    assert reg.stats.errors == {"govee": 1}


def test_govee_probes_any_company_through_the_signature() -> None:
    # No name, no service UUID, a company id nobody registers: bytes 1-4 = 01 00 01 01.
    out = _reg_decode(mfr(0x5530, "4401000101e401860834ffff860960ffff"))
    assert out.parser == "govee"
    assert out.result is not None
    assert out.result.readings == {
        "temperature_probe_1_c": 21.0,
        "temperature_alarm_probe_1_c": 0.0,  # 0xFFFF: no alarm set
        "temperature_probe_2_c": 24.0,
        "temperature_alarm_probe_2_c": 0.0,
    }


def test_govee_h5055_reports_connected_probes_only() -> None:
    advert = Advert(
        MAC,
        -60,
        manufacturer_data={0xAF2F: bytes.fromhex("5500644c201a00ffffffff2019001400b1000000")},
        service_uuids=["00005550-0000-1000-8000-00805f9b34fb"],
    )
    out = _reg_decode(advert)
    assert out.result is not None
    assert out.result.readings == {
        "temperature_probe_3_c": 26.0,
        "temperature_probe_4_c": 25.0,
        "temperature_alarm_probe_4_c": 177.0,
        "low_temperature_alarm_probe_4_c": 20.0,
        "battery_pct": 100,
    }


def test_govee_h5178_sub_devices() -> None:
    for byte, sub in (("00", "primary"), ("01", "remote"), ("07", "primary")):
        res = GoveeParser().parse(mfr(1, f"0101{byte}002af7640003", "B51782BC8"), CTX)
        assert res is not None
        assert res.facts["sub_device"] == sub
        assert res.readings == {"temperature_c": 1.0, "humidity_pct": 99.9, "battery_pct": 100}


def test_inkbird_model_set_by_the_caller() -> None:
    ctx = ParseContext()
    advert = Advert(
        "AA:BB:CC:DD:EE:FF",
        -60,
        name="N0BYD",  # a garbled name
        manufacturer_data={63915: bytes.fromhex("1b1e0048e33708")},
        service_uuids=["0000fff0-0000-1000-8000-00805f9b34fb"],
    )
    assert _reg_decode(advert, ctx).result is None
    set_model(ctx, "aa:bb:cc:dd:ee:ff", "IBS-TH")
    out = _reg_decode(advert, ctx)
    assert out.result is not None
    assert out.result.readings == {
        "temperature_c": -16.21,
        "humidity_pct": 77.07,
        "battery_pct": 55,
    }
    with pytest.raises(ValueError, match="unknown model"):
        set_model(ctx, "AA:BB:CC:DD:EE:FF", "IBS-XX")


def test_bluemaestro_pebble() -> None:
    res = BlueMaestroParser().parse(mfr(0x0133, "01cf00cf00cf002ec903b2d7009167fa0700"), CTX)
    assert res is not None
    assert res.readings == {"temperature_c": 20.7, "humidity_pct": 46, "pressure_hpa": 969}
