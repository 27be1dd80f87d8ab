"""Adverts for the history tests: two devices heard by two scanners, written by the real
ingest path (``batch.plan_chunk`` then ``Store.write``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bt_mqtt.core.topics import Topics
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.demo.encoders import bthome_plain
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import plan_chunk
from bt_mqtt.subscriber.store import Store

T0 = datetime(2026, 3, 1, 22, 50, tzinfo=UTC)  # two hours across midnight
MACS = ("A4:C1:38:00:00:01", "A4:C1:38:00:00:02")
Message = tuple[str, bytes, float]


def ci(url: str) -> dict[str, Any]:
    return {"conninfo": url}


def advert(scanner: str, seq: int, mac: str, at: float, temp: float, received: float) -> Message:
    adv = bthome_plain(mac, -60, seq & 0xFF, temp, 50.0, 80)
    return f"bt-mqtt/raw/{scanner}", encode(adv, scanner, "b1", seq, format_ts(at)), received


def stream(n: int, step_s: float = 37.0) -> list[Message]:
    """``n`` adverts of two devices heard by two scanners, every ``step_s`` seconds."""
    out = []
    t0 = T0.timestamp()
    for i in range(n):
        at = t0 + i * step_s
        mac = MACS[i % 2]
        out.append(advert("s1", i + 1, mac, at, 20.0 + (i % 13) * 0.37, at + 0.2))
        out.append(advert("s2", i + 1, mac, at + 0.01, 19.0 + (i % 7) * 0.5, at + 0.3))
    return out


def ingest(url: str, messages: Sequence[Message], batch: int = 50) -> int:
    async def go() -> int:
        store = Store(ci(url), keep_days=10_000, future_days=1)
        await store.connect()
        archived = 0
        try:
            for i in range(0, len(messages), batch):
                part = messages[i : i + batch]
                plan = plan_chunk(
                    [m[0] for m in part],
                    [m[1] for m in part],
                    [m[2] for m in part],
                    Topics("bt-mqtt"),
                    Registry.default(),
                    ParseContext(),
                    max_bytes=16384,
                    skew_s=300.0,
                )
                res = await store.write(plan, datetime.fromtimestamp(part[-1][2], UTC))
                archived += res.archived
        finally:
            await store.close()
        return archived

    return asyncio.run(go())
