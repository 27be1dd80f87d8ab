"""Every test vector through the registry; per-family match rates (see docs/parsers.md)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.parsers.vector_load import load_vectors, vectors_dir
from tests.parsers.vector_rules import match_rate
from tests.parsers.vectors import Check, check_all

# Minimum share of a family's vectors that match every published value.  The target is 0.97
# for every supported format; a lower figure here is a known gap, listed in the report.
MINIMUM: dict[str, float] = {
    "BTHome v1": 0.97,
    "BTHome v2": 0.97,
    "ATC1441 / pvvx": 0.97,
    "Xiaomi MiBeacon": 0.97,
    "Xiaomi scales / other UUIDs": 0.97,
    "Negative (must not decode)": 1.0,
    # Beacons and vendor sensors (untestable vectors, see vector_rules.INPUT_MISSING, are
    # left out of the denominator and listed in the report).
    "Ruuvi": 0.97,
    "iBeacon": 0.97,
    "AltBeacon": 0.97,
    "Eddystone": 0.97,
    "Govee": 0.97,
    "Inkbird": 0.97,
    "Qingping": 0.97,
    "ThermoBeacon": 0.97,
    "BlueMaestro": 0.97,
}


@pytest.fixture(scope="module")
def checks() -> list[Check]:
    assert vectors_dir().is_dir(), f"vectors not found at {vectors_dir()} (BT_MQTT_VECTORS)"
    return check_all()


def test_vectors_load() -> None:
    vectors = load_vectors()
    assert len(vectors) > 900
    assert all(v.advert.mac for v in vectors)


@pytest.mark.parametrize("family", sorted(MINIMUM))
def test_family_match_rate(checks: list[Check], family: str) -> None:
    fams: dict[str, list[Check]] = defaultdict(list)
    for c in checks:
        fams[c.family].append(c)
    cs = fams[family]
    assert cs, f"no vectors for {family}"
    ok, testable, _untestable = match_rate(cs)
    bad = [f"{c.vector.ident}: {c.reasons}" for c in cs if not c.ok][:10]
    assert testable, f"no testable vectors for {family}"
    assert ok / testable >= MINIMUM[family], f"{ok}/{testable} match; first failures: {bad}"


def test_wrong_bindkeys_are_decryption_failures(checks: list[Check]) -> None:
    wrong = [c for c in checks if c.vector.wrong_key and c.family in MINIMUM]
    assert len(wrong) >= 3
    assert all(c.ok for c in wrong), [c.reasons for c in wrong if not c.ok]
