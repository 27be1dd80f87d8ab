"""Repeat suppression: window, max_interval, content changes, LRU cap, offline."""

from __future__ import annotations

from bt_mqtt.agent.dedup import Dedup, content_of
from bt_mqtt.core.advert import Advert

MAC = "AA:BB:CC:DD:EE:FF"


def c(data: bytes = b"\x01", **kw: object) -> tuple[object, ...]:
    return content_of(Advert(mac=MAC, rssi=-60, manufacturer_data={76: data}, **kw))  # type: ignore[arg-type]


def test_repeats_inside_window_dropped_and_window_slides() -> None:
    d = Dedup(window_s=10, max_interval_s=300, max_entries=100)
    assert d.offer(MAC, c(), 0.0)
    assert not d.offer(MAC, c(), 5.0)
    assert not d.offer(MAC, c(), 14.0)  # 9 s after the last sighting: still a repeat
    assert d.offer(MAC, c(), 24.5)  # silent for 10.5 s: published again


def test_unchanged_content_republished_every_max_interval() -> None:
    d = Dedup(window_s=10, max_interval_s=30, max_entries=100)
    published = [t for t in range(100) if d.offer(MAC, c(), float(t))]
    assert published == [0, 30, 60, 90]


def test_every_content_change_published_rssi_ignored() -> None:
    d = Dedup(window_s=10, max_interval_s=300, max_entries=100)
    assert d.offer(MAC, c(b"\x01"), 0)
    assert d.offer(MAC, c(b"\x02"), 1)
    assert d.offer(MAC, c(b"\x01"), 2)  # back to the earlier value: a change again
    assert not d.offer(MAC, c(b"\x01"), 3)
    assert d.offer(MAC, c(b"\x01", name="x"), 4)  # name is content
    assert d.offer(MAC, c(b"\x01", name="x", tx_power=4), 5)  # so is tx_power
    assert content_of(Advert(mac=MAC, rssi=-1)) == content_of(Advert(mac=MAC, rssi=-99))


def test_addresses_are_independent_and_lru_capped() -> None:
    d = Dedup(window_s=10, max_interval_s=300, max_entries=3)
    for i in range(3):
        assert d.offer(f"AA:00:00:00:00:0{i}", c(), 0)
    assert not d.offer("AA:00:00:00:00:00", c(), 1)  # touch 00: now most recent
    assert d.offer("AA:00:00:00:00:09", c(), 2)  # evicts 01, the least recent
    assert len(d) == 3 and d.evictions == 1
    assert not d.offer("AA:00:00:00:00:00", c(), 3)
    assert d.offer("AA:00:00:00:00:01", c(), 3)  # forgotten: treated as new


def test_offline_offer_records_nothing() -> None:
    d = Dedup(window_s=10, max_interval_s=300, max_entries=100)
    assert d.offer(MAC, c(b"\x01"), 0)
    assert d.offer(MAC, c(b"\x02"), 1, commit=False)  # dropped offline: not remembered
    assert d.offer(MAC, c(b"\x02"), 2)  # so published once back online
    assert not d.offer(MAC, c(b"\x02"), 3, commit=False)  # a repeat stays a repeat
    assert d.offer("AA:00:00:00:00:01", c(), 4, commit=False)
    assert len(d) == 1


def test_devices_since_counts_recent_addresses() -> None:
    d = Dedup(window_s=10, max_interval_s=300, max_entries=100)
    d.offer("AA:00:00:00:00:01", c(), 0)
    d.offer("AA:00:00:00:00:02", c(), 50)
    d.offer("AA:00:00:00:00:03", c(), 60)
    d.offer("AA:00:00:00:00:01", c(), 65)  # repeat refreshes last-seen
    assert d.devices_since(55) == 2
    assert d.devices_since(0) == 3
    assert d.devices_since(100) == 0
