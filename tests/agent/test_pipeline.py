"""The hot path: counters, seq, encoding identical to the wire codec, timestamps."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.agent.config import FiltersConfig, MatchList
from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.agent.pipeline import (
    MAX_PAYLOAD_BYTES,
    Encoder,
    Pipeline,
    TsFormatter,
    new_boot_id,
)
from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert

UUID = "0000181a-0000-1000-8000-00805f9b34fb"
uuids = st.uuids().map(str)
adverts = st.builds(
    Advert,
    mac=st.from_regex(wire.MAC_RE, fullmatch=True),
    rssi=st.integers(-127, 20),
    address_type=st.sampled_from([None, "public", "random"]),
    tx_power=st.none() | st.integers(-100, 20),
    name=st.none() | st.text(max_size=30),
    manufacturer_data=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=27), max_size=3),
    service_data=st.dictionaries(uuids, st.binary(max_size=20), max_size=3),
    service_uuids=st.lists(uuids, max_size=4),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(adverts, st.integers(1, 2**40), st.text(min_size=1, max_size=64))
def test_encoder_matches_wire_encode(a: Advert, seq: int, sid: str) -> None:
    ts = "2026-11-27T07:49:52.123Z"
    fast = Encoder(sid, "0123456789abcdef").encode(a, seq, ts)
    assert fast == wire.encode(a, sid, "0123456789abcdef", seq, ts)
    assert json.loads(fast)["name"] == a.name


@given(st.floats(0, 4e9, allow_nan=False))
def test_ts_formatter_matches_format_ts(epoch: float) -> None:
    f = TsFormatter()
    assert f(epoch) == wire.format_ts(epoch)
    assert f(epoch) == wire.format_ts(epoch)  # cached second


def make(filters: FiltersConfig | None = None) -> Pipeline:
    return Pipeline("pi", new_boot_id(), Filter(filters or FiltersConfig()), Dedup(10, 300, 100))


def test_counters_seq_and_payload() -> None:
    p = make(FiltersConfig(blocklist=MatchList(macs=["BB:00:00:00:00:01"])))
    a = Advert(mac="AA:00:00:00:00:01", rssi=-50, manufacturer_data={76: b"\x01"})
    out = p.offer(a, 0.0, 1_800_000_000.5, True)
    assert out is not None
    msg = wire.decode(out, "pi")
    assert (msg.seq, msg.boot, msg.ts) == (1, p.boot, "2027-01-15T08:00:00.500Z")
    assert p.offer(a, 1.0, 1_800_000_001.0, True) is None  # repeat
    assert p.offer(Advert(mac="BB:00:00:00:00:01", rssi=-50), 1.0, 0, True) is None
    b = Advert(mac="AA:00:00:00:00:02", rssi=-50)
    assert p.offer(b, 2.0, 0, False) is None  # offline
    out2 = p.offer(b, 3.0, 0, True)  # not remembered while offline: published now
    assert out2 is not None and wire.decode(out2).seq == 2
    c = p.counters
    assert (c.received, c.filtered, c.deduplicated, c.published, c.dropped_offline) == (
        5,
        1,
        1,
        2,
        1,
    )
    assert p.last_advert_mono == 3.0 and p.seq == 2
    p.publish_failed()
    assert (c.published, c.dropped_backlog, p.seq) == (1, 1, 1)
    out3 = p.offer(Advert(mac="AA:00:00:00:00:03", rssi=-50), 4.0, 0, True)
    assert out3 is not None and wire.decode(out3).seq == 2  # the refused seq is reused


def test_boot_ids_are_random() -> None:
    assert len({new_boot_id() for _ in range(50)}) == 50


GOOD = Advert(mac="AA:00:00:00:00:09", rssi=-50, manufacturer_data={76: b"\x01"})


def with_(**changes: Any) -> Advert:
    """GOOD with some fields replaced, of any type (as a buggy backend could)."""
    return attrs.evolve(GOOD, **changes)


@pytest.mark.parametrize(
    "bad",
    [
        with_(rssi="loud"),  # a misbehaving bluetoothd's RSSI as a string
        with_(rssi=-50.5),
        with_(tx_power="4"),
        with_(tx_power=4.5),
        with_(rssi=-129),  # outside the HCI range
        with_(address_type="static"),
        with_(service_data={UUID.upper(): b"x"}),
        with_(service_uuids=["fcd2"]),
        with_(manufacturer_data={'76":"00","mac":"EE:EE:EE:EE:EE:EE': b"\x01"}),
        with_(manufacturer_data={76: "0102"}),
        with_(manufacturer_data={76: 1.5}),  # float.hex() would write a number
        with_(service_data={UUID: "x"}),
        with_(service_data={1: b"x"}),
        with_(name="lone \ud800 surrogate"),
        with_(name=7),
        with_(service_uuids=[None]),
        with_(address_type=1),
        with_(mac=None),
        with_(manufacturer_data={76: bytes(MAX_PAYLOAD_BYTES)}),  # oversize
    ],
    ids=lambda a: repr(a)[:60],
)
def test_an_advert_that_cannot_be_valid_wire_is_dropped_and_counted(bad: Advert) -> None:
    """Never published as garbage (the f-string encoder once wrote ``"rssi":loud`` and let a
    manufacturer-data key override ``mac``); counted, and its seq is not used."""
    p = make()
    assert p.offer(bad, 0.0, 1_800_000_000.0, True) is None
    assert (p.counters.dropped_invalid, p.counters.published, p.seq) == (1, 0, 0)
    out = p.offer(with_(mac="AA:00:00:00:00:0A"), 1.0, 1_800_000_001.0, True)
    assert out is not None
    msg = wire.decode(out, "pi")
    assert (msg.seq, msg.advert.mac, msg.advert.rssi) == (1, "AA:00:00:00:00:0A", -50)


def test_a_name_of_quotes_backslashes_and_control_characters_is_escaped() -> None:
    name = 'a"b\\c\x00\x1b]0;PWN\x07\n\u2028'
    out = make().offer(with_(name=name), 0.0, 1_800_000_000.0, True)
    assert out is not None
    assert wire.decode(out, "pi").advert.name == name
    assert all(b >= 0x20 for b in out)  # control characters only as JSON escapes


def test_room_decides_the_seq_and_which_drop_is_counted() -> None:
    p = make()
    a = Advert(mac="AA:00:00:00:00:01", rssi=-50, manufacturer_data={76: b"\x01"})
    out = p.offer(a, 0.0, 0, False, True)  # offline, spooled: it has a seq
    assert out is not None and wire.decode(out).seq == 1
    assert p.offer(a, 1.0, 0, True, True) is None  # and dedup remembers it
    b = Advert(mac="AA:00:00:00:00:02", rssi=-50)
    assert p.offer(b, 2.0, 0, True, False) is None  # connected, spool full: backlog
    assert p.offer(b, 2.5, 0, False, False) is None  # offline, spool full
    out2 = p.offer(b, 3.0, 0, True, True)  # not remembered while dropped: published now
    assert out2 is not None and wire.decode(out2).seq == 2
    c = p.counters
    assert (c.received, c.published, c.deduplicated, c.dropped_backlog, c.dropped_offline) == (
        5,
        2,
        1,
        1,
        1,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),  # which device
            st.integers(0, 2),  # its content
            st.booleans(),  # online
            st.booleans(),  # room
            st.booleans(),  # the publisher refuses after all
        ),
        max_size=80,
    )
)
def test_every_advert_is_published_or_counted_and_seqs_have_no_gap(
    steps: list[tuple[int, int, bool, bool, bool]],
) -> None:
    """received = published (the seq high-water mark) + every counted drop, whatever happens."""
    p = make(FiltersConfig(blocklist=MatchList(macs=["AA:00:00:00:00:05"])))
    seqs: list[int] = []
    for i, (dev, content, online, room, refused) in enumerate(steps):
        a = Advert(mac=f"AA:00:00:00:00:0{dev}", rssi=-50, manufacturer_data={1: bytes([content])})
        out = p.offer(a, i * 0.5, 0, online, room)
        if out is None:
            continue
        if refused:
            p.publish_failed()
        else:
            seqs.append(wire.decode(out).seq)
    c = p.counters
    drops = c.filtered + c.deduplicated + c.dropped_offline + c.dropped_backlog + c.dropped_invalid
    assert c.received == len(steps) == c.published + drops
    assert seqs == list(range(1, c.published + 1)) and p.seq == c.published
