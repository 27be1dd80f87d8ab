"""The registry: index routing, priority, counting, bounded claims, entry-point plugins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import DecryptionError, ParseContext, ParseResult
from bt_mqtt.parsers.registry import Outcome, Registry

UUID_A = "0000aaaa-0000-1000-8000-00805f9b34fb"


class Boom:
    name: ClassVar[str] = "boom"
    company_ids: ClassVar[tuple[int, ...]] = (0x1234,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()
    calls = 0

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        Boom.calls += 1
        data = advert.manufacturer_data[0x1234]
        if data == b"\x00":
            raise DecryptionError("no key")
        if data == b"\x01":
            return None
        return ParseResult(self.name, {"value": data[1]})  # IndexError on 1 byte


class Low:
    name: ClassVar[str] = "low"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = ("aaaa",)  # short form, expanded
    name_patterns: ClassVar[tuple[str, ...]] = (r"Sensor-\d+",)

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        return ParseResult(self.name, {"low": 1})


class High(Low):
    name: ClassVar[str] = "high"
    priority: ClassVar[int] = 5

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        return ParseResult(self.name, {"high": 1})


def adv(mac: str = "AA:BB:CC:DD:EE:FF", **kw: object) -> Advert:
    return Advert(mac=mac, rssi=-50, **kw)  # type: ignore[arg-type]


def test_routes_by_company_uuid_and_name_and_counts() -> None:
    reg = Registry([Boom, Low])
    ctx = ParseContext()
    assert reg.parse(adv(manufacturer_data={0x1234: b"\x02\x07"}), ctx) == ParseResult(
        "boom", {"value": 7}
    )
    assert reg.parse(adv(service_data={UUID_A: b""}), ctx) is not None
    assert reg.parse(adv(name="Sensor-12"), ctx) is not None
    assert reg.parse(adv(name="Other"), ctx) is None
    assert reg.parse(adv(manufacturer_data={0x9999: b""}), ctx) is None
    assert reg.stats.hits == {"boom": 1, "low": 2}
    assert reg.stats.unknown == 2
    assert reg.stats.adverts == 5


def test_only_indexed_parsers_are_asked() -> None:
    reg = Registry([Boom, Low])
    Boom.calls = 0
    for _ in range(10):
        reg.parse(adv(service_data={UUID_A: b""}), ParseContext())
    assert Boom.calls == 0


def test_errors_and_decryption_failures_are_counted_never_raised() -> None:
    reg = Registry([Boom])
    ctx = ParseContext()
    assert reg.parse(adv(manufacturer_data={0x1234: b"\x05"}), ctx) is None
    out = reg.decode(adv(manufacturer_data={0x1234: b"\x00"}), ctx)
    assert out.parser == "boom"
    assert out.decrypt_failed
    assert out.result is None
    assert reg.stats.errors == {"boom": 1}
    assert reg.stats.decrypt_failures == {"boom": 1}
    assert reg.stats.last_error["boom"].kind == "decrypt"
    assert reg.stats.adverts == 2
    # A parser declining is not an error: the advert is unknown.
    assert reg.parse(adv(manufacturer_data={0x1234: b"\x01"}), ctx) is None
    assert reg.stats.unknown == 1
    assert reg.stats.as_dict()["errors"] == {"boom": 1}


def test_priority_decides_between_formats() -> None:
    reg = Registry([Low, High])
    result = reg.parse(adv(service_data={UUID_A: b""}), ParseContext())
    assert result is not None
    assert result.parser == "high"


def test_claims_are_bounded_and_recorded() -> None:
    reg = Registry([Low], max_claims=3)
    for i in range(5):
        reg.parse(adv(mac=f"AA:BB:CC:DD:EE:{i:02X}", name="Sensor-1"), ParseContext())
    assert list(reg.claims) == ["AA:BB:CC:DD:EE:02", "AA:BB:CC:DD:EE:03", "AA:BB:CC:DD:EE:04"]
    assert set(reg.claims.values()) == {"low"}


def test_duplicate_names_and_non_parsers_are_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        Registry([Low, Low])
    with pytest.raises(TypeError, match="not a parser"):
        Registry([object()])


def test_default_has_builtins() -> None:
    reg = Registry.default(plugins=False)
    assert {"bthome", "atc", "xiaomi"} <= set(reg.parsers)


def test_entry_point_plugins_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "demo_plugin.py"
    pkg.write_text(
        "from __future__ import annotations\n"
        "from bt_mqtt.parsers.api import ParseResult\n"
        "class Demo:\n"
        "    name = 'demo'\n"
        "    company_ids = (0xBEEF,)\n"
        "    service_uuids = ()\n"
        "    name_patterns = ()\n"
        "    def parse(self, advert, ctx):\n"
        "        return ParseResult('demo', {'x': 1})\n"
    )
    dist = tmp_path / "demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[bt_mqtt.parsers]\ndemo = demo_plugin:Demo\nbroken = demo_plugin:Missing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "demo_plugin", raising=False)
    reg = Registry.default(plugins=True)
    assert "demo" in reg.parsers
    assert [p.entry_point for p in reg.plugin_problems] == ["broken = demo_plugin:Missing"]
    result = reg.parse(adv(manufacturer_data={0xBEEF: b""}), ParseContext())
    assert result is not None
    assert result.readings == {"x": 1}


class Sig:
    """Claims any company's frame that starts with 0xC0DE (the signature index)."""

    name: ClassVar[str] = "sig"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()
    advertised_uuids: ClassVar[tuple[str, ...]] = ("bbbb",)
    manufacturer_signatures: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"\xc0\xde"),)
    calls = 0

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        Sig.calls += 1
        if any(d[:2] == b"\xc0\xde" for d in advert.manufacturer_data.values()):
            return ParseResult(self.name, {"sig": 1})
        return None


class BeaconA:
    name: ClassVar[str] = "beacon_a"
    company_ids: ClassVar[tuple[int, ...]] = (0x004C,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = -1
    merges: ClassVar[bool] = True

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        return ParseResult(self.name, {"tx_power_dbm": -59}, {"uuid": "a"})


class BeaconB(BeaconA):
    name: ClassVar[str] = "beacon_b"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = ("aaaa",)

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        return ParseResult(self.name, {"tx_power_dbm": -20, "voltage_v": 3.0}, {"url": "b"})


class Sensor:
    name: ClassVar[str] = "sensor"
    company_ids: ClassVar[tuple[int, ...]] = (0x1234,)
    service_uuids: ClassVar[tuple[str, ...]] = ()
    name_patterns: ClassVar[tuple[str, ...]] = ()

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        return ParseResult(self.name, {"temperature_c": 20.0})


def test_signature_index_only_for_unclaimed_adverts() -> None:
    reg = Registry([Sig, Boom])
    Sig.calls = 0
    ctx = ParseContext()
    # Any company id: found through the signature, not tried on other adverts.
    assert reg.parse(adv(manufacturer_data={0x7777: b"\xc0\xde\x01"}), ctx) == ParseResult(
        "sig", {"sig": 1}
    )
    assert reg.parse(adv(manufacturer_data={0x7777: b"\x00\x00\x01"}), ctx) is None
    assert Sig.calls == 1
    # Claimed by the primary index (Boom decodes it): the signature index is not asked.
    out = reg.decode(adv(manufacturer_data={0x1234: b"\xc0\xde"}), ctx)
    assert out.parser == "boom"
    assert Sig.calls == 1
    # Advertised service UUIDs route too (16-bit forms expanded).
    uuid = "0000bbbb-0000-1000-8000-00805f9b34fb"
    assert reg.parse(adv(service_uuids=[uuid], manufacturer_data={1: b"\xc0\xde"}), ctx)
    assert Sig.calls == 2


def test_beacon_frames_merge_and_sensors_stand_alone() -> None:
    reg = Registry([BeaconA, BeaconB, Sensor])
    ctx = ParseContext()
    both = adv(manufacturer_data={0x004C: b""}, service_data={UUID_A: b""})
    res = reg.parse(both, ctx)
    assert res is not None
    assert res.parser == "beacon_a"  # registration order among equals; the primary wins
    assert res.readings == {"tx_power_dbm": -59, "voltage_v": 3.0}
    assert res.facts == {"uuid": "a", "url": "b", "merged_from": ["beacon_b"]}
    # A sensor outranks beacons and its result is final: the beacons are not merged in.
    res = reg.parse(adv(manufacturer_data={0x004C: b"", 0x1234: b""}), ctx)
    assert res == ParseResult("sensor", {"temperature_c": 20.0})
    assert reg.stats.adverts == reg.stats.decoded == 2
    assert reg.stats.hits == {"beacon_a": 1, "beacon_b": 1, "sensor": 1}


def test_results_do_not_depend_on_history() -> None:
    reg = Registry([BeaconA, BeaconB, Sensor])
    ctx = ParseContext()
    mac = "AA:BB:CC:DD:EE:01"
    beacon = adv(mac, service_data={UUID_A: b""})
    sensor = adv(mac, manufacturer_data={0x004C: b"", 0x1234: b""})
    first = reg.parse(beacon, ctx)
    reg.parse(sensor, ctx)
    assert reg.claims[mac] == "sensor"
    assert reg.parse(beacon, ctx) == first  # the claim is a record, not a routing input


def test_failure_of_one_candidate_does_not_hide_another() -> None:
    class Other(Sensor):
        name: ClassVar[str] = "other"

    reg = Registry([Boom, Other])
    out = reg.decode(adv(manufacturer_data={0x1234: b"\x05"}), ParseContext())
    assert out.parser == "other"  # Boom raised (counted), Other decoded
    assert reg.stats.errors == {"boom": 1}
    assert (reg.stats.decoded, reg.stats.failed, reg.stats.unknown) == (1, 0, 0)


def test_signature_match_that_the_parser_declines_is_unknown() -> None:
    class Picky(Sig):
        name: ClassVar[str] = "picky"

        def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
            return None  # the signature matched, the frame is still not ours

    reg = Registry([Picky])
    out = reg.decode(adv(manufacturer_data={0x7777: b"\xc0\xde"}), ParseContext())
    assert out == Outcome(None, None)
    assert (reg.stats.adverts, reg.stats.unknown) == (1, 1)
    # The built-ins: a Govee meat-probe head on a frame of no probe length.
    builtin = Registry.default(plugins=False)
    odd = adv(manufacturer_data={0x5555: bytes.fromhex("4401000101e40186083412")})
    assert builtin.decode(odd, ParseContext()).result is None
