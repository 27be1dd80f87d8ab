-- BT-MQTT schema: alerts with their history, and per-scanner activity buckets (the alert
-- baselines and the Grafana overview read them).  See docs/database-schema.md#alerts.

-- One row per alert occurrence: it fires (state 'firing'), later resolves (state 'resolved',
-- resolved_at set).  At most one firing row per (kind, subject): an alert fires once.
CREATE TABLE alerts (
    id          bigserial   PRIMARY KEY,
    kind        text        COLLATE "C" NOT NULL,
    subject     text        COLLATE "C" NOT NULL,
    state       text        NOT NULL CHECK (state IN ('firing', 'resolved')),
    fired_at    timestamptz NOT NULL,
    resolved_at timestamptz,
    message     text        NOT NULL,
    value       double precision,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);

CREATE UNIQUE INDEX alerts_one_firing_idx ON alerts (kind, subject) WHERE state = 'firing';
CREATE INDEX alerts_fired_idx ON alerts (fired_at DESC);

-- Everything that happened to an alert: fired, resolved, and each delivery attempt.
CREATE TABLE alert_events (
    id       bigserial   PRIMARY KEY,
    alert_id bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time     timestamptz NOT NULL,
    event    text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, time);
CREATE INDEX alert_events_time_idx ON alert_events (time DESC);

-- Adverts and distinct devices each scanner heard per 5 minutes (by the adverts' `time`).
CREATE TABLE scanner_activity (
    scanner_id text        COLLATE "C" NOT NULL,
    bucket     timestamptz NOT NULL,
    adverts    integer     NOT NULL,
    devices    integer     NOT NULL,
    PRIMARY KEY (scanner_id, bucket)
);

CREATE INDEX scanner_activity_bucket_idx ON scanner_activity (bucket);

-- The console's read-only role (console/bt_mqtt/console/readonly_role.sql), when it exists,
-- reads these too (Grafana uses it).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'btmqtt_console') THEN
        GRANT SELECT ON alerts, alert_events, scanner_activity TO btmqtt_console;
    END IF;
END
$$;
