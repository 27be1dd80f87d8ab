"""Blocklist, allowlist and min RSSI."""

from __future__ import annotations

from bt_mqtt.agent.config import FiltersConfig, MatchList
from bt_mqtt.agent.filters import Filter, Matcher
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128 as normalise_uuid

U181A = "0000181a-0000-1000-8000-00805f9b34fb"


def adv(mac: str = "AA:BB:CC:DD:EE:FF", rssi: int = -60, **kw: object) -> Advert:
    return Advert(mac=mac, rssi=rssi, **kw)  # type: ignore[arg-type]


def test_uuid_forms_normalise_to_128_bit() -> None:
    assert normalise_uuid("181a") == U181A
    assert normalise_uuid("0x181A") == U181A
    assert normalise_uuid("0000181A") == U181A
    assert normalise_uuid(U181A.upper()) == U181A


def test_matcher_each_kind() -> None:
    m = Matcher(
        MatchList(
            macs=["aa:bb:cc:dd:ee:01"],
            prefixes=["a4:c1:38:", "11:22"],
            company_ids=[0x004C],
            service_uuids=["181a"],
            names=["ATC_*", "exact"],
        )
    )
    assert m.matches(adv("AA:BB:CC:DD:EE:01"))
    assert m.matches(adv("A4:C1:38:00:00:01"))
    assert m.matches(adv("11:22:00:00:00:01"))
    assert not m.matches(adv("A4:C1:39:00:00:01"))
    assert m.matches(adv(manufacturer_data={0x004C: b"\x02"}))
    assert not m.matches(adv(manufacturer_data={0x0006: b"\x02"}))
    assert m.matches(adv(service_uuids=[U181A]))
    assert m.matches(adv(service_data={U181A: b"\x01"}))
    assert m.matches(adv(name="ATC_1234"))
    assert m.matches(adv(name="exact"))
    assert not m.matches(adv(name="exactly"))
    assert not m.matches(adv(name="atc_1234"))  # globs are case-sensitive
    assert not m.matches(adv())
    assert not m.empty and Matcher(MatchList()).empty


def test_filter_blocklist_allowlist_min_rssi() -> None:
    assert not Filter(FiltersConfig()).active
    f = Filter(
        FiltersConfig(
            blocklist=MatchList(macs=["A4:C1:38:00:00:02"]),
            allowlist=MatchList(prefixes=["A4:C1:38"]),
            min_rssi=-80,
        )
    )
    assert f.active
    assert f.accept(adv("A4:C1:38:00:00:01"))
    assert not f.accept(adv("A4:C1:38:00:00:02"))  # blocklist wins over allowlist
    assert not f.accept(adv("AA:C1:38:00:00:01"))  # not on the allowlist
    assert not f.accept(adv("A4:C1:38:00:00:01", rssi=-81))
    assert f.accept(adv("A4:C1:38:00:00:01", rssi=-80))


def test_empty_allowlist_passes_nothing() -> None:
    f = Filter(FiltersConfig(allowlist=MatchList()))
    assert not f.accept(adv())
