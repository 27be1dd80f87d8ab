"""The SQL the ingest path runs, in one place so the schema's users can see it."""

from __future__ import annotations

from typing import Final

from bt_mqtt.subscriber import rows

# The ingest statements touch a few thousand rows each, but the planner cannot know how many a
# temporary table holds and would JIT-compile them on every batch (about 30 ms each).
SESSION_SETUP: Final = ("SET jit = off",)


def _columns(types: tuple[tuple[str, str], ...]) -> str:
    return "".join(f",\n    {name} {sqltype}" for name, sqltype in types)


# Columns in the order of ``rows`` (the one home of the COPY row layout).
STAGE_TABLES: Final = f"""
CREATE TEMP TABLE IF NOT EXISTS stage_raw (
    id bigint DEFAULT nextval('raw_advertisements_id_seq'){_columns(rows.STAGE_RAW_TYPES)}
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_readings ({_columns(rows.STAGE_READINGS_TYPES)[1:]}
) ON COMMIT DELETE ROWS;
"""

# Rows arrive already in COPY text format (see batch.BatchPlan).  ``facts`` and ``readings``
# stay text in the staging table: only the one row per device that wins is cast to jsonb.
COPY_STAGE_RAW: Final = f"COPY stage_raw ({', '.join(rows.RAW_COLUMNS)}) FROM STDIN"
COPY_STAGE_READINGS: Final = f"COPY stage_readings ({', '.join(rows.READING_COLUMNS)}) FROM STDIN"
CLEAR_STAGE: Final = ("DELETE FROM stage_raw", "DELETE FROM stage_readings")
COPY_REJECTED: Final = (
    "COPY rejected_messages (received_at, topic, payload, reason, detail, payload_size, "
    "payload_sha256) FROM STDIN"
)

# One statement (after ledger.LOCK): new adverts (those whose seq the ledger does not hold yet),
# their readings, device and scanner upserts (sorted by key so concurrent subscribers lock rows
# in the same order), the scanners' counts of adverts the privacy policy dropped (parallel
# arrays drop_ids, drop_counts, drop_at; empty when none), and the ledger: the batch's seqs and
# those of privacy-dropped adverts (seen_ids, seen_boots, seen_seqs) added to each boot's set.
# The minutes that got readings are marked for the rollup job (``history``; one row a batch).
# Returns (adverts, readings, devices, {"parser/parse_status": count} of the new adverts).
INGEST: Final = """
WITH ins AS (
    INSERT INTO raw_advertisements
        (id, time, received_at, scanner_id, boot, seq, mac, rssi, parser, clock_skew, agent_time,
         parse_status, payload)
    SELECT id, time, received_at, scanner_id, boot, seq, mac, rssi, parser, clock_skew,
        agent_time, parse_status, payload
    FROM stage_raw s
    WHERE NOT EXISTS (SELECT 1 FROM seq_ledger l WHERE l.scanner_id = s.scanner_id
                      AND l.boot = s.boot AND l.seqs @> s.seq)
    ON CONFLICT DO NOTHING
    RETURNING id
), new AS (
    SELECT s.id, s.k, s.time, s.received_at, s.scanner_id, s.seq, s.mac, s.rssi,
        s.address_type, s.name, s.parser, s.clock_skew, s.parse_status, s.facts, s.readings
    FROM ins JOIN stage_raw s USING (id)
), led AS (
    UPDATE seq_ledger l SET seqs = l.seqs + a.got, updated_at = now()
    FROM (
        SELECT scanner_id, boot, range_agg(int8range(seq, seq, '[]')) AS got
        FROM (
            SELECT scanner_id, boot, seq FROM stage_raw
            UNION ALL SELECT * FROM unnest(%(seen_ids)s::text[], %(seen_boots)s::text[],
                %(seen_seqs)s::bigint[])
        ) u WHERE seq < 9223372036854775807 GROUP BY scanner_id, boot
    ) a
    WHERE l.scanner_id = a.scanner_id AND l.boot = a.boot
    RETURNING 1
), rd AS (
    INSERT INTO sensor_readings_hot (time, mac, scanner_id, parser, metric, value, advert_id)
    SELECT n.time, n.mac, n.scanner_id, n.parser, r.metric, r.value, n.id
    FROM new n JOIN stage_readings r USING (k)
    RETURNING 1
), marks AS (
    INSERT INTO rollup_marks (minutes)
    SELECT array_agg(DISTINCT date_bin('1 minute', time, timestamptz '2000-01-01 00:00:00+00'))
    FROM new WHERE readings IS NOT NULL HAVING count(*) > 0
    RETURNING 1
), dev AS (
    INSERT INTO devices AS d (mac, first_seen, last_seen, last_rssi, address_type, name, parser,
        manufacturer, model, last_scanner_id, advert_count, facts, last_readings,
        last_readings_at, updated_at)
    SELECT g.mac, g.first_seen, g.last_seen, g.last_rssi, g.address_type, g.name, g.parser,
        g.facts->>'manufacturer', g.facts->>'model', g.last_scanner_id, g.n,
        coalesce(g.facts, '{}'::jsonb), coalesce(g.readings, '{}'::jsonb), g.readings_at, now()
    FROM (SELECT mac, first_seen, last_seen, n, last_rssi, address_type, name, parser,
            facts::jsonb AS facts, last_scanner_id, readings::jsonb AS readings, readings_at
    FROM (
        SELECT mac, min(time) AS first_seen, max(time) AS last_seen, count(*) AS n,
            (array_agg(rssi ORDER BY time DESC))[1] AS last_rssi,
            (array_agg(address_type ORDER BY time DESC)
                FILTER (WHERE address_type IS NOT NULL))[1] AS address_type,
            (array_agg(name ORDER BY time DESC) FILTER (WHERE name IS NOT NULL))[1] AS name,
            (array_agg(parser ORDER BY time DESC) FILTER (WHERE parser IS NOT NULL))[1]
                AS parser,
            (array_agg(facts ORDER BY time DESC) FILTER (WHERE facts IS NOT NULL))[1] AS facts,
            (array_agg(scanner_id ORDER BY time DESC))[1] AS last_scanner_id,
            (array_agg(readings ORDER BY time DESC) FILTER (WHERE readings IS NOT NULL))[1]
                AS readings,
            max(time) FILTER (WHERE readings IS NOT NULL) AS readings_at
        FROM new GROUP BY mac
    ) a) g
    ORDER BY g.mac
    ON CONFLICT (mac) DO UPDATE SET
        first_seen = least(d.first_seen, EXCLUDED.first_seen),
        last_seen = greatest(d.last_seen, EXCLUDED.last_seen),
        last_rssi = CASE WHEN EXCLUDED.last_seen >= d.last_seen
                         THEN EXCLUDED.last_rssi ELSE d.last_rssi END,
        address_type = coalesce(EXCLUDED.address_type, d.address_type),
        name = coalesce(EXCLUDED.name, d.name),
        parser = coalesce(EXCLUDED.parser, d.parser),
        manufacturer = coalesce(EXCLUDED.manufacturer, d.manufacturer),
        model = coalesce(EXCLUDED.model, d.model),
        last_scanner_id = CASE WHEN EXCLUDED.last_seen >= d.last_seen
                               THEN EXCLUDED.last_scanner_id ELSE d.last_scanner_id END,
        advert_count = d.advert_count + EXCLUDED.advert_count,
        facts = d.facts || EXCLUDED.facts,
        last_readings = CASE
            WHEN EXCLUDED.last_readings_at IS NOT NULL
                 AND (d.last_readings_at IS NULL OR EXCLUDED.last_readings_at >= d.last_readings_at)
            THEN d.last_readings || EXCLUDED.last_readings ELSE d.last_readings END,
        last_readings_at = greatest(d.last_readings_at, EXCLUDED.last_readings_at),
        updated_at = now()
    RETURNING 1
), seen AS (
    SELECT scanner_id, min(received_at) AS first_seen, max(received_at) AS last_seen,
        count(*) AS n, (array_agg(clock_skew ORDER BY received_at DESC, seq DESC))[1] AS clock_skew
    FROM new GROUP BY scanner_id
), drops AS (
    SELECT * FROM unnest(%(drop_ids)s::text[], %(drop_counts)s::bigint[],
        %(drop_at)s::timestamptz[]) AS d(scanner_id, dropped, at)
), sc AS (
    INSERT INTO scanners AS s (scanner_id, first_seen, last_seen, last_advert_at, advert_count,
        clock_skew, privacy_dropped)
    SELECT scanner_id, least(a.first_seen, d.at), greatest(a.last_seen, d.at),
        greatest(a.last_seen, d.at), coalesce(a.n, 0), coalesce(a.clock_skew, false),
        coalesce(d.dropped, 0)
    FROM seen a FULL JOIN drops d USING (scanner_id) ORDER BY scanner_id
    ON CONFLICT (scanner_id) DO UPDATE SET
        last_seen = greatest(s.last_seen, EXCLUDED.last_seen),
        last_advert_at = greatest(s.last_advert_at, EXCLUDED.last_advert_at),
        advert_count = s.advert_count + EXCLUDED.advert_count,
        clock_skew = CASE WHEN EXCLUDED.advert_count > 0 THEN EXCLUDED.clock_skew
                          ELSE s.clock_skew END,
        privacy_dropped = s.privacy_dropped + EXCLUDED.privacy_dropped
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM rd), (SELECT count(*) FROM dev),
    (SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
        SELECT parser || '/' || parse_status AS k, count(*) AS n FROM new
        WHERE parse_status IS NOT NULL GROUP BY 1) p),
    (SELECT count(*) FROM led)
"""

LOCK_SCANNER: Final = (
    "SELECT status, last_heartbeat = %s::jsonb FROM scanners WHERE scanner_id = %s FOR UPDATE"
)

UPSERT_HEARTBEAT: Final = """
INSERT INTO scanners AS s (scanner_id, status, status_since, last_heartbeat, last_heartbeat_at,
    heartbeat_interval_s, first_seen, last_seen)
VALUES (%(sid)s, %(status)s, %(at)s, %(body)s::jsonb, %(at)s, %(interval)s, %(at)s, %(at)s)
ON CONFLICT (scanner_id) DO UPDATE SET
    status_since = CASE WHEN s.status <> EXCLUDED.status THEN EXCLUDED.status_since
                        ELSE s.status_since END,
    status = EXCLUDED.status,
    last_heartbeat = EXCLUDED.last_heartbeat,
    last_heartbeat_at = EXCLUDED.last_heartbeat_at,
    heartbeat_interval_s = coalesce(EXCLUDED.heartbeat_interval_s, s.heartbeat_interval_s),
    last_seen = greatest(s.last_seen, EXCLUDED.last_seen)
"""

INSERT_TRANSITION: Final = (
    "INSERT INTO scanner_transitions (scanner_id, time, from_status, to_status, reason, heartbeat)"
    " VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
)

# The interval is clamped again here (1 s .. 1 day, as heartbeat.py does on input), so no row,
# however it was written, can make the date arithmetic fail for every scanner.
SWEEP_OFFLINE: Final = """
WITH overdue AS (
    UPDATE scanners SET status = 'offline', status_since = %(now)s
    WHERE status = 'online'
      AND last_heartbeat_at < %(now)s::timestamptz - make_interval(secs => least(greatest(
            coalesce(heartbeat_interval_s, %(default)s), %(min)s), %(max)s) * %(missed)s)
    RETURNING scanner_id, last_heartbeat
)
INSERT INTO scanner_transitions (scanner_id, time, from_status, to_status, reason, heartbeat)
SELECT scanner_id, %(now)s, 'online', 'offline', 'missed_heartbeats', last_heartbeat FROM overdue
RETURNING scanner_id
"""
