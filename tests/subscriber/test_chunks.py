"""How the ingest loop groups messages: chunks per connection, PUBACKs kept, backlog merged."""

from __future__ import annotations

import asyncio
import hashlib

from bt_mqtt.subscriber.config import IngestConfig, SubscriberConfig, SubscriberMqttConfig
from bt_mqtt.subscriber.ingest import MERGE_CHUNKS, Chunk, Ingest


def _ingest(batch_size: int, receive_maximum: int = 20000) -> Ingest:
    cfg = SubscriberConfig(
        mqtt=SubscriberMqttConfig(receive_maximum=receive_maximum),
        ingest=IngestConfig(batch_size=batch_size, batch_ms=10_000),
    )
    return Ingest(cfg, {"conninfo": "postgresql://unused/x"}, registry=None)  # type: ignore[arg-type]


def _ack(n: int) -> bytes:
    return b"\x40\x02" + n.to_bytes(2, "big")


def test_chunks_split_at_batch_size_and_on_a_new_connection() -> None:
    ing = _ingest(batch_size=3)
    old, new = object(), object()
    for i in range(4):
        ing._on_publish("bt-mqtt/raw/s1", b"%d" % i, _ack(i), old)
    ing._on_publish("bt-mqtt/raw/s1", b"4", None, old)  # QoS 0: nothing to acknowledge
    ing._on_publish("bt-mqtt/raw/s1", b"5", _ack(5), new)
    chunks = list(ing._chunks)
    assert [c.payloads for c in chunks] == [[b"0", b"1", b"2"], [b"3", b"4"], [b"5"]]
    assert [c.connection for c in chunks] == [old, old, new]
    assert [bytes(c.acks) for c in chunks] == [_ack(0) + _ack(1) + _ack(2), _ack(3), _ack(5)]
    assert ing.metrics.received == ing.metrics.pending == 6
    assert all(len(c.received) == len(c.topics) for c in chunks)


def test_backlog_merges_full_chunks_of_one_connection_only() -> None:
    ing = _ingest(batch_size=2)
    conn, other = object(), object()
    for i in range(2 * (MERGE_CHUNKS + 1)):
        ing._on_publish("t", b"%d" % i, _ack(i), conn)
    ing._on_publish("t", b"x", _ack(99), other)

    async def take(stopping: bool = False) -> list[bytes]:
        stop = asyncio.Event()
        if stopping:  # the last chunk is not full: take it now rather than after batch_ms
            stop.set()
        chunk = await ing._take(stop)
        assert chunk is not None
        return chunk.payloads

    first = asyncio.run(take())
    assert first == [b"%d" % i for i in range(2 * MERGE_CHUNKS)]  # capped at MERGE_CHUNKS
    assert asyncio.run(take()) == [b"6", b"7"]  # the next connection's chunk is not merged
    assert asyncio.run(take(stopping=True)) == [b"x"]


def test_backlog_merge_respects_receive_maximum() -> None:
    ing = _ingest(batch_size=2, receive_maximum=4)  # a third of it: one chunk of 2 at most
    conn = object()
    for i in range(6):
        ing._on_publish("t", b"%d" % i, _ack(i), conn)

    async def take() -> int:
        chunk = await ing._take(asyncio.Event())
        assert chunk is not None
        return len(chunk.topics)

    assert [asyncio.run(take()) for _ in range(3)] == [2, 2, 2]


def test_oversize_payloads_are_cut_on_arrival_and_merged_with_their_index() -> None:
    ing = _ingest(batch_size=2)
    conn = object()
    big = b"z" * 100_000
    payloads = [b"a", b"b", b"c", big, b"e", b"f", b"g"]
    for i, p in enumerate(payloads):
        ing._on_publish("t", p, _ack(i), conn)
    held = sum(len(c.payloads[k]) for c in ing._chunks for k in range(len(c.payloads)))
    assert held == 6 + 16384 and ing._held == held  # only the prefix is held

    async def take() -> Chunk:
        chunk = await ing._take(asyncio.Event())
        assert chunk is not None
        return chunk

    chunk = asyncio.run(take())  # chunks [a b] [c big] [e f] merged; [g] left
    assert chunk.payloads == [b"a", b"b", b"c", big[:16384], b"e", b"f"]
    assert chunk.oversize == {3: (100_000, hashlib.sha256(big).digest())}
    assert chunk.nbytes == held - 1
