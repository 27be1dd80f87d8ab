-- BT-MQTT schema, version 2: what is kept of oversize rejected messages, and adverts the
-- privacy policy did not store.  See docs/database-schema.md.

-- The size and SHA-256 of a rejected message as received.  `payload` holds all of it, or only
-- the first `ingest.max_payload_bytes` bytes of a message larger than that (then
-- octet_length(payload) < payload_size).  Null on rows written before this migration.
ALTER TABLE rejected_messages
    ADD COLUMN payload_size   bigint,
    ADD COLUMN payload_sha256 bytea;

-- Adverts of this scanner that no parser decoded and the `privacy` configuration dropped:
-- with advert_count they account for every seq a scanner published.
ALTER TABLE scanners ADD COLUMN privacy_dropped bigint NOT NULL DEFAULT 0;
