"""How the ingest queue groups messages: chunks per connection, PUBACKs kept, backlog merged.

``ChunkQueue`` is pure: these tests drive it directly, with the times passed in.  The last test
checks the asyncio shell (``Ingest._take``) waits for a full or old-enough chunk.
"""

from __future__ import annotations

import asyncio
import hashlib

from bt_mqtt.subscriber.chunks import MERGE_CHUNKS, Chunk, ChunkQueue
from bt_mqtt.subscriber.config import IngestConfig, SubscriberConfig, SubscriberMqttConfig
from bt_mqtt.subscriber.ingest import Ingest

MAX_PAYLOAD = 16384


def _queue(batch_size: int, receive_maximum: int = 20000) -> ChunkQueue:
    """A queue configured as ``Ingest`` configures it (default byte limits)."""
    return ChunkQueue(
        batch_size=batch_size,
        chunk_bytes=max(IngestConfig().max_pending_bytes // 4, MAX_PAYLOAD),
        max_payload=MAX_PAYLOAD,
        merge_limit=min(MERGE_CHUNKS * batch_size, receive_maximum // 3),
    )


def _ack(n: int) -> bytes:
    return b"\x40\x02" + n.to_bytes(2, "big")


def _add(q: ChunkQueue, topic: str, payload: bytes, ack: bytes | None, conn: object) -> Chunk:
    return q.add(topic, payload, ack, conn, 100.0, 1_800_000_000.0)


def test_chunks_split_at_batch_size_and_on_a_new_connection() -> None:
    q = _queue(batch_size=3)
    old, new = object(), object()
    for i in range(4):
        _add(q, "bt-mqtt/raw/s1", b"%d" % i, _ack(i), old)
    _add(q, "bt-mqtt/raw/s1", b"4", None, old)  # QoS 0: nothing to acknowledge
    _add(q, "bt-mqtt/raw/s1", b"5", _ack(5), new)
    chunks = q.chunks()
    assert [c.payloads for c in chunks] == [[b"0", b"1", b"2"], [b"3", b"4"], [b"5"]]
    assert [c.connection for c in chunks] == [old, old, new]
    assert [bytes(c.acks) for c in chunks] == [_ack(0) + _ack(1) + _ack(2), _ack(3), _ack(5)]
    assert len(q) == 3 and q.held == 6 and q.head_complete
    assert all(len(c.received) == len(c.topics) for c in chunks)
    assert chunks[0].source(1)[:2] == ("bt-mqtt/raw/s1", b"1")


def test_a_chunk_is_complete_when_full_or_followed() -> None:
    q = _queue(batch_size=2)
    conn = object()
    assert len(q) == 0 and not q.head_complete
    first = _add(q, "t", b"a", _ack(1), conn)
    assert q.head is first and not q.head_complete  # waits for more, or for batch_ms
    _add(q, "t", b"b", _ack(2), conn)
    assert q.head_complete


def test_backlog_merges_full_chunks_of_one_connection_only() -> None:
    q = _queue(batch_size=2)
    conn, other = object(), object()
    for i in range(2 * (MERGE_CHUNKS + 1)):
        _add(q, "t", b"%d" % i, _ack(i), conn)
    _add(q, "t", b"x", _ack(99), other)
    first = q.take()
    assert first.payloads == [b"%d" % i for i in range(2 * MERGE_CHUNKS)]  # capped
    assert first.sealed
    assert q.take().payloads == [b"6", b"7"]  # the next connection's chunk is not merged
    assert q.take().payloads == [b"x"]
    assert len(q) == 0


def test_backlog_merge_respects_receive_maximum() -> None:
    q = _queue(batch_size=2, receive_maximum=4)  # a third of it: one chunk of 2 at most
    conn = object()
    for i in range(6):
        _add(q, "t", b"%d" % i, _ack(i), conn)
    assert [len(q.take().topics) for _ in range(3)] == [2, 2, 2]


def test_a_sealed_chunk_takes_no_more() -> None:
    q = _queue(batch_size=5)
    conn = object()
    _add(q, "t", b"a", None, conn)
    taken = q.take()
    _add(q, "t", b"b", None, conn)
    assert taken.payloads == [b"a"] and [c.payloads for c in q.chunks()] == [[b"b"]]


def test_oversize_payloads_are_cut_on_arrival_and_merged_with_their_index() -> None:
    q = _queue(batch_size=2)
    conn = object()
    big = b"z" * 100_000
    payloads = [b"a", b"b", b"c", big, b"e", b"f", b"g"]
    for i, p in enumerate(payloads):
        _add(q, "t", p, _ack(i), conn)
    held = sum(len(c.payloads[k]) for c in q.chunks() for k in range(len(c.payloads)))
    assert held == 6 + 16384 and q.held == held  # only the prefix is held
    chunk = q.take()  # chunks [a b] [c big] [e f] merged; [g] left
    assert chunk.payloads == [b"a", b"b", b"c", big[:16384], b"e", b"f"]
    assert chunk.oversize == {3: (100_000, hashlib.sha256(big).digest())}
    assert chunk.nbytes == held - 1
    q.release(chunk)
    assert q.held == 1


def test_ingest_takes_a_chunk_when_full_or_old_enough() -> None:
    cfg = SubscriberConfig(
        mqtt=SubscriberMqttConfig(),
        ingest=IngestConfig(batch_size=2, batch_ms=100),
    )
    ing = Ingest(cfg, {"conninfo": "postgresql://unused/x"}, registry=None)  # type: ignore[arg-type]
    conn = object()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        ing._on_publish("t", b"a", _ack(1), conn)
        ing._on_publish("t", b"b", _ack(2), conn)
        ing._on_publish("t", b"c", _ack(3), conn)
        full = await ing._take(stop)
        assert full is not None and full.payloads == [b"a", b"b"]
        started = loop.time()
        aged = await ing._take(stop)  # not full: handed out batch_ms after its first message
        assert aged is not None and aged.payloads == [b"c"]
        assert loop.time() - started < 5
        assert ing.metrics.received == ing.metrics.pending == 3
        stop.set()
        assert await ing._take(stop) is None

    asyncio.run(go())
