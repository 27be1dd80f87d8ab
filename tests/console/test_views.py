"""Pure view logic: the filter language, sorting, scanner health, formatting."""

from __future__ import annotations

from bt_mqtt.console import health, views
from bt_mqtt.console.state import ConsoleState
from bt_mqtt.console.views import DeviceFilter, Thresholds, scanner_health
from tests.console.test_state import T0, decoder, mac, payload


def _state() -> ConsoleState:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/kitchen", "kitchen", payload(mac(1), -40, scanner="kitchen"), T0)
    st.ingest_raw("p/raw/attic", "attic", payload(mac(2), -80, "Phone", "attic"), T0 + 1)
    st.ingest_raw("p/raw/attic", "attic", payload(mac(3), -60, "known", "attic"), T0 + 2)
    return st


def test_filter_language() -> None:
    f = DeviceFilter.parse("Temp parser:Fake s:att is:known p:x")
    assert f.words == ("temp",)
    assert f.parsers == ("fake", "x")
    assert f.scanners == ("att",)
    assert f.known is True
    assert f.describe() == "temp parser:fake parser:x scanner:att is:known"
    assert DeviceFilter.parse("is:maybe").words == ("is:maybe",)


def test_filter_and_sort() -> None:
    st = _state()
    devs = st.devices.values()
    pick = views.select_devices
    assert [d.mac for d in pick(devs, DeviceFilter(), "seen", False, T0 + 3)] == [
        mac(3), mac(2), mac(1),
    ]  # fmt: skip
    assert pick(devs, DeviceFilter(), "rssi", False, T0)[0].mac == mac(1)
    assert pick(devs, DeviceFilter(), "rssi", True, T0)[0].mac == mac(2)
    assert [d.mac for d in pick(devs, DeviceFilter.parse("phone"), "mac", False, T0)] == [mac(2)]
    assert [d.mac for d in pick(devs, DeviceFilter.parse("is:unknown"), "mac", False, T0)] == [
        mac(2)
    ]
    attic = pick(devs, DeviceFilter.parse("scanner:attic parser:fake"), "mac", False, T0)
    assert [d.mac for d in attic] == [mac(3)]
    assert [d.mac for d in pick(devs, DeviceFilter.parse("parser:unknown"), "mac", False, T0)] == [
        mac(2)
    ]


def test_scanner_health_states() -> None:
    st = ConsoleState(decoder)
    th = Thresholds(silent_after_s=120)
    st.ingest_raw("p/raw/a", "a", payload(mac(1), scanner="a"), T0)
    sc = st.scanners["a"]
    assert scanner_health(sc, T0, th) == ("no status", None)
    st.ingest_status("t", "a", b'{"status": "online", "interval_s": 30}', T0)
    assert scanner_health(sc, T0 + 10, th) == ("online", 10.0)
    assert scanner_health(sc, T0 + 91, th)[0] == "stale"  # 3 intervals without a heartbeat
    st.ingest_status("t", "a", b'{"status": "online", "interval_s": 300}', T0 + 200)
    assert scanner_health(sc, T0 + 200, th)[0] == "silent"  # no adverts for 200 s
    st.ingest_status("t", "a", b'{"status": "offline"}', T0 + 200)
    assert scanner_health(sc, T0 + 200, th)[0] == "offline"
    st.ingest_status("t", "b", b'{"status": "online", "last_advert_age_s": 500}', T0)
    assert scanner_health(st.scanners["b"], T0, th)[0] == "silent"
    st.ingest_status("t", "c", b'{"weird": true, "adapter": 3, "counters": []}', T0)
    rows = {r.key: r for r in health.scanner_rows(st, T0, th)}
    assert rows["c"].cells[1] == "online"  # tolerant of missing and odd fields
    assert rows["b"].cls == "silent"


def test_formatting() -> None:
    assert views.fmt_age(0.2) == "now"
    assert views.fmt_age(59) == "59s"
    assert views.fmt_age(3600) == "60m"
    assert views.fmt_age(7200) == "2h"
    assert views.fmt_age(None) == "-"
    assert views.fmt_rate(0.04) == "0.0"
    assert views.fmt_rate(12.6) == "13"
    readings = {"temperature_c": 21.456, "humidity_pct": 45.4, "battery_pct": 87, "count": 3}
    assert views.fmt_readings(readings) == "21.5°C 45%RH bat 87% count=3"
    assert views.short_uuid("0000fcd2-0000-1000-8000-00805f9b34fb") == "0xFCD2"
    assert views.company_label("0x004C") == "Apple"
