-- BT-MQTT schema, version 7: the compact raw archive.  See docs/database-schema.md and
-- docs/decisions/0040-compact-archive-blocks.md.
--
-- Recent days stay rows (`raw_advertisements`, `sensor_readings_hot`), written by ingest as
-- before.  `bt-mqtt-subscriber compact` (also run by the subscriber, by `migrate` after this
-- file and by `retention`) rewrites each closed day into blocks, in one transaction per day:
-- the day's adverts into `raw_blocks` (one row per MAC), its readings into `reading_blocks`
-- (one row per MAC, metric, scanner and parser), then empties the day's partitions.  This file
-- only changes the layout; the conversion of the days already stored is that job's (with
-- progress), so applying it is quick on any database.

-- The adverts of one MAC and one UTC day (or several blocks for a day: `part` counts the
-- compactions of that day that found adverts, a late arrival makes another).  `data` is the
-- block codec's bytes (subscriber/archive.py): every column of every row and the payload's
-- fields exactly; already compressed, so stored as is.
CREATE TABLE raw_blocks (
    mac        text        COLLATE "C" NOT NULL,
    day        date        NOT NULL,
    part       integer     NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL,
    adverts    integer     NOT NULL,
    data       bytea       NOT NULL,
    PRIMARY KEY (mac, day, part)
);
ALTER TABLE raw_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The readings of one MAC, metric, scanner and parser on one UTC day, as parallel arrays in
-- (time, advert id) order: `t_delta_us` the microseconds since the day's start of the first
-- and since the previous reading of the others, `value`, and `advert_id_delta` the first
-- advert id then differences (small numbers compress well).  Rows over toast_tuple_target are
-- compressed in place (TOAST).
CREATE TABLE reading_blocks (
    mac             text               COLLATE "C" NOT NULL,
    metric          text               COLLATE "C" NOT NULL,
    day             date               NOT NULL,
    scanner_id      text               NOT NULL,
    parser          text               NOT NULL,
    part            integer            NOT NULL,
    t_delta_us      bigint[]           NOT NULL,
    value           double precision[] NOT NULL,
    advert_id_delta bigint[]           NOT NULL,
    PRIMARY KEY (mac, metric, day, scanner_id, parser, part),
    CHECK (cardinality(t_delta_us) = cardinality(value)
           AND cardinality(t_delta_us) = cardinality(advert_id_delta))
) WITH (toast_tuple_target = 128);
-- the blocks of some days, every device (the rollup job recomputing a time range)
CREATE INDEX reading_blocks_day_idx ON reading_blocks (day);

-- The rows of one reading block (the running sums of its deltas), in order.
CREATE FUNCTION bt_mqtt_reading_block_rows(t_delta_us bigint[], value double precision[],
                                           advert_id_delta bigint[])
RETURNS TABLE (t_us bigint, value double precision, advert_id bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT (sum(d.dt) OVER w)::bigint, d.v, (sum(d.da) OVER w)::bigint
    FROM unnest(t_delta_us, value, advert_id_delta) WITH ORDINALITY AS d(dt, v, da, n)
    WINDOW w AS (ORDER BY d.n)
$fn$;

-- The readings' rows become the hot part of `sensor_readings`, which is now a view over them
-- and the blocks: the same narrow columns as before, for every reader.
ALTER TABLE sensor_readings RENAME TO sensor_readings_hot;
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'sensor_readings_hot'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part.relname,
                       'sensor_readings_hot' || substr(part.relname, length('sensor_readings') + 1));
    END LOOP;
END
$$;

CREATE VIEW sensor_readings AS
SELECT time, mac, scanner_id, parser, metric, value, advert_id FROM sensor_readings_hot
UNION ALL
SELECT (b.day::timestamp AT TIME ZONE 'UTC') + u.t_us * interval '1 microsecond',
    b.mac, b.scanner_id, b.parser, b.metric, u.value, u.advert_id
FROM reading_blocks b
CROSS JOIN LATERAL bt_mqtt_reading_block_rows(b.t_delta_us, b.value, b.advert_id_delta) u;

