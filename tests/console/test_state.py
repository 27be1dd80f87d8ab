"""The pure state core: ingest, bounds, expiry, grouping, counting of everything rejected."""

from __future__ import annotations

import json

from bt_mqtt.console.rates import BucketSeries, WindowRate, sparkline
from bt_mqtt.console.state import ConsoleState, Limits
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.parsers.api import ParseResult
from bt_mqtt.subscriber.devicesettings import Devices, DeviceSettings

T0 = 1_800_000_000.0


def decoder(adv: Advert) -> ParseResult | None:
    """Claims adverts named 'known' with a temperature from the RSSI (enough to test the core)."""
    if adv.name == "known":
        return ParseResult("fake", {"temperature_c": float(-adv.rssi)}, {"model": "m"})
    if adv.name == "boom":
        raise RuntimeError("parser bug")
    return None


def payload(mac: str, rssi: int = -60, name: str | None = "known", scanner: str = "s1",
            seq: int = 1, **adv: object) -> bytes:  # fmt: skip
    a = Advert(mac, rssi, name=name, **adv)  # type: ignore[arg-type]
    return encode(a, scanner, "boot", seq, format_ts(T0))


def mac(i: int) -> str:
    return ":".join(f"{b:02X}" for b in i.to_bytes(6, "big"))


def test_ingest_tracks_device_parser_readings_and_scanners() -> None:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), -70), T0)
    st.ingest_raw("p/raw/s2", "s2", payload(mac(1), -50, scanner="s2"), T0 + 1)
    dev = st.devices[mac(1)]
    assert dev.parser == "fake"
    assert dev.readings == {"temperature_c": 50.0}
    assert dev.facts == {"model": "m"}
    assert set(dev.scanners) == {"s1", "s2"}
    assert dev.rssi == -50  # the strongest scanner
    assert dev.count == 2
    assert st.parsers["fake"].hits == 2
    assert st.scanners["s2"].adverts == 1
    assert st.counters["adverts"] == 2


def test_device_settings_name_and_correct_what_the_console_shows() -> None:
    settings = Devices(
        {
            mac(1): DeviceSettings(name="Kitchen", offsets={"temperature_c": -0.5}),
            mac(2): DeviceSettings(ignore=True),
        }
    )
    st = ConsoleState(decoder, devices=settings)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), -70), T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(2), -70, seq=2), T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(3), -70, seq=3), T0)
    assert st.devices[mac(1)].name == "Kitchen"  # not the advertised "known"
    assert st.devices[mac(1)].readings == {"temperature_c": 69.5}
    assert st.devices[mac(2)].readings == {}  # ignored: heard, but no readings
    assert (st.devices[mac(3)].name, st.devices[mac(3)].readings) == (
        "known",
        {"temperature_c": 70.0},
    )


def test_rejected_payloads_are_counted_and_kept_in_the_tail() -> None:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", b"not json", T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), scanner="other"), T0)
    st.ingest_status("p/scanner/s1/status", "s1", b"[1]", T0)
    assert st.counters["rejected:invalid_json"] == 1
    assert st.counters["rejected:scanner_mismatch"] == 1
    assert st.counters["rejected:bad_status"] == 1
    assert [e.error is not None for e in st.tail] == [True, True, True]
    assert not st.devices


def test_parser_exceptions_are_counted_and_the_advert_is_unknown() -> None:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), name="boom"), T0)
    assert st.counters["parse_exceptions"] == 1
    assert st.devices[mac(1)].parser is None


def test_device_table_is_bounded_lru_and_expires() -> None:
    st = ConsoleState(decoder, Limits(max_devices=100, device_ttl_s=60))
    for i in range(150):
        st.ingest_raw("p/raw/s1", "s1", payload(mac(i)), T0 + i * 0.1)
    assert len(st.devices) == 100
    assert st.counters["devices_evicted"] == 50
    assert mac(0) not in st.devices
    st.ingest_raw("p/raw/s1", "s1", payload(mac(60)), T0 + 100)  # refreshed: stays
    assert st.expire(T0 + 100) == 99
    assert list(st.devices) == [mac(60)]
    assert st.counters["devices_expired"] == 99


def test_tail_and_unknown_groups_are_bounded() -> None:
    st = ConsoleState(decoder, Limits(tail_size=10, max_unknown_groups=5, unknown_macs_cap=3))
    for i in range(20):
        st.ingest_raw("p/raw/s1", "s1", payload(mac(i), name=None, manufacturer_data={i: b"\x01"}),
                      T0)  # fmt: skip
    for i in range(6):
        st.ingest_raw("p/raw/s1", "s1", payload(mac(100 + i), name=None,
                      manufacturer_data={0x004C: b"\x10"}), T0)  # fmt: skip
    assert len(st.tail) == 10
    assert len(st.unknown) == 5
    apple = st.unknown[("company", "0x004C")]
    assert apple.adverts == 6
    assert len(apple.macs) == 3  # capped
    assert st.counters["unknown_groups_evicted"] == 16
    assert st.counters["unknown"] == 26


def test_unknown_grouping_by_service_uuid_and_name_only() -> None:
    st = ConsoleState(decoder)
    uuid = "0000fe2c-0000-1000-8000-00805f9b34fb"
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), name=None, service_data={uuid: b"\x00"}), T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(2), name="Headset"), T0)
    assert st.unknown[("service", uuid)].adverts == 1
    assert st.unknown[("none", "-")].example_name == "Headset"


def test_status_heartbeats_and_cleared_retained_message() -> None:
    st = ConsoleState(decoder)
    hb = {"status": "online", "ts": format_ts(T0 - 5), "interval_s": 60}
    st.ingest_status("p/scanner/a/status", "a", json.dumps(hb).encode(), T0)
    sc = st.scanners["a"]
    assert sc.status == hb
    assert sc.status_time == T0 - 5
    st.ingest_status("p/scanner/a/status", "a", b"", T0)
    assert "a" not in st.scanners
    assert st.counters["status_cleared"] == 1


def test_window_rate_and_buckets() -> None:
    r = WindowRate(10.0)
    for i in range(100):
        r.add(T0 + i * 0.1)  # 10/s for 10 s
    assert 9.0 <= r.per_s(T0 + 10.0) <= 11.0
    assert r.per_s(T0 + 15.0) < r.per_s(T0 + 10.0)
    assert r.per_s(T0 + 40.0) == 0.0
    b = BucketSeries(10.0, 6)
    b.add(T0, 3)
    b.add(T0 + 25, 1)
    assert b.values(T0 + 25) == [0, 0, 0, 3, 0, 1]
    assert b.values(T0 + 1000) == [0] * 6
    assert sparkline([0, 1, 2, 4], zero_based=True) == "▁▃▅█"
    assert sparkline([5, 5]) == "▄▄"
