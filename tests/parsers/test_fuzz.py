"""Random payloads routed to every registered parser: the registry never raises, and what a
parser cannot decode is counted under its name (parse error or decryption failure)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, uuid128
from bt_mqtt.parsers.registry import Registry

REGISTRY = Registry.default(plugins=False)
EXAMPLES = int(os.environ.get("BT_MQTT_FUZZ_EXAMPLES", "10000"))
KEY = bytes(range(16))


def _routes() -> list[tuple[str, str, object]]:
    """(parser, kind, route) for each company id and service UUID a parser declares."""
    out: list[tuple[str, str, object]] = []
    for name, parser in REGISTRY.parsers.items():
        out.extend((name, "company", cid) for cid in parser.company_ids)
        out.extend((name, "uuid", uuid128(u)) for u in parser.service_uuids)
    return out


ROUTES = _routes()


def test_every_parser_has_a_route() -> None:
    names = {name for name, _, _ in ROUTES}
    no_route = [
        n for n, p in REGISTRY.parsers.items() if n not in names and not p.name_patterns
    ]
    assert not no_route, f"parsers that no advert could reach: {no_route}"


@pytest.mark.parametrize(("parser", "kind", "route"), ROUTES, ids=lambda x: str(x))
def test_random_payloads_never_raise(parser: str, kind: str, route: object) -> None:
    reg = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={"11:22:33:44:55:66": KEY})
    seen = {"n": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(payload=st.binary(max_size=40), keyed=st.booleans())
    def run(payload: bytes, keyed: bool) -> None:
        seen["n"] += 1
        mac = "11:22:33:44:55:66" if keyed else "AA:BB:CC:DD:EE:FF"
        if kind == "company":
            advert = Advert(mac=mac, rssi=-70, manufacturer_data={int(route): payload})  # type: ignore[call-overload]
        else:
            advert = Advert(mac=mac, rssi=-70, service_data={str(route): payload})
        before = _failures(reg)
        outcome = reg.decode(advert, ctx)  # must not raise
        if outcome.error is not None and outcome.parser is not None:
            assert _failures(reg) == before + 1, "a failure was not counted"
        if outcome.result is not None:
            for metric, value in outcome.result.readings.items():
                assert isinstance(value, int | float), (metric, value)

    run()
    stats = reg.stats
    assert stats.adverts == seen["n"]
    handled = sum(stats.hits.values()) + sum(stats.errors.values())
    handled += sum(stats.decrypt_failures.values()) + stats.unknown
    assert handled == stats.adverts, "every advert is a hit, a counted failure or unknown"


def _failures(reg: Registry) -> int:
    return sum(reg.stats.errors.values()) + sum(reg.stats.decrypt_failures.values())
