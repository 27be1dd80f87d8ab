-- BT-MQTT schema, version 3: every advert accounted for, wrong clocks harmless, parse failures
-- visible.  See docs/database-schema.md and docs/decisions/0025 to 0027.

-- How an advert's `time` was chosen (see subscriber/clock.py): true when it is the agent's `ts`,
-- false when the agent's clock was implausible and the subscriber's arrival time was used
-- (the agent's `ts` stays in `payload`).
ALTER TABLE raw_advertisements ADD COLUMN agent_time boolean NOT NULL DEFAULT true;

-- What the parsers made of the advert: 'ok' (decoded; `parser` says by whom), 'no_key' (an
-- encrypted format and no bind key for the address), 'wrong_key' (a bind key that does not
-- open it), 'error' (the format's parser failed); NULL when no parser claimed it.  `parser`
-- names the parser that claimed it in every case but NULL.
ALTER TABLE raw_advertisements ADD COLUMN parse_status text
    CHECK (parse_status IN ('ok', 'no_key', 'wrong_key', 'error'));
UPDATE raw_advertisements SET parse_status = 'ok' WHERE parser IS NOT NULL;

-- The seqs received of each (scanner, boot), as a set of ranges: gaps, out-of-order arrival,
-- redelivery and several subscribers are all a set union.  It is also the identity index of
-- the adverts: an advert whose seq is already here is not stored again, whatever its `ts`.
-- `last_seq` and `agent_counters` come from the boot's heartbeats (the highest `last_seq`
-- seen, the counters of the latest heartbeat).  Independent of the archive's layout: retention
-- never deletes from it (a row is a few hundred bytes per agent start).
CREATE TABLE seq_ledger (
    scanner_id     text           COLLATE "C" NOT NULL,
    boot           text           COLLATE "C" NOT NULL,
    seqs           int8multirange NOT NULL DEFAULT '{}',
    last_seq       bigint         NOT NULL DEFAULT 0,
    agent_counters jsonb,
    first_seen     timestamptz    NOT NULL DEFAULT now(),
    updated_at     timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (scanner_id, boot)
) WITH (fillfactor = 70);

INSERT INTO seq_ledger (scanner_id, boot, seqs, first_seen)
SELECT scanner_id, boot, range_agg(int8range(seq, seq, '[]')), min(received_at)
FROM raw_advertisements WHERE seq < 9223372036854775807
GROUP BY scanner_id, boot;

-- Per (scanner, boot): adverts published (the agent's `last_seq`, or the highest seq received
-- if that is higher), received by the subscribers, missing (published, never received: lost in
-- transit, or still on their way), and what the agent itself reported in its last heartbeat.
CREATE VIEW seq_accounting AS
SELECT l.scanner_id, l.boot, l.first_seen, l.updated_at,
    greatest(l.last_seq, coalesce(upper(l.seqs) - 1, 0)) AS published,
    r.received,
    greatest(l.last_seq, coalesce(upper(l.seqs) - 1, 0)) - r.received AS missing,
    (l.agent_counters->>'received')::bigint AS radio_received,
    (l.agent_counters->>'filtered')::bigint AS filtered,
    (l.agent_counters->>'deduplicated')::bigint AS deduplicated,
    coalesce((l.agent_counters->>'dropped_offline')::bigint, 0)
        + coalesce((l.agent_counters->>'dropped_backlog')::bigint, 0)
        + coalesce((l.agent_counters->>'dropped_invalid')::bigint, 0) AS agent_dropped
FROM seq_ledger l
CROSS JOIN LATERAL (
    SELECT coalesce(sum(upper(x) - lower(x)), 0)::bigint AS received FROM unnest(l.seqs) x
) r;

-- The same per scanner, over all its boots.
CREATE VIEW scanner_loss AS
SELECT scanner_id, count(*) AS boots, sum(published)::bigint AS published,
    sum(received)::bigint AS received, sum(missing)::bigint AS missing,
    sum(agent_dropped)::bigint AS agent_dropped, max(updated_at) AS updated_at
FROM seq_accounting GROUP BY scanner_id;
