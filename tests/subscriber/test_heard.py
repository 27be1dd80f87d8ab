"""The planner's short summary for the HA bridge: coalescing per device, the hand-over window."""

from __future__ import annotations

import pickle

from bt_mqtt.subscriber.heard import DeviceHeard, Heard, Window

MAC = "A4:C1:38:12:34:56"


def fill(
    h: Heard, at: float, temp: float, scanner: str = "pi", rssi: int = -60, **more: float
) -> Heard:
    facts: dict[str, object] = {"manufacturer": "Xiaomi", "model": 7}
    h.device(MAC, "public", None, "atc", facts, {"temperature_c": temp, **more}, scanner, rssi, at)
    return h


def test_a_batch_keeps_the_latest_values_per_device_and_pickles_plainly() -> None:
    h = fill(Heard(), 1.0, 20.0, humidity_pct=40.0)
    h.device(MAC, "public", "ATC_1", "atc", {}, {"temperature_c": 21.0}, "garden", -70, 2.0)
    (dev,) = list(h)
    assert dev == DeviceHeard(
        MAC,
        "public",
        "ATC_1",
        "atc",
        "Xiaomi",
        None,  # a model that is not text is left out
        {"temperature_c": 21.0, "humidity_pct": 40.0},
        {"pi": -60, "garden": -70},
        2.0,
        2,
    )
    assert h.adverts() == 2 and len(h) == 1
    assert pickle.loads(pickle.dumps(h)).devices == h.devices


def test_the_window_hands_over_what_batches_filled_at_most_every_period() -> None:
    w = Window(0.5)
    assert w.due(now=10.0) is None  # nothing heard: nothing to hand over
    fill(w.current, 1.0, 20.0)
    first = w.due(now=10.0)
    assert first is not None and first.devices[MAC].readings == {"temperature_c": 20.0}
    fill(w.current, 1.1, 20.5, scanner="garden", rssi=-80)
    assert w.due(now=10.2) is None  # held
    fill(w.current, 1.2, 21.0, humidity_pct=41.0)
    merged = w.due(now=10.6)
    assert merged is not None
    dev = merged.devices[MAC]
    assert dev.readings == {"temperature_c": 21.0, "humidity_pct": 41.0}
    assert dev.rssi == {"garden": -80, "pi": -60}
    assert (dev.at, dev.adverts) == (1.2, 2)
    # held when traffic stops: flushed on request
    fill(w.current, 2.0, 22.0)
    assert w.due(now=10.7) is None
    held = w.flush(now=15.0)
    assert held is not None and held.devices[MAC].readings["temperature_c"] == 22.0
    assert w.flush(now=16.0) is None
