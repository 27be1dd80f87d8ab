-- BT-MQTT schema, version 1.  See docs/database-schema.md for the meaning of every column.
-- Applied by `bt-mqtt-subscriber migrate` inside one transaction.

-- Key columns holding identifiers (MAC addresses, scanner ids, boot ids, metric names) use the
-- "C" collation: their order is plain byte order, and index inserts and lookups do not pay for
-- the database's linguistic collation (about a fifth of the ingest's database time under ICU).

-- Every advertisement as received, partitioned by day on `time` (the agent's timestamp).
-- (scanner_id, boot, seq) identifies a message; `time` comes from the same payload, so a
-- redelivered message hits the same partition and the primary key keeps it out.
CREATE SEQUENCE raw_advertisements_id_seq AS bigint;

CREATE TABLE raw_advertisements (
    id          bigint      NOT NULL DEFAULT nextval('raw_advertisements_id_seq'),
    time        timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    scanner_id  text        COLLATE "C" NOT NULL,
    boot        text        COLLATE "C" NOT NULL,
    seq         bigint      NOT NULL,
    mac         text        COLLATE "C" NOT NULL,
    rssi        smallint,
    parser      text,
    clock_skew  boolean     NOT NULL DEFAULT false,
    payload     jsonb       NOT NULL,
    PRIMARY KEY (scanner_id, boot, seq, time)
) PARTITION BY RANGE (time);

ALTER SEQUENCE raw_advertisements_id_seq OWNED BY raw_advertisements.id;

CREATE INDEX raw_advertisements_mac_time_idx ON raw_advertisements (mac, time DESC);
CREATE INDEX raw_advertisements_time_brin ON raw_advertisements USING brin (time);
CREATE TABLE raw_advertisements_default PARTITION OF raw_advertisements DEFAULT;

-- Narrow readings: one row per (advertisement, metric).
CREATE TABLE sensor_readings (
    time       timestamptz      NOT NULL,
    mac        text COLLATE "C" NOT NULL,
    scanner_id text             NOT NULL,
    parser     text             NOT NULL,
    metric     text COLLATE "C" NOT NULL,
    value      double precision NOT NULL,
    advert_id  bigint           NOT NULL
) PARTITION BY RANGE (time);

CREATE INDEX sensor_readings_mac_metric_time_idx ON sensor_readings (mac, metric, time DESC);
CREATE INDEX sensor_readings_time_brin ON sensor_readings USING brin (time);
CREATE TABLE sensor_readings_default PARTITION OF sensor_readings DEFAULT;

-- One row per Bluetooth address.
CREATE TABLE devices (
    mac              text        COLLATE "C" PRIMARY KEY,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    last_rssi        smallint,
    address_type     text,
    name             text,
    parser           text,
    manufacturer     text,
    model            text,
    last_scanner_id  text,
    advert_count     bigint      NOT NULL DEFAULT 0,
    facts            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_readings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_readings_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);
-- No secondary indexes: the table holds one row per address (thousands) and is rewritten once
-- per batch per device; without them those updates stay HOT (no index writes).

-- One row per scanner (agent), from heartbeats and adverts.
CREATE TABLE scanners (
    scanner_id           text        COLLATE "C" PRIMARY KEY,
    status               text        NOT NULL DEFAULT 'unknown'
                                     CHECK (status IN ('online', 'offline', 'unknown')),
    status_since         timestamptz,
    last_heartbeat       jsonb,
    last_heartbeat_at    timestamptz,
    heartbeat_interval_s double precision,
    clock_skew           boolean     NOT NULL DEFAULT false,
    first_seen           timestamptz NOT NULL,
    last_seen            timestamptz NOT NULL,
    last_advert_at       timestamptz,
    advert_count         bigint      NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

CREATE TABLE scanner_transitions (
    id          bigserial   PRIMARY KEY,
    scanner_id  text        COLLATE "C" NOT NULL,
    time        timestamptz NOT NULL,
    from_status text        NOT NULL,
    to_status   text        NOT NULL,
    reason      text        NOT NULL,
    heartbeat   jsonb
);

CREATE INDEX scanner_transitions_scanner_time_idx ON scanner_transitions (scanner_id, time DESC);

-- Messages that failed validation, kept for a person to look at.
CREATE TABLE rejected_messages (
    received_at timestamptz NOT NULL,
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL
) PARTITION BY RANGE (received_at);

CREATE INDEX rejected_messages_received_idx ON rejected_messages (received_at DESC);
CREATE INDEX rejected_messages_reason_idx ON rejected_messages (reason, received_at DESC);
CREATE TABLE rejected_messages_default PARTITION OF rejected_messages DEFAULT;

-- Creates the daily partition of `parent` holding `day` (UTC), named parent_YYYYMMDD, moving
-- any rows of that day out of the default partition first.  Safe to call concurrently.
-- Returns true when it created the partition.
CREATE FUNCTION bt_mqtt_ensure_partition(parent text, key_column text, day date)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    part text := parent || '_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('bt_mqtt_partition:' || part));
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved',
                   parent || '_default', key_column, key_column, part) USING lo, hi;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    RETURN true;
END
$fn$;
