"""Hostile input for the console tests: fixed nasty strings, advert and heartbeat builders, and
hypothesis strategies for whatever an attacker controls (over the air: names, manufacturer and
service data, hence decoded facts; on the broker: whole payloads, topics, retained messages)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.wire import format_ts
from tests.console.helpers import CLOCK, PREFIX

BTHOME = uuid16(0xFCD2)
EDDYSTONE = uuid16(0xFEAA)

# Terminal control: retitle, clear + newline, OSC 8 hyperlink, OSC 52 clipboard, 8-bit CSI,
# bidi override; and markup: styles, links, click actions, stray closing tags.
OSC_TITLE = "\x1b]0;PWN\x07"
NASTY: tuple[str, ...] = (
    OSC_TITLE,
    "\x1b[2J\x1b[H\r\nroot# ",
    "\x1b]8;;http://e.vil\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]52;c;cm0gLXJmIH4=\x07",
    "\x9b2J\x9d0;PWN\x9c",
    "\x7f\x08\x00\x05",
    "evil\u202etxt.exe",
    "\u2066\u200b\u200d\ufeff\u2028",
    "\ud800",
    "[reverse]x[/]",
    "[@click=app.quit]QUIT[/]",
    "[@click=app.screenshot('/tmp','pwned.svg')]s",
    "[link=http://e.vil]x",
    "[/]",
    "x[/]",
    "[",
    "[" * 500,
    "[b][i][u]",
    "\\[escaped]",
)


def advert_obj(
    mac: str,
    *,
    scanner: str = "kitchen",
    seq: int = 1,
    name: str | None = None,
    mfr: dict[str, str] | None = None,
    svc: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A v1 advert as a JSON object (values not checked: the point is to send odd ones)."""
    obj: dict[str, Any] = {
        "v": 1,
        "scanner_id": scanner,
        "boot": "boot1",
        "seq": seq,
        "ts": format_ts(CLOCK - 1),
        "mac": mac,
        "address_type": "random",
        "rssi": -60,
        "name": name,
        "manufacturer_data": mfr or {},
        "service_data": svc or {},
    }
    obj.update(extra)
    return obj


def raw(obj: Any, scanner: str = "kitchen") -> tuple[str, bytes]:
    return f"{PREFIX}/raw/{scanner}", json.dumps(obj).encode()


def status(scanner: str, payload: Any) -> tuple[str, bytes]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{PREFIX}/scanner/{scanner}/status", data


def bthome_text(text: bytes) -> str:
    """BTHome v2 service data (hex) with one text object (0x53) holding ``text``."""
    return (bytes([0x40, 0x53, len(text)]) + text).hex()


# -- strategies ---------------------------------------------------------------------------------

any_char = st.characters(codec=None, exclude_categories=())
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(any_char, max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(any_char, max_size=8)), max_size=4).map(
        "".join
    ),
)
hostile_bytes = st.one_of(
    hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")[:255]),
    st.binary(max_size=64),
)
big_int = st.one_of(st.integers(), st.sampled_from([10**30, -(10**30), 2**63, 10**400]))
json_scalar = st.one_of(
    st.none(), st.booleans(), big_int, st.floats(allow_nan=True, allow_infinity=True), hostile_text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)
nested = st.builds(
    lambda c, n: (c * n).encode(), st.sampled_from(["[", "{", '{"a":']), st.integers(1, 6000)
)
mac = st.one_of(
    st.sampled_from(["AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:02", "66:55:44:33:22:11"]),
    st.builds(lambda b: ":".join(f"{x:02X}" for x in b), st.binary(min_size=6, max_size=6)),
)
company = st.one_of(
    st.integers(0, 0xFFFF).map(str),
    st.sampled_from(["²", "٣", "-1", "65536", "0x4c"]),
    hostile_text,
)
service_data = st.dictionaries(
    st.one_of(st.sampled_from([BTHOME, EDDYSTONE, uuid16(0xFE95)]), hostile_text),
    st.one_of(
        hostile_bytes.map(lambda b: bthome_text(b[:255])),
        hostile_bytes.map(lambda b: (b"\x10\xeb\x03" + b[:17]).hex()),  # Eddystone URL
        hostile_bytes.map(bytes.hex),
        hostile_text,
    ),
    max_size=3,
)


@st.composite
def hostile_advert(draw: st.DrawFn, scanner: str) -> dict[str, Any]:
    """A v1 advert shaped well enough to reach the parsers, with attacker-chosen content."""
    obj = advert_obj(
        draw(mac),
        scanner=scanner,
        seq=draw(big_int),
        name=draw(st.one_of(st.none(), hostile_text)),
        mfr=draw(st.dictionaries(company, hostile_bytes.map(bytes.hex), max_size=3)),
        svc=draw(service_data),
    )
    if draw(st.booleans()):
        obj["rssi"] = draw(big_int)
        obj["tx_power"] = draw(st.one_of(st.none(), big_int))
    if draw(st.booleans()):
        obj["service_uuids"] = draw(st.lists(hostile_text, max_size=3))
    if draw(st.booleans()):
        obj["ts"] = draw(st.one_of(hostile_text, st.sampled_from(["0001-01-01T00:00:00+01:00"])))
    obj.update(draw(st.dictionaries(hostile_text, json_value, max_size=2)))
    return obj


@st.composite
def raw_message(draw: st.DrawFn, prefix: str = PREFIX, topic_text: Any = None) -> tuple[str, bytes]:
    """(topic, payload) on ``{prefix}/raw/{scanner}``: an advert, any JSON, bytes, nesting."""
    scanner = draw(
        topic_text if topic_text is not None else st.one_of(st.just("kitchen"), hostile_text)
    )
    payload = draw(
        st.one_of(
            hostile_advert(scanner).map(lambda o: json.dumps(o).encode()),
            json_value.map(lambda v: json.dumps(v).encode()),
            nested,
            st.binary(max_size=200),
        )
    )
    return f"{prefix}/raw/{scanner}", payload


@st.composite
def status_message(
    draw: st.DrawFn, prefix: str = PREFIX, topic_text: Any = None
) -> tuple[str, bytes]:
    """(topic, payload) on ``{prefix}/scanner/{scanner}/status``: a heartbeat-shaped object
    with attacker-chosen values, any JSON, bytes, nesting."""
    scanner = draw(
        topic_text if topic_text is not None else st.one_of(st.just("attic"), hostile_text)
    )
    shaped = st.fixed_dictionaries(
        {"status": st.one_of(st.sampled_from(["online", "offline"]), json_value)},
        optional={
            "ts": st.one_of(st.just(format_ts(CLOCK - 20)), hostile_text),
            "interval_s": json_value,
            "adapter": json_value,
            "counters": st.dictionaries(hostile_text, big_int, max_size=3),
            "rates": json_value,
            "cpu_pct": json_value,
            "rss_mb": json_value,
            "last_advert_age_s": json_value,
            "hostname": hostile_text,
        },
    )
    payload = draw(
        st.one_of(
            shaped.map(lambda o: json.dumps(o).encode()),
            st.dictionaries(hostile_text, json_value).map(lambda o: json.dumps(o).encode()),
            json_value.map(lambda v: json.dumps(v).encode()),
            nested,
            st.binary(max_size=200),
        )
    )
    return f"{prefix}/scanner/{scanner}/status", payload


def messages(prefix: str = PREFIX, topic_text: Any = None, max_size: int = 12) -> Any:
    """A batch of hostile messages: raw adverts, heartbeats, and anything under the prefix."""
    other = st.tuples(
        st.builds(
            lambda t: f"{prefix}/{t}", topic_text if topic_text is not None else hostile_text
        ),
        st.binary(max_size=50),
    )
    one = st.one_of(raw_message(prefix, topic_text), status_message(prefix, topic_text), other)
    return st.lists(one, min_size=1, max_size=max_size)
