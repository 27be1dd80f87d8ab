"""Random payloads routed to every registered parser: the registry never raises, and what a
parser cannot decode is counted under its name (parse error or decryption failure)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

REGISTRY = Registry.default(plugins=False)
# Payloads per parser: hypothesis draws BATCH payloads per example to keep its overhead low.
PAYLOADS = int(os.environ.get("BT_MQTT_FUZZ_PAYLOADS", "10000"))
BATCH = 50
KEY = bytes(range(16))


UNREGISTERED_COMPANY = 0x5A5A  # no parser lists it: reached only through signatures


def _routes(parser_name: str) -> list[tuple[str, int | str]]:
    """("company", id), ("uuid", uuid), ("advertised", uuid) and ("signature", "offset:hex")
    for each route a parser declares."""
    parser = REGISTRY.parsers[parser_name]
    out: list[tuple[str, int | str]] = [("company", cid) for cid in parser.company_ids]
    out.extend(("uuid", uuid128(u)) for u in parser.service_uuids)
    out.extend(("advertised", uuid128(u)) for u in getattr(parser, "advertised_uuids", ()))
    for offset, prefix in getattr(parser, "manufacturer_signatures", ()):
        out.append(("signature", f"{offset}:{prefix.hex()}"))
    return out


def _advert(mac: str, route: tuple[str, int | str], payload: bytes, name: str | None) -> Advert:
    kind, where = route
    if kind == "company":
        return Advert(mac=mac, rssi=-70, name=name, manufacturer_data={int(where): payload})
    if kind == "advertised":  # random manufacturer data beside the advertised service UUID
        mfr = {int.from_bytes(payload[:2].ljust(2, b"\0"), "little"): payload[2:]}
        return Advert(
            mac=mac, rssi=-70, name=name, manufacturer_data=mfr, service_uuids=[str(where)]
        )
    if kind == "signature":  # the signature spliced into random bytes, any company id
        offset, prefix = str(where).split(":")
        at = int(offset)
        data = payload[:at].ljust(at, b"\0") + bytes.fromhex(prefix) + payload[at:]
        return Advert(mac=mac, rssi=-70, name=name, manufacturer_data={UNREGISTERED_COMPANY: data})
    return Advert(mac=mac, rssi=-70, name=name, service_data={str(where): payload})


def test_every_parser_has_a_route() -> None:
    no_route = [n for n, p in REGISTRY.parsers.items() if not _routes(n) and not p.name_patterns]
    assert not no_route, f"parsers that no advert could reach: {no_route}"


@pytest.mark.parametrize("parser", sorted(REGISTRY.parsers))
def test_random_payloads_never_raise(parser: str) -> None:
    routes = _routes(parser) or [("company", 0xFFFF)]
    reg = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={"11:22:33:44:55:66": KEY})
    seen = {"n": 0}

    @settings(
        max_examples=max(1, PAYLOADS // BATCH),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        payloads=st.lists(st.binary(max_size=40), min_size=BATCH, max_size=BATCH),
        route=st.sampled_from(routes),
        keyed=st.booleans(),
        name=st.none() | st.text(max_size=12),
    )
    def run(
        payloads: list[bytes], route: tuple[str, int | str], keyed: bool, name: str | None
    ) -> None:
        mac = "11:22:33:44:55:66" if keyed else "AA:BB:CC:DD:EE:FF"
        for payload in payloads:
            seen["n"] += 1
            before = _failures(reg)
            outcome = reg.decode(_advert(mac, route, payload, name), ctx)  # must not raise
            if outcome.error is not None and outcome.parser is not None:
                # Every parser that failed is counted (several may share a route).
                assert _failures(reg) >= before + 1, "a failure was not counted"
            if outcome.result is not None:
                for metric, value in outcome.result.readings.items():
                    assert isinstance(value, int | float), (metric, value)

    run()
    assert seen["n"] >= PAYLOADS
    stats = reg.stats
    assert stats.adverts == seen["n"]
    handled = stats.decoded + stats.failed + stats.unknown
    assert handled == stats.adverts, "every advert is decoded, a counted failure or unknown"
    assert stats.decoded <= sum(stats.hits.values())
    assert stats.failed <= sum(stats.errors.values()) + sum(stats.decrypt_failures.values())


def _failures(reg: Registry) -> int:
    return sum(reg.stats.errors.values()) + sum(reg.stats.decrypt_failures.values())
