-- BT-MQTT schema: what the alert evaluator remembers besides the firing alerts, so that a
-- subscriber restart loses nothing (docs/decisions/0044).  See docs/database-schema.md#alerts.

-- Conditions true but not yet for their rule's `for_s` (pending): after a restart the alert
-- fires when it would have fired without one.
CREATE TABLE alert_pending (
    kind    text        COLLATE "C" NOT NULL,
    subject text        COLLATE "C" NOT NULL,
    since   timestamptz NOT NULL,
    message text        NOT NULL,
    value   double precision,
    detail  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (kind, subject)
);

-- Each device's last battery level seen by the rules, and when a replacement (a jump up) was
-- seen: a battery replaced across a restart is still detected.
CREATE TABLE alert_battery (
    mac         text        COLLATE "C" PRIMARY KEY,
    level       double precision NOT NULL,
    replaced_at timestamptz
);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'btmqtt_console') THEN
        GRANT SELECT ON alert_pending, alert_battery TO btmqtt_console;
    END IF;
END
$$;
