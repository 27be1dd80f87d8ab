"""The TheengsDecoder last resort: mapping, routing (built-ins first), negative cache, failures.

The real TheengsDecoder (requirements-test.txt) does the decoding; ``Counting`` wraps it to count
the calls.  Payloads: ble_monitor's test vectors (tests/vectors) of devices no built-in
parser supports (Sensirion MyCO2 / SHT4x, ThermoPro TP357, b-parasite).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.theengs import (
    INSTALL_HINT,
    TheengsParser,
    TheengsUnavailable,
    load_decoder,
    requests,
    shape,
)
from bt_mqtt.parsers.theengs_map import G, map_output

SENSIRION = 1749  # 0x06D5
MYCO2 = bytes.fromhex("000867355367925c0b04")  # SCD4x: 25.63 °C, 36.16 %, 1035 ppm
MYCO2_OTHER = bytes.fromhex("000999355367925c0b04")  # same shape, a sample type Theengs lacks
SHT4X = bytes.fromhex("0006e2e7036a1c65")  # 27.47 °C, 43.37 %
ATC = uuid128(0x181A)


class Counting:
    """The real ``decodeBLE`` with a call counter (or a replacement function)."""

    def __init__(self, fn: Any = None) -> None:
        self.fn = fn or load_decoder()[0]
        self.calls = 0

    def __call__(self, text: str) -> Any:
        self.calls += 1
        return self.fn(text)


def make(fn: Any = None, **kw: Any) -> tuple[Registry, TheengsParser, Counting]:
    counting = Counting(fn)
    theengs = TheengsParser(counting, load_decoder()[1], **kw)
    reg = Registry.default(plugins=False)
    reg.last_resort = theengs
    return reg, theengs, counting


def myco2(payload: bytes = MYCO2, mac: str = "F8:EA:DC:3C:67:35") -> Advert:
    return Advert(mac, -80, name="MyCO2", manufacturer_data={SENSIRION: payload})


def unknown(i: int, company: int = 0x0087, first: int = 0x01) -> Advert:
    """An advert nobody decodes whose payload changes (a counter past the first byte)."""
    payload = bytes([first]) + i.to_bytes(3, "big")
    return Advert("12:34:56:78:9A:BC", -70, manufacturer_data={company: payload})


# -- decoding -----------------------------------------------------------------------------


def test_a_device_only_theengs_knows_decodes_with_our_metric_names() -> None:
    assert Registry.default(plugins=False).decode(myco2(), ParseContext()).parser is None
    reg, _, _ = make()
    out = reg.decode(myco2(), ParseContext())
    assert out.parser == "theengs:SCD4X"
    assert out.result is not None
    r = out.result.readings
    assert set(r) == {"temperature_c", "humidity_pct", "co2_ppm"}  # tempf dropped
    assert r["temperature_c"] == pytest.approx(25.63, abs=0.005)
    assert r["humidity_pct"] == pytest.approx(36.16, abs=0.005)
    assert r["co2_ppm"] == 1035
    facts = out.result.facts
    assert facts["manufacturer"] == "Sensirion"
    assert facts["model_id"] == "SCD4X"
    assert "model" in facts
    assert reg.stats.hits["theengs:SCD4X"] == 1
    assert reg.claims["F8:EA:DC:3C:67:35"] == "theengs:SCD4X"


def test_thermopro_booleans_are_zero_one_readings() -> None:
    reg, _, _ = make()
    advert = Advert(
        "48:7E:48:F2:0C:87",
        -40,
        name="TP359 (0C87)",
        manufacturer_data={65474: b"\x00\x35\x01\x2c"},
    )
    result = reg.parse(advert, ParseContext())
    assert result is not None
    assert result.parser == "theengs:TP35X/393"
    assert result.readings == {"temperature_c": 25.5, "humidity_pct": 53.0, "battery_low": 1.0}


def test_theengs_is_asked_when_the_routed_builtin_declines() -> None:
    """b-parasite sends on 0x181A, ATC's UUID: the ATC parser declines its 18-byte frame."""
    reg, _, counting = make()
    data = bytes.fromhex("110b0aa1542cbca1fffff0caf0ca02010042")
    advert = Advert("F0:CA:F0:CA:02:01", -72, name="nRF5", service_data={ATC: data})
    out = reg.decode(advert, ParseContext())
    assert out.parser == "theengs:BPv1.0-1.2"
    assert out.result is not None
    r = out.result.readings
    assert r["temperature_c"] == pytest.approx(21.548)
    assert r["voltage_v"] == pytest.approx(2.721)
    assert r["illuminance_lux"] == 66
    assert r["moisture_pct"] == pytest.approx(100, abs=0.01)
    assert out.result.facts["payload_mac"] == "F0:CA:F0:CA:02:01"
    assert counting.calls == 1


def test_the_decoder_json_carries_every_entry_it_can_match() -> None:
    advert = Advert(
        "AA:BB:CC:DD:EE:FF",
        -60,
        name="x",
        manufacturer_data={SENSIRION: b"\x01", 0x0087: b"\x02"},
        service_data={ATC: b"\x03", "0000abcd-1111-2222-3333-444455556666": b"\x04"},
    )
    objs = [json.loads(t) for t in requests(advert)]
    assert len(objs) == 4
    assert {o["manufacturerdata"] for o in objs} == {"d50601", "870002"}
    assert {o["servicedatauuid"] for o in objs} == {
        "0x181a",
        "0000abcd-1111-2222-3333-444455556666",
    }
    assert all(o["id"] == "AA:BB:CC:DD:EE:FF" and o["name"] == "x" for o in objs)
    assert requests(Advert("AA:BB:CC:DD:EE:FF", -60)) == []


# -- built-ins first ----------------------------------------------------------------------


def test_builtin_parsers_win_and_theengs_is_never_asked() -> None:
    """Theengs decodes these too (ATC, iBeacon, Ruuvi, MiBeacon...); it must not be asked."""
    reg, theengs, counting = make()
    ctx = ParseContext()
    adverts = {
        "atc": Advert("A4:C1:38:8D:18:B2", -60, service_data={ATC: bytes.fromhex(
            "a4c1388d18b201122f640ca025")}),
        "ruuvi": Advert("54:48:E6:8F:80:A5", -60, manufacturer_data={1177: bytes.fromhex(
            "0512fc5394c37c0004fffc040cac364200cdcbb8334c884f")}),
        "ibeacon": Advert("54:48:E6:8F:80:A5", -60, manufacturer_data={76: bytes.fromhex(
            "0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")}),
        "xiaomi": Advert("54:48:E6:8F:80:A5", -60, service_data={uuid128(0xFE95): bytes.fromhex(
            "5020aa01b0a5808fe648540d1004fe004802")}),
        "bthome": Advert("54:48:E6:8F:80:A5", -60, service_data={uuid128(0xFCD2): bytes.fromhex(
            "4000090161025d0903b718")}),
    }  # fmt: skip
    for name, advert in adverts.items():
        for _ in range(3):
            assert reg.decode(advert, ctx).parser == name
            result = reg.parse(advert, ctx)
            assert result is not None and result.parser == name
    assert counting.calls == 0
    assert theengs.calls == 0


def test_a_builtin_failure_is_a_claim_theengs_is_not_asked() -> None:
    reg, _, counting = make()
    truncated = Advert("A4:C1:38:8D:18:B2", -60, service_data={uuid128(0xFCD2): b"\x40\x02"})
    out = reg.decode(truncated, ParseContext())
    assert out.parser == "bthome" and out.error is not None
    assert counting.calls == 0


# -- the negative cache -------------------------------------------------------------------


def test_a_repeated_unknown_advert_is_answered_from_the_cache() -> None:
    reg, theengs, counting = make()
    ctx = ParseContext()
    for i in range(2000):  # the payload changes every time; the shape does not
        assert reg.parse(unknown(i), ctx) is None
    assert counting.calls == 1
    assert theengs.cache_hits == 1999
    assert reg.stats.unknown == 2000
    assert theengs.is_cached(unknown(5))
    # a new device type (another company id, another frame type byte) is asked
    assert reg.parse(unknown(0, company=0x0088), ctx) is None
    assert reg.parse(unknown(0, first=0x02), ctx) is None
    assert counting.calls == 3


def test_shape_ignores_values_and_entry_order_but_not_what_models_match_on() -> None:
    a = Advert("AA:BB:CC:DD:EE:FF", -60, name="n", manufacturer_data={1: b"\x05\x01", 2: b"\x07"})
    b = Advert("11:22:33:44:55:66", -90, name="n", manufacturer_data={2: b"\x07", 1: b"\x05\xff"})
    assert shape(a) == shape(b)
    for other in (
        Advert(a.mac, -60, name="m", manufacturer_data=a.manufacturer_data),
        Advert(a.mac, -60, name="n", manufacturer_data={1: b"\x05\x01\x00", 2: b"\x07"}),
        Advert(a.mac, -60, name="n", manufacturer_data={1: b"\x06\x01", 2: b"\x07"}),
        Advert(a.mac, -60, name="n", manufacturer_data={1: b"\x05\x01"}),
        Advert(a.mac, -60, name="n", manufacturer_data=a.manufacturer_data, service_uuids=[ATC]),
        Advert(a.mac, -60, name="n", manufacturer_data=a.manufacturer_data,
               service_data={ATC: b"\x05\x01"}),
    ):  # fmt: skip
        assert shape(other) != shape(a)


def test_the_cache_is_a_bounded_lru() -> None:
    reg, theengs, counting = make(cache_size=8)
    ctx = ParseContext()
    for company in range(100, 120):
        reg.parse(unknown(0, company=company), ctx)
    assert counting.calls == 20
    assert theengs.counters()["negative_cached"] == 8
    reg.parse(unknown(1, company=112), ctx)  # the oldest kept: a hit, now the newest
    assert counting.calls == 20
    reg.parse(unknown(1, company=100), ctx)  # evicted: asked again, evicts 113
    assert counting.calls == 21
    reg.parse(unknown(2, company=112), ctx)
    assert counting.calls == 21
    reg.parse(unknown(2, company=113), ctx)
    assert counting.calls == 22
    assert theengs.counters()["negative_cached"] == 8


def test_a_cached_shape_is_asked_again_after_recheck_after_hits() -> None:
    """A frame Theengs knows, hidden behind a cached frame of the same shape, heals."""
    reg, theengs, counting = make(recheck_after=5)
    ctx = ParseContext()
    assert reg.parse(myco2(MYCO2_OTHER), ctx) is None  # cached negative
    assert counting.calls == 1
    for _ in range(4):
        assert reg.parse(myco2(), ctx) is None  # hidden by the cached shape
    assert counting.calls == 1
    result = reg.parse(myco2(), ctx)  # the 5th hit re-asks
    assert result is not None and result.parser == "theengs:SCD4X"
    assert theengs.rechecks == 1
    assert counting.calls == 2


def test_a_live_shape_is_never_cached_negative() -> None:
    reg, theengs, counting = make()
    ctx = ParseContext()
    assert reg.parse(myco2(), ctx) is not None
    for _ in range(3):
        assert reg.parse(myco2(MYCO2_OTHER), ctx) is None
        assert reg.parse(myco2(), ctx) is not None
    assert counting.calls == 7
    assert not theengs.is_cached(myco2(MYCO2_OTHER))


def test_recheck_after_zero_never_re_asks() -> None:
    reg, _, counting = make(recheck_after=0)
    for i in range(50):
        reg.parse(unknown(i), ParseContext())
    assert counting.calls == 1


def test_identity_only_answers_are_not_claims_and_are_cached() -> None:
    """ibeacon-ble's negative test frames: Theengs names a model but decodes no value."""
    reg, theengs, counting = make()
    payload = bytes.fromhex("0215426c7565436861726d426561636f6e730efe1355c5")
    advert = Advert("00:00:00:00:00:00", -60, name="not", manufacturer_data={21: payload})
    raw = load_decoder()[0](requests(advert)[0])
    assert raw is not None and not map_output(json.loads(raw), {})[0]  # Theengs: model only
    for _ in range(3):
        assert reg.decode(advert, ParseContext()).parser is None
    assert counting.calls == 1
    assert theengs.identified_only == 1


# -- failures -----------------------------------------------------------------------------


def raises(text: str) -> str:
    raise RuntimeError("decoder blew up")


@pytest.mark.parametrize("fn", [raises, lambda t: "not json", lambda t: "[1]", lambda t: 3])
def test_the_registry_never_raises_when_theengs_fails(fn: Any) -> None:
    reg, theengs, counting = make(fn)
    out = reg.decode(unknown(0), ParseContext())
    assert out.result is None and out.parser == "theengs" and out.error
    assert reg.stats.failed == 1 and reg.stats.errors == {"theengs": 1}
    assert reg.stats.last_error["theengs"].mac == "12:34:56:78:9A:BC"
    assert reg.parse(unknown(1), ParseContext()) is None  # the shape is cached: no new call
    assert counting.calls == 1
    assert theengs.cache_hits == 1


# -- mapping ------------------------------------------------------------------------------


def test_output_mapping_units_names_and_facts() -> None:
    out = {
        "id": "AA:BB", "brand": "B", "model": "M", "model_id": "X", "type": "THB", "cidc": False,
        "acts": True, "tempc": 20.5, "tempf": 68.9, "tempc_max": 30, "tempf_max": 86,
        "tempc3": 55, "tempc2_dp": 9.5, "hum": 40, "batt": 90, "volt_batt_1": 3.1,
        "weight": 1500, "pres": 1.013, "accx": G, "lvl_cm": 12.5, "lvl_in": 4.9,
        "lux": 100, "darkness": 7, "co2": 400, "pm25": 12, "open": True, "batt_low": False,
        "device": "tracker", "packet": 7, "mac": "11:22:33:44:55:66", "odd": 3, "nan": float("nan"),
        "avg": 0.5, "avgu": "kW", "sum": 2.0, "sumu": "m³",
    }  # fmt: skip
    units = {"weight": "g", "pres": "bar", "accx": "m/s²", "lvl_cm": "cm", "darkness": "lx",
             "tempc_max": "°C", "tempc3": "°C", "odd": "furlong", "nan": "V",
             "volt_batt_1": "V", "pm25": "μg/m³", "device": "string"}  # fmt: skip
    readings, facts = map_output(out, units)
    assert readings == pytest.approx(
        {
            "temperature_c": 20.5,
            "temperature_max_c": 30.0,
            "temperature_probe_3_c": 55.0,
            "dewpoint_c": 9.5,
            "humidity_pct": 40.0,
            "battery_pct": 90.0,
            "voltage_batt_1_v": 3.1,
            "mass_kg": 1.5,
            "pressure_hpa": 1013.0,
            "acceleration_x_g": 1.0,
            "tank_level_mm": 125.0,
            "illuminance_lux": 100.0,
            "illuminance_2_lux": 7.0,
            "co2_ppm": 400.0,
            "pm25_ugm3": 12.0,
            "opening": 1.0,
            "battery_low": 0.0,
            "power_w": 500.0,
            "gas_m3": 2.0,
        }
    )
    assert facts == {
        "manufacturer": "B",
        "model": "M",
        "model_id": "X",
        "theengs_type": "THB",
        "device": "tracker",
        "packet": 7,
        "payload_mac": "11:22:33:44:55:66",
        "unmapped": {"odd": {"value": 3, "unit": "furlong"}},
        "invalid": {"nan": "nan"},
    }


# -- enabling it --------------------------------------------------------------------------


def test_theengs_decoder_is_not_imported_unless_enabled() -> None:
    code = (
        "import sys\n"
        "from bt_mqtt.parsers.registry import Registry\n"
        "import bt_mqtt.cli.decode, bt_mqtt.parsers.theengs\n"
        "from bt_mqtt.subscriber.config import load_config\n"
        "load_config(None, {})\n"
        "reg = Registry.default(plugins=False)\n"
        "assert reg.last_resort is None\n"
        "assert 'TheengsDecoder' not in sys.modules, 'imported'\n"
        "Registry.default(plugins=False, theengs=True)\n"
        "assert 'TheengsDecoder' in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_enabled_without_the_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "TheengsDecoder", None)  # what a missing package raises
    with pytest.raises(TheengsUnavailable, match=r"pip install 'bt-mqtt\[theengs\]'"):
        Registry.default(plugins=False, theengs=True)
    assert Registry.default(plugins=False).last_resort is None  # off: nothing needed

    from bt_mqtt.subscriber.config import load_config  # noqa: PLC0415

    path = tmp_path / "subscriber.yaml"
    path.write_text("parsers:\n  theengs: true\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert "parsers.theengs" in str(err.value)
    assert str(path) in str(err.value)
    assert INSTALL_HINT in str(err.value)


def test_subscriber_and_console_use_the_setting(tmp_path: Path) -> None:
    from bt_mqtt.console.decoding import RegistryDecoder  # noqa: PLC0415
    from bt_mqtt.subscriber.config import load_config  # noqa: PLC0415

    path = tmp_path / "subscriber.yaml"
    path.write_text("parsers:\n  theengs: true\n", encoding="utf-8")
    assert load_config(path, {}).parsers.theengs is True
    assert load_config(None, {}).parsers.theengs is False
    decoder = RegistryDecoder(plugins=False, theengs=True)
    result = decoder(myco2())
    assert result is not None and result.parser == "theengs:SCD4X"
    assert RegistryDecoder(plugins=False)(myco2()) is None
