"""Counters and a latency histogram in the Prometheus text format, served over plain HTTP.

``Metrics`` is plain data updated by the ingest loop; ``render`` is pure; ``serve`` is a tiny
asyncio HTTP server answering ``GET /metrics`` (any path, in fact) with the text format.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections import Counter
from typing import Final

from attrs import define, field

from bt_mqtt.subscriber.budget import Budget
from bt_mqtt.subscriber.ledger import Loss

log = logging.getLogger(__name__)

BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX: Final = "btmqtt_subscriber_"


@define(slots=True)
class Histogram:
    buckets: tuple[float, ...] = BUCKETS_S
    counts: list[int] = field(factory=lambda: [0] * (len(BUCKETS_S) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1


@define(slots=True)
class Metrics:
    """Everything the subscriber counts since it started."""

    received: int = 0
    archived: int = 0
    redelivered: int = 0
    duplicates: int = 0
    readings: int = 0
    heartbeats: int = 0
    ignored: int = 0
    clock_skew: int = 0
    batches: int = 0
    db_errors: int = 0
    transitions: int = 0
    escaped: int = 0
    pseudonymised: int = 0
    privacy_dropped: int = 0
    read_pauses: int = 0
    rejected: Counter[str] = field(factory=Counter)
    parsed: Counter[str] = field(factory=Counter)
    parse_failed: Counter[tuple[str, str]] = field(factory=Counter)
    untrusted_time: int = 0
    loss: dict[str, Loss] = field(factory=dict)  # from the database, refreshed by the sweep
    batch_latency: Histogram = field(factory=Histogram)
    pending: int = 0
    pending_bytes: int = 0
    alerts_firing: Counter[str] = field(factory=Counter)
    alerts_fired: Counter[str] = field(factory=Counter)
    alerts_resolved: Counter[str] = field(factory=Counter)
    alert_webhook_sent: int = 0
    alert_webhook_failures: int = 0
    storage: Budget | None = None  # refreshed every few minutes by the ingest loop
    commands_recorded: int = 0
    commands_unreadable: int = 0
    commands_not_stored: int = 0


_COUNTERS: Final = (
    ("received", "MQTT messages received (adverts and status)"),
    ("archived", "adverts newly written to raw_advertisements"),
    ("redelivered", "adverts already stored (broker redeliveries), not written again"),
    ("duplicates", "adverts repeated within one batch, not written again"),
    ("readings", "rows written to sensor_readings"),
    ("heartbeats", "scanner status messages applied"),
    ("ignored", "status messages ignored (a retained status cleared or delivered again)"),
    ("clock_skew", "adverts whose agent time differs from the received time by > the limit"),
    ("batches", "batches committed"),
    ("db_errors", "failed database attempts (each is retried)"),
    ("transitions", "scanner online/offline transitions"),
    ("escaped", "adverts stored with text PostgreSQL cannot hold (NUL, lone surrogate) escaped"),
    ("pseudonymised", "undecoded adverts stored under a pseudonym (privacy)"),
    ("privacy_dropped", "undecoded adverts not stored (privacy)"),
    ("read_pauses", "times reading from the broker paused: payload bytes over the bound"),
    ("alert_webhook_sent", "alert transitions delivered to the webhook"),
    ("alert_webhook_failures", "failed webhook attempts (each is retried up to the limit)"),
    ("untrusted_time", "adverts stored at their arrival time: the agent's clock was implausible"),
    ("commands_recorded", "scanner commands and replies written to scanner_commands"),
    ("commands_unreadable", "messages on command or reply topics that were not readable (kept)"),
    ("commands_not_stored", "command log rows that could not be stored (logged)"),
)
_LOSS: Final = (
    ("published", "adverts the scanner published (its last_seq, or the highest seq received)"),
    ("received", "adverts received from the scanner (distinct seqs, all subscribers)"),
    ("missing", "adverts published and never received: lost in transit, or still on the way"),
    ("agent_dropped", "adverts the scanner itself dropped (its heartbeat's dropped_* counters)"),
)


def render(m: Metrics) -> str:
    """The Prometheus text exposition of ``m``."""
    out: list[str] = []
    for name, text in _COUNTERS:
        full = f"{PREFIX}{name}_total"
        out += [f"# HELP {full} {text}", f"# TYPE {full} counter", f"{full} {getattr(m, name)}"]
    full = f"{PREFIX}rejected_total"
    out += [f"# HELP {full} messages rejected, by reason", f"# TYPE {full} counter"]
    out += [f'{full}{{reason="{r}"}} {n}' for r, n in sorted(m.rejected.items())]
    full = f"{PREFIX}parsed_total"
    out += [f"# HELP {full} adverts claimed by a parser", f"# TYPE {full} counter"]
    out += [f'{full}{{parser="{p}"}} {n}' for p, n in sorted(m.parsed.items())]
    full = f"{PREFIX}parse_failures_total"
    out += [
        f"# HELP {full} adverts a parser claimed and could not decode, by parser and status",
        f"# TYPE {full} counter",
    ]
    out += [
        f'{full}{{parser="{_label(p)}",status="{st}"}} {n}'
        for (p, st), n in sorted(m.parse_failed.items())
    ]
    for name, text in _LOSS:
        full = f"{PREFIX}seq_{name}"
        out += [f"# HELP {full} {text}, by scanner", f"# TYPE {full} gauge"]
        out += [
            f'{full}{{scanner_id="{sid}"}} {getattr(loss, name)}'
            for sid, loss in sorted(m.loss.items())
        ]
    out += _alert_lines(m)
    full = f"{PREFIX}pending_messages"
    out += [f"# HELP {full} messages received, not yet acknowledged", f"# TYPE {full} gauge"]
    out.append(f"{full} {m.pending}")
    full = f"{PREFIX}pending_bytes"
    out += [f"# HELP {full} payload bytes held, not yet committed", f"# TYPE {full} gauge"]
    out.append(f"{full} {m.pending_bytes}")
    if m.storage is not None:
        out += _storage(m.storage)
    h = m.batch_latency
    full = f"{PREFIX}batch_seconds"
    out += [f"# HELP {full} time to write and commit one batch", f"# TYPE {full} histogram"]
    acc = 0
    for bound, count in zip(h.buckets, h.counts, strict=False):
        acc += count
        out.append(f'{full}_bucket{{le="{bound}"}} {acc}')
    out.append(f'{full}_bucket{{le="+Inf"}} {h.n}')
    out += [f"{full}_sum {h.total:.6f}", f"{full}_count {h.n}"]
    return "\n".join(out) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _alert_lines(m: Metrics) -> list[str]:
    out: list[str] = []
    full = f"{PREFIX}alerts_firing"
    out += [f"# HELP {full} alerts firing now, by kind", f"# TYPE {full} gauge"]
    out += [f'{full}{{kind="{k}"}} {n}' for k, n in sorted(m.alerts_firing.items())]
    for name, what in (("fired", "alerts fired"), ("resolved", "alerts resolved")):
        full = f"{PREFIX}alerts_{name}_total"
        out += [f"# HELP {full} {what}, by kind", f"# TYPE {full} counter"]
        counts = getattr(m, f"alerts_{name}")
        out += [f'{full}{{kind="{k}"}} {n}' for k, n in sorted(counts.items())]
    return out


_STORAGE: Final = (
    ("table_bytes", "bytes", "size of a table, indexes and TOAST included"),
    ("table_bytes_per_advert", "per_advert", "table bytes per advert held in the raw archive"),
    ("table_bytes_per_day", "per_day", "table bytes per day held in the raw archive"),
)


def _storage(b: Budget) -> list[str]:
    out: list[str] = []
    for name, attr, text in _STORAGE:
        full = f"{PREFIX}{name}"
        out += [f"# HELP {full} {text}", f"# TYPE {full} gauge"]
        out += [f'{full}{{table="{t.table}"}} {getattr(t, attr):.1f}' for t in b.tables]
    full = f"{PREFIX}archive_adverts"
    out += [f"# HELP {full} adverts held in raw_advertisements (estimate)", f"# TYPE {full} gauge"]
    out.append(f"{full} {b.adverts}")
    return out


async def serve(m: Metrics, host: str, port: int) -> asyncio.Server:
    """Start the HTTP endpoint; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = render(m).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("metrics on http://%s:%s/metrics", host, port, extra={"event": "metrics_listening"})
    return server
