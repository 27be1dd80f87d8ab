"""BTHome v2: ours against bthome-ble (a maintained decoder, test-only) on random payloads."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers import bthome_layouts
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from tests.parsers.encoders import BTHOME_BINARY, BTHOME_NUMERIC, bthome_object, bthome_raw_range
from tests.parsers.reference import service_info

UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
MAC = "54:48:E6:8F:80:A5"
REGISTRY = Registry.default(plugins=False)
IDS = sorted(BTHOME_NUMERIC) + sorted(BTHOME_BINARY)


def reference(payload: bytes) -> list[float]:
    """Sensor and binary-sensor values bthome-ble reports (sorted, booleans as 0/1)."""
    from bthome_ble import BTHomeBluetoothDeviceData  # noqa: PLC0415

    info = service_info(MAC, name="x", service_data={UUID: payload}, service_uuids=[UUID])
    update: Any = BTHomeBluetoothDeviceData().update(info)
    values = [
        float(v.native_value)
        for k, v in update.entity_values.items()
        if k.key not in ("signal_strength", "packet_id")
    ]
    values += [float(bool(v.native_value)) for v in update.binary_entity_values.values()]
    return sorted(values)


def _entity(oid: int) -> str:
    """bthome-ble keeps one value per quantity (mm and m distances are one entity)."""
    if oid in BTHOME_BINARY:
        return BTHOME_BINARY[oid]
    return BTHOME_NUMERIC[oid][0].rsplit("_", 1)[0]


@st.composite
def objects(draw: st.DrawFn) -> list[tuple[int, int]]:
    ids = sorted(draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique_by=_entity)))
    return [(oid, draw(st.integers(*bthome_raw_range(oid)))) for oid in ids]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(objs=objects())
def test_agrees_with_bthome_ble(objs: list[tuple[int, int]]) -> None:
    payload = b"\x40" + b"".join(bthome_object(oid, raw)[0] for oid, raw in objs)
    ours = REGISTRY.parse(Advert(MAC, -60, service_data={UUID: payload}), ParseContext())
    assert ours is not None
    mine = sorted(float(v) for v in ours.readings.values())
    theirs = reference(payload)
    assert len(mine) == len(theirs), (payload.hex(), ours.readings, theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), (payload.hex(), mine, theirs)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(objs=objects(), packet=st.integers(0, 255))
def test_compiled_layouts_equal_the_general_loop(objs: list[tuple[int, int]], packet: int) -> None:
    """The second frame of a layout takes the compiled path; it must give the same result."""
    payload = b"\x40\x00" + bytes([packet]) + b"".join(bthome_object(o, r)[0] for o, r in objs)
    advert = Advert(MAC, -60, service_data={UUID: payload})
    bthome_layouts.clear()
    first = REGISTRY.parse(advert, ParseContext())  # general loop, then compiled
    again = REGISTRY.parse(advert, ParseContext())  # compiled (when the layout qualifies)
    assert first is not None
    assert first == again
    assert list(first.readings) == list(again.readings)  # same order too
    assert first.facts["packet_id"] == packet


def test_a_plain_sensor_layout_is_compiled_once_seen() -> None:
    payload = bytes.fromhex("4000090161025d0903b718")  # packet id, battery, temperature, humidity
    bthome_layouts.clear()
    assert bthome_layouts.lookup(payload, 1) is None
    first = REGISTRY.parse(Advert(MAC, -60, service_data={UUID: payload}), ParseContext())
    assert bthome_layouts.lookup(payload, 1) is not None
    other = bytes.fromhex("40000a0162020a0903b818")  # same layout, other values
    res = REGISTRY.parse(Advert(MAC, -60, service_data={UUID: other}), ParseContext())
    assert first is not None and res is not None
    assert first.readings == {"battery_pct": 97, "temperature_c": 23.97, "humidity_pct": 63.27}
    assert res.readings == {"battery_pct": 98, "temperature_c": 23.14, "humidity_pct": 63.28}
    assert res.facts["packet_id"] == 10
    # An event frame is not compiled: it keeps taking the general loop.
    button = bytes.fromhex("40000b3a01")
    REGISTRY.parse(Advert(MAC, -60, service_data={UUID: button}), ParseContext())
    assert bthome_layouts.lookup(button, 1) is None
