"""Counting what never arrived: the ledger of seqs received per (scanner, boot).

Within a boot an agent numbers the adverts it publishes 1, 2, 3, ... and reports the last
number in its heartbeat (``last_seq``).  The ``seq_ledger`` table keeps, per (scanner_id,
boot), the set of seqs received as an ``int8multirange``: each batch adds its seqs by set
union, so gaps, out-of-order arrival, redelivery and several subscribers in a share group need
no special case.  Published is the larger of ``last_seq`` and the highest seq received; missing
is published minus received (the ``seq_accounting`` and ``scanner_loss`` views).  The ledger is
also the adverts' identity index: an advert whose seq is already in it is not stored again,
whatever its ``ts`` (the archive's primary key includes the time).

This module holds the ledger's SQL and the pure part: what a heartbeat contributes.  It does
not depend on the archive's layout, only on the staging table's (scanner_id, boot, seq).
"""

from __future__ import annotations

import json
from typing import Any, Final

from attrs import define

from bt_mqtt.core.wire import SEQ_MAX

# the agent's heartbeat counters the ledger keeps (see docs/mqtt-schema.md)
COUNTERS: Final = (
    "received",
    "filtered",
    "deduplicated",
    "published",
    "dropped_offline",
    "dropped_backlog",
    "dropped_invalid",
    "spooled",
    "requeued",
)
BOOT_MAX: Final = 128
# seqs the ledger can hold: int8range(seq, seq, '[]') needs seq + 1 to be a bigint
LEDGER_SEQ_MAX: Final = SEQ_MAX - 1

# Before the ingest statement: make sure each (scanner, boot) of the batch has a ledger row and
# lock those rows in key order (one subscriber of a share group at a time per boot, so the
# "already received?" test of the next statement sees every commit before it).
LOCK: Final = """
INSERT INTO seq_ledger AS l (scanner_id, boot)
SELECT scanner_id, boot FROM (
    SELECT scanner_id, boot FROM stage_raw
    UNION SELECT * FROM unnest(%(seen_ids)s::text[], %(seen_boots)s::text[])
) b ORDER BY scanner_id, boot
ON CONFLICT (scanner_id, boot) DO UPDATE SET updated_at = now()
"""

# What a heartbeat says of its boot: the highest last_seq wins, the counters of the heartbeat
# that counted the most radio adverts win (counters only grow within a boot).
HEARTBEAT: Final = """
INSERT INTO seq_ledger AS l (scanner_id, boot, last_seq, agent_counters)
VALUES (%(sid)s, %(boot)s, %(last_seq)s, %(counters)s::jsonb)
ON CONFLICT (scanner_id, boot) DO UPDATE SET
    last_seq = greatest(l.last_seq, EXCLUDED.last_seq),
    agent_counters = CASE
        WHEN EXCLUDED.agent_counters IS NULL THEN l.agent_counters
        WHEN l.agent_counters IS NULL
             OR coalesce((l.agent_counters->>'received')::bigint, -1)
                <= coalesce((EXCLUDED.agent_counters->>'received')::bigint, -1)
        THEN EXCLUDED.agent_counters ELSE l.agent_counters END,
    updated_at = now()
"""

LOSS: Final = (
    "SELECT scanner_id, published, received, missing, agent_dropped FROM scanner_loss "
    "ORDER BY scanner_id"
)


@define(frozen=True)
class Marks:
    """What one heartbeat tells the ledger."""

    boot: str
    last_seq: int
    counters: str | None  # JSON object of the integer counters, or None


def marks(body: dict[str, Any]) -> Marks | None:
    """The ledger's part of a heartbeat: its boot, ``last_seq`` (0 when absent) and integer
    counters, or None when it names no usable boot.  Values of the wrong type are left out."""
    boot = body.get("boot")
    if not isinstance(boot, str) or not boot or len(boot) > BOOT_MAX or "\x00" in boot:
        return None
    last = body.get("last_seq")
    if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last <= LEDGER_SEQ_MAX:
        last = 0
    raw = body.get("counters")
    counters: dict[str, int] = {}
    if isinstance(raw, dict):
        for key in COUNTERS:
            value = raw.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62:
                counters[key] = value
    return Marks(boot, last, json.dumps(counters) if counters else None)


@define(frozen=True)
class Loss:
    """One scanner's figures over all its boots (the ``scanner_loss`` view)."""

    published: int
    received: int
    missing: int
    agent_dropped: int


def loss_rows(rows: list[tuple[Any, ...]]) -> dict[str, Loss]:
    """``LOSS`` rows by scanner id."""
    return {str(r[0]): Loss(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}
