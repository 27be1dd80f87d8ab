"""The ingest queue: messages grouped into chunks that are written and acknowledged together.

Pure: no asyncio, no clock (the caller passes the times in), no MQTT client.  A message joins
the open chunk unless that one is sealed, belongs to another connection (a chunk never spans
two: packet ids belong to one connection), holds ``batch_size`` messages or ``chunk_bytes`` of
payload.  A payload longer than ``max_payload`` is cut to its first ``max_payload`` bytes on
arrival, its size and SHA-256 kept in ``oversize`` (the planner rejects it as ``too_large``).
``take`` hands out the oldest chunk and, under backlog, merges the next full chunks of the same
connection into it (at most ``MERGE_CHUNKS`` of them and ``merge_limit`` messages): fewer,
larger transactions upsert each device fewer times per advert.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any, Final

from attrs import define, field

from bt_mqtt.subscriber.rejected import truncate

__all__ = ["MERGE_CHUNKS", "Chunk", "ChunkQueue"]

MERGE_CHUNKS: Final = 3


@define(slots=True, eq=False)
class Chunk:
    """Messages of one connection that will be written (and acknowledged) together."""

    connection: Any
    first_at: float  # monotonic seconds of its first message
    topics: list[str] = field(factory=list)
    payloads: list[bytes] = field(factory=list)
    received: list[float] = field(factory=list)  # Unix seconds
    acks: bytearray = field(factory=bytearray)  # the PUBACK packets of the QoS 1 messages
    oversize: dict[int, tuple[int, bytes]] = field(factory=dict)  # k -> (size, SHA-256)
    nbytes: int = 0  # payload bytes held
    sealed: bool = False

    def __len__(self) -> int:
        return len(self.topics)

    def source(self, k: int) -> tuple[str, bytes, datetime]:
        """Message ``k`` as (topic, payload, received time)."""
        return self.topics[k], self.payloads[k], datetime.fromtimestamp(self.received[k], UTC)


class ChunkQueue:
    """Chunks waiting to be written, oldest first (see the module docstring)."""

    def __init__(
        self, *, batch_size: int, chunk_bytes: int, max_payload: int, merge_limit: int
    ) -> None:
        self.batch_size = batch_size
        self.chunk_bytes = chunk_bytes
        self.max_payload = max_payload
        self.merge_limit = merge_limit
        self._chunks: deque[Chunk] = deque()
        self.held = 0  # payload bytes queued or handed out and not yet released

    def __len__(self) -> int:
        """How many chunks wait."""
        return len(self._chunks)

    @property
    def head(self) -> Chunk | None:
        """The oldest chunk, or None."""
        return self._chunks[0] if self._chunks else None

    @property
    def head_complete(self) -> bool:
        """Whether the oldest chunk can take no more: it is full, or a newer one exists."""
        chunks = self._chunks
        return bool(chunks) and (len(chunks[0]) >= self.batch_size or len(chunks) > 1)

    def chunks(self) -> list[Chunk]:
        """The waiting chunks, oldest first (a copy)."""
        return list(self._chunks)

    def add(
        self,
        topic: str,
        payload: bytes,
        ack: bytes | None,
        connection: Any,
        mono: float,
        wall: float,
    ) -> Chunk:
        """Queue one message received at ``mono`` (monotonic) / ``wall`` (Unix) seconds;
        returns the chunk it joined."""
        chunks = self._chunks
        chunk = chunks[-1] if chunks else None
        if (
            chunk is None
            or chunk.sealed
            or chunk.connection is not connection
            or len(chunk.topics) >= self.batch_size
            or chunk.nbytes >= self.chunk_bytes
        ):
            chunk = Chunk(connection, mono)
            chunks.append(chunk)
        if len(payload) > self.max_payload:  # keep a prefix, its size and hash (rejected)
            payload, whole = truncate(payload, self.max_payload)
            chunk.oversize[len(chunk.topics)] = whole
        chunk.topics.append(topic)
        chunk.payloads.append(payload)
        chunk.received.append(wall)
        chunk.nbytes += len(payload)
        self.held += len(payload)
        if ack is not None:
            chunk.acks += ack
        return chunk

    def take(self) -> Chunk:
        """Remove and return the oldest chunk, sealed, with the backlog behind it merged in
        (see the module docstring).  IndexError when empty."""
        chunk = self._chunks.popleft()
        chunk.sealed = True
        chunks = self._chunks
        while (
            len(chunk.topics) >= self.batch_size
            and len(chunks) > 1  # the next one is complete: a newer chunk exists behind it
            and chunks[0].connection is chunk.connection
            and len(chunk.topics) + len(chunks[0].topics) <= self.merge_limit
            and chunk.nbytes + chunks[0].nbytes <= MERGE_CHUNKS * self.chunk_bytes
        ):
            more = chunks.popleft()
            more.sealed = True
            offset = len(chunk.topics)
            chunk.oversize.update((offset + k, v) for k, v in more.oversize.items())
            chunk.nbytes += more.nbytes
            chunk.topics += more.topics
            chunk.payloads += more.payloads
            chunk.received += more.received
            chunk.acks += more.acks
        return chunk

    def release(self, chunk: Chunk) -> None:
        """``chunk`` was committed: its bytes are no longer held."""
        self.held -= chunk.nbytes
