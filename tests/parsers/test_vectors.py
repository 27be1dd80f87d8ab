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


# Every vector of a supported family that does not match, with the reason.  Exact: a vector
# that starts to differ fails the test even while its family stays above its minimum, and one
# that starts to match must be taken off this list.
KNOWN_DIFFERENCES: dict[str, str] = {
    "ble_monitor_tests.jsonl:109": "BTHome v2 frame with two temperatures: ble_monitor keeps "
    "only the last (25.9), we report the first (25.7) as bthome-ble does",
    "ble_monitor_tests.jsonl:113": "Govee H5055: ble_monitor ignores the probe-connected bits "
    "and reports probes 3-4; we follow govee-ble, whose four H5055 vectors rely on them",
    "inkbird-ble_tests.jsonl:27": "untestable: its value comes from an earlier advert the "
    "vector omits",
    "inkbird-ble_tests.jsonl:30": "untestable: its values come from GATT notifications; the "
    "advert is the IAM-T1's id frame",
    # Formats we do not decode, carried in a frame a parser of ours claims (their readings are
    # the unsupported vendor's; what we report of the frame itself is right)
    **{
        f"ble_monitor_tests.jsonl:{n}": "HolyIoT sensor data in an iBeacon-like frame: not "
        "decoded (only the beacon part is)"
        for n in range(133, 139)
    },
    **{
        f"ble_monitor_tests.jsonl:{n}": "Jaalee temperature/humidity in an iBeacon frame: not "
        "decoded (only the beacon part is)"
        for n in range(156, 159)
    },
    "ble_monitor_tests.jsonl:230": "Tilt hydrometer values in an iBeacon's major/minor: not "
    "decoded (only the beacon part is)",
    "ble_monitor_tests.jsonl:168": "Mi Scale v1 frame with both 'stable' and 'weight removed' "
    "set: ble_monitor reports stabilized from the stable bit alone; we report a stabilized "
    "mass only while the person is on the scale",
}


def test_exactly_the_known_vectors_differ(checks: list[Check]) -> None:
    # a supported family's vector, or one some parser of ours claimed, that does not match
    differ = {
        c.vector.ident: c.reasons
        for c in checks
        if not c.ok
        and (c.family in MINIMUM or "no parser claimed the advertisement" not in c.reasons)
    }
    new = {k: v for k, v in differ.items() if k not in KNOWN_DIFFERENCES}
    fixed = sorted(set(KNOWN_DIFFERENCES) - set(differ))
    assert not new, f"vectors that differ now (fix, or list with a reason): {new}"
    assert not fixed, f"vectors that match now: take them off KNOWN_DIFFERENCES: {fixed}"


def test_wrong_bindkeys_are_decryption_failures(checks: list[Check]) -> None:
    wrong = [c for c in checks if c.vector.wrong_key and c.family in MINIMUM]
    assert len(wrong) >= 3
    assert all(c.ok for c in wrong), [c.reasons for c in wrong if not c.ok]
