-- Scanner commands (issue 18): every command the subscriber saw on bt-mqtt/command/+ and every
-- reply on bt-mqtt/scanner/+/reply, one row per (request id, scanner). A command to `all` has
-- a row for `all` and one per scanner that answered; a reply whose request was too broken to
-- carry an id gets a row of its own (request_id NULL). Written by
-- subscriber/bt_mqtt/subscriber/commandlog.py, outside the ingest path.
CREATE TABLE scanner_commands (
    row_id       bigserial   PRIMARY KEY,
    request_id   text        COLLATE "C",
    scanner_id   text        COLLATE "C" NOT NULL,   -- the target, or the scanner that replied
    verb         text,
    args         jsonb,
    requested_at timestamptz,                        -- when the subscriber saw the request
    requested_by text,                               -- the sender's "by" user property, if any
    replied_at   timestamptz,
    ok           boolean,
    result       jsonb,
    error        text,
    ms           integer
);

CREATE UNIQUE INDEX scanner_commands_request_idx ON scanner_commands (request_id, scanner_id);
CREATE INDEX scanner_commands_scanner_idx ON scanner_commands (scanner_id, row_id DESC);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'btmqtt_console') THEN
        GRANT SELECT ON scanner_commands TO btmqtt_console;
    END IF;
END
$$;
