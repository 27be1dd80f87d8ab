"""Hostile input in the pure core: every payload is taken in or rejected (counted, kept in the
tail, escaped), odd numbers never break formatting, and outside text drawn through ``safe`` is
escaped and literal."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest
from rich.console import Console
from rich.segment import Segment

from bt_mqtt.console import health, safe, views
from bt_mqtt.console import state as state_module
from bt_mqtt.console.detail import advert_table, history_text, readings_table, registry_text
from bt_mqtt.console.fmt import fmt_age, fmt_value
from bt_mqtt.console.rates import sparkline
from bt_mqtt.console.state import ConsoleState
from bt_mqtt.console.views import DeviceFilter, Thresholds
from bt_mqtt.core import wire
from bt_mqtt.core.safetext import is_safe
from bt_mqtt.parsers.api import ParseResult
from tests.console.test_state import T0, decoder, mac, payload

ADVERT = {"v": 1, "scanner_id": "s1", "boot": "b", "seq": 1, "ts": "2027-01-15T08:00:00Z"}


def advert(**fields: Any) -> bytes:
    return json.dumps({**ADVERT, "mac": "AA:BB:CC:DD:EE:FF", "rssi": -50, **fields}).encode()


def rendered(renderable: Any, width: int = 100) -> list[Segment]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system="truecolor")
    console.print(renderable)
    return list(console._record_buffer)


def assert_literal(renderable: Any, *expected: str) -> None:
    """Drawn, ``renderable`` shows each of ``expected`` literally, and holds no control
    character, hyperlink or click action."""
    segments = rendered(renderable, width=1000)
    text = "".join(s.text for s in segments)
    for want in expected:
        assert want in text, (want, text)
    for seg in segments:
        assert is_safe(seg.text.replace("\n", "")), seg
        assert seg.style is None or not seg.style.link, seg
        assert seg.style is None or not seg.style.meta, seg


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 5000,
        b'{"a":' * 5000,
        advert(manufacturer_data={"²": "00"}),
        advert(rssi=10**400),
        advert(rssi=-129),
        advert(tx_power=128),
        b"\xff\xfe\x1b]0;PWN\x07",
    ],
    ids=["nested", "nested-object", "key-²", "rssi-huge", "rssi-low", "tx-high", "bytes"],
)
def test_any_raw_payload_is_rejected_counted_and_kept_escaped(data: bytes) -> None:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", data, T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), scanner="s1"), T0)  # good data after it
    rejected = {k: v for k, v in st.counters.items() if k.startswith("rejected:")}
    assert sum(rejected.values()) == 1, rejected
    assert st.counters["adverts"] == 1
    assert mac(1) in st.devices
    entry = st.tail[0]
    assert entry.error is not None
    assert is_safe(entry.text) and is_safe(entry.error)
    assert len(entry.text) <= state_module.TAIL_TEXT_LIMIT


def test_a_failure_nobody_foresaw_rejects_only_that_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def decode(data: bytes, scanner_id: str | None = None) -> Any:
        if data.startswith(b"!"):
            raise KeyError("a bug in decoding")  # stands for any failure nobody foresaw
        return wire.decode(data, scanner_id)

    monkeypatch.setattr(state_module, "decode", decode)
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", b"!\x1b[2J", T0)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), scanner="s1"), T0)
    assert st.counters["rejected:internal_error"] == 1
    assert st.tail[0].error == "internal_error: KeyError: 'a bug in decoding'"
    assert st.tail[0].text == "!\\x1b[2J"
    assert mac(1) in st.devices


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"[" * 5000, "status is not a JSON object"),
        (b"\x1b[2J", "status is not a JSON object"),
        (json.dumps({"x": "y" * 20_000}).encode(), "payload is 20"),
        (json.dumps([[[[{"a": [[[[1]]]]}]]]] * 2).encode(), "status is not a JSON object"),
    ],
)
def test_bad_heartbeats_are_rejected_counted_and_kept(data: bytes, detail: str) -> None:
    st = ConsoleState(decoder)
    st.ingest_status("p/scanner/s1/status", "s1", data, T0)
    assert st.counters["rejected:bad_status"] == 1
    assert "s1" not in st.scanners
    assert st.tail[0].error is not None and detail in st.tail[0].error
    assert is_safe(st.tail[0].text)


def test_a_heartbeat_nested_too_deeply_is_rejected() -> None:
    deep: Any = 1
    for _ in range(33):
        deep = {"a": deep}
    st = ConsoleState(decoder)
    st.ingest_status("p/scanner/s1/status", "s1", json.dumps(deep).encode(), T0)
    assert st.counters["rejected:bad_status"] == 1
    st.ingest_status("p/scanner/s1/status", "s1", json.dumps(deep["a"]).encode(), T0)
    assert st.counters["heartbeats"] == 1  # 32 levels are still a heartbeat


def test_odd_heartbeat_values_never_break_the_scanners_screen() -> None:
    st = ConsoleState(decoder)
    beat = {
        "status": "online",
        "ts": "0001-01-01T00:00:00+01:00",
        "interval_s": 10**400,
        "cpu_pct": float("nan"),
        "rss_mb": 1e308,
        "last_advert_age_s": float("-inf"),
        "counters": {"dropped_x": 10**50, "bluez_errors": True},
        "adapter": {"name": [[[["[@click=app.quit]"]]]] * 100, "scan_mode": {"a": None}},
        "rates": {"received_per_s": "x[/]", "published_per_s": 10**400},
        "hostname": "\x1b]0;PWN\x07",
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": "[reverse]x[/]"}}}}}},
    }
    st.ingest_status("p/scanner/s1/status", "s1", json.dumps(beat).encode(), T0)
    rows = health.scanner_rows(st, T0, Thresholds())
    assert rows[0].cells[9] == "-"  # cpu NaN
    detail = health.scanner_detail(st.scanners["s1"])
    assert_literal(
        detail,
        "hostname=\\x1b]0;PWN\\x07",
        'deep.a.b.c={"d": {"e": {"f": "[reverse]x[/]"}}}',
        "(huge integer)",
    )
    assert len(detail.plain) < 3000  # every value is shown briefly


def test_device_detail_shows_outside_text_literally() -> None:
    def facts(adv: Any) -> ParseResult:
        return ParseResult("x[/]", {"temperature_c": math.nan}, {"text": "[/]", "n": [1] * 500})

    st = ConsoleState(facts)
    # The wire contract refuses a service UUID that is not one, so a hostile one never gets here.
    data = advert(
        name="[@click=app.quit]Q", service_uuids=["0000fcd2-0000-1000-8000-00805f9b34fb"], extra={}
    )
    st.ingest_raw("p/raw/s1", "s1", data, T0)
    dev = st.devices["AA:BB:CC:DD:EE:FF"]
    assert_literal(advert_table(dev), "[@click=app.quit]Q", "+extra")
    assert_literal(readings_table(dev), "Decoded by x[/]", "[/]", "nan")
    registry = {"name": "[reverse]x[/]", "facts": {"k": "\u202e"}, "first_seen": None}
    assert_literal(registry_text(registry), "name=[reverse]x[/]", 'facts={"k": "\\u202e"}')
    assert_literal(history_text({"[b]m": [1.0, math.nan, math.inf]}, 24), "[b]m", "1..1")


def test_numbers_from_outside_never_break_formatting() -> None:
    assert fmt_value(math.nan) == "nan"
    assert fmt_value(-math.inf) == "-inf"
    assert fmt_age(math.inf) == "-"
    assert sparkline([math.nan, 1.0, 2.0, math.inf]) == " ▁█ "
    assert sparkline([-1e308, 1e308]) == "▁█"
    assert sparkline([math.nan]) == " "


def test_filter_matches_names_as_drawn() -> None:
    st = ConsoleState(decoder)
    st.ingest_raw("p/raw/s1", "s1", payload(mac(1), name="\x1b]0;PWN\x07", scanner="s1"), T0)
    dev = st.devices[mac(1)]
    assert DeviceFilter.parse("\\x1b]0;pwn").matches(dev)
    assert views.live_rows([dev], T0)[0].cells[1] == "\x1b]0;PWN\x07"  # RowTable cleans it


def test_brief_is_bounded_and_never_recurses() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    assert safe.brief(deep, 20) == "[" * 19 + "…"
    wide = {str(i): i for i in range(1_000_000)}
    assert len(safe.brief(wide)) <= safe.BRIEF_LIMIT
    assert safe.brief({"a": [True, None, 1.5, "\x1b"]}) == '{"a": [true, null, 1.5, "\\u001b"]}'
    assert safe.brief(10**5000) == "(huge integer)"
    assert safe.value("[/]\x07") == "[/]\\x07"
