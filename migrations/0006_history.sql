-- BT-MQTT schema: history that stays fast (issue 15).  Latest values per (device, metric) and
-- rollups at 1 minute, 1 hour and 1 day.  The ingest statement only marks the minutes it added
-- readings to (`rollup_marks`); the rollup job (subscriber/bt_mqtt/subscriber/history.py)
-- recomputes those minutes, their hours and their days from `sensor_readings`.
-- See docs/database-schema.md and docs/decisions/0041-latest-values-and-rollups.md.

-- The newest value of each (device, metric): `devices.last_readings`, which ingest and
-- `reprocess` already keep (newest by the trusted `time` of subscriber/clock.py, so a scanner
-- whose clock runs years ahead or behind cannot pin or hide a value).  One primary-key row per
-- device, never a scan of history.  `time` is the device's newest reading time
-- (`devices.last_readings_at`); a metric the newest advert did not carry keeps its older value.
CREATE VIEW latest_readings AS
SELECT d.mac, r.key AS metric, (r.value #>> '{}')::double precision AS value,
    d.last_readings_at AS time
FROM devices d CROSS JOIN LATERAL jsonb_each(d.last_readings) r
WHERE jsonb_typeof(r.value) = 'number';

-- Rollups of sensor_readings by (device, metric, UTC bucket of `time`): count, sum (mean is
-- sum / n), min, max, and the value of the newest reading of the bucket (`last`, at `last_time`;
-- ties in time: the larger value).  Each is exactly a GROUP BY over the readings of its buckets,
-- whatever order the readings came in.  Retention: `retention.rollup_*_days`.
CREATE TABLE readings_1m (
    mac       text             COLLATE "C" NOT NULL,
    metric    text             COLLATE "C" NOT NULL,
    bucket    timestamptz      NOT NULL,
    n         integer          NOT NULL,
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    last      double precision NOT NULL,
    last_time timestamptz      NOT NULL,
    PRIMARY KEY (mac, metric, bucket)
);
-- the job deletes and re-inserts whole buckets, and retention deletes "bucket < cut-off"
CREATE INDEX readings_1m_bucket_idx ON readings_1m (bucket);
CREATE TABLE readings_1h (LIKE readings_1m INCLUDING ALL);
CREATE TABLE readings_1d (LIKE readings_1m INCLUDING ALL);

-- UTC minutes that got readings since the rollup job last ran: each ingest batch inserts one
-- row (the distinct minutes of its readings) in the transaction that stores them, `reprocess`
-- one per chunk.  A mark is visible exactly when its readings are; the job deletes the rows it
-- saw and recomputes their minutes, so a batch committing meanwhile keeps its row for the next
-- run.  Insert-only: no upsert, no lock, no row contended by batches.
CREATE TABLE rollup_marks (
    id      bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    minutes timestamptz[] NOT NULL
);

-- Everything stored so far is the job's work, a row per minute (a new database has nothing).
INSERT INTO rollup_marks (minutes)
SELECT ARRAY[m] FROM (
    SELECT DISTINCT date_bin('1 minute', time, timestamptz '2000-01-01 00:00:00+00') AS m
    FROM sensor_readings
) d ORDER BY m;
