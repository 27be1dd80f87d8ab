"""The spool: FIFO order, the count and byte bounds, requeued payloads first and never refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bt_mqtt.agent.spool import Spool


def _room(spool: Spool) -> bool:
    return spool.room  # read through a call: mypy would narrow the attribute between asserts


def test_room_ends_at_the_count_bound() -> None:
    s = Spool(3, 1000)
    for p in (b"a", b"b"):
        s.push(p)
        assert _room(s)
    s.push(b"c")
    assert not _room(s) and len(s) == 3 and s.bytes == 3
    assert s.take(1) == [b"a"] and _room(s) and s.bytes == 2


def test_room_ends_at_the_byte_bound() -> None:
    s = Spool(100, 10)
    s.push(b"x" * 6)
    assert _room(s)
    s.push(b"y" * 6)  # may overshoot by one payload: the check is before a push
    assert not _room(s) and s.bytes == 12
    assert s.take(5) == [b"x" * 6, b"y" * 6] and _room(s) and s.bytes == 0 and not s


def test_requeue_goes_first_in_order_and_past_the_bounds() -> None:
    s = Spool(2, 100)
    s.push(b"3")
    s.push(b"4")
    assert not _room(s)
    s.requeue([b"1", b"2"])
    assert len(s) == 4 and s.peak == 4 and not _room(s) and s.bytes == 4
    assert s.peek(3) == [b"1", b"2", b"3"] and len(s) == 4
    assert s.take(3) == [b"1", b"2", b"3"] and _room(s)
    assert s.clear() == 1 and s.bytes == 0 and _room(s)


def test_bounds_must_allow_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Spool(0, 10)


@given(st.lists(st.one_of(st.binary(max_size=9), st.integers(0, 4)), max_size=60))
def test_fifo_and_byte_count(ops: list[bytes | int]) -> None:
    """Pushes (when there is room) and takes in any order: the payloads come out in the order
    they went in, and ``bytes`` and ``room`` always match the contents."""
    s = Spool(5, 30)
    model: list[bytes] = []
    out: list[bytes] = []
    for op in ops:
        if isinstance(op, bytes):
            if _room(s):
                s.push(op)
                model.append(op)
        else:
            got = s.take(op)
            assert got == model[:op]
            out += got
            del model[:op]
        assert len(s) == len(model) and s.bytes == sum(map(len, model))
        assert _room(s) == (len(model) < 5 and s.bytes < 30)
