-- A read-only PostgreSQL role for bt-mqtt-console (see docs/console.md).
-- Run it as the owner of the BT-MQTT tables, in the BT-MQTT database, after
-- `bt-mqtt-subscriber migrate` (running it again is harmless).
--
-- Creating a role needs CREATEROLE (or a superuser).  When the owner has it, this script does
-- everything; then give the role a password:
--   ALTER ROLE btmqtt_console PASSWORD '...';
-- When the owner has not, it stops and says so: have a superuser run, once,
--   CREATE ROLE btmqtt_console LOGIN PASSWORD '...';
-- then run this script again as the owner, which grants the rest.
--
-- The role can only SELECT the tables and views below (through the parents, so new daily
-- partitions need no grants).  Its sessions are also read-only by default when the owner may set that (it needs
-- the same right); otherwise a NOTICE says so, and the console makes its own sessions read-only.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'btmqtt_console') THEN
        BEGIN
            CREATE ROLE btmqtt_console LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role btmqtt_console does not exist, and role % may not create roles',
                current_user
                USING HINT = 'As a superuser run: CREATE ROLE btmqtt_console LOGIN PASSWORD '
                    '''...''; then run this script again as the owner of the BT-MQTT tables.';
        END;
    END IF;
    BEGIN
        ALTER ROLE btmqtt_console SET default_transaction_read_only = on;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'role % may not change role btmqtt_console, so its sessions are not made '
            'read-only by default; it can still only SELECT, and the console sets read-only '
            'itself (a superuser may run: ALTER ROLE btmqtt_console SET '
            'default_transaction_read_only = on)', current_user;
    END;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO btmqtt_console', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO btmqtt_console;
GRANT SELECT ON raw_advertisements, sensor_readings, devices, scanners TO btmqtt_console;
-- the loss accounting (schema version 3): the ledger and its views
GRANT SELECT ON seq_ledger, seq_accounting, scanner_loss TO btmqtt_console;
-- Alerts and per-scanner activity (migration 0005), read by the console and Grafana.
DO $$
BEGIN
    IF to_regclass('alerts') IS NOT NULL THEN
        GRANT SELECT ON alerts, alert_events, scanner_activity TO btmqtt_console;
    END IF;
END
$$;
-- History (migrations 0006, 0007): rollups and latest values, read by Grafana's device
-- dashboard; the hot readings and the compact archive's blocks, sized by its storage dashboard
-- (`sensor_readings` is a view over them).
DO $$
BEGIN
    IF to_regclass('readings_1m') IS NOT NULL THEN
        GRANT SELECT ON readings_1m, readings_1h, readings_1d, latest_readings TO btmqtt_console;
    END IF;
    IF to_regclass('raw_blocks') IS NOT NULL THEN
        GRANT SELECT ON raw_blocks, reading_blocks, sensor_readings_hot TO btmqtt_console;
    END IF;
END
$$;
-- The record of scanner commands (migration 0009), shown on the Scanners screen.
DO $$
BEGIN
    IF to_regclass('scanner_commands') IS NOT NULL THEN
        GRANT SELECT ON scanner_commands TO btmqtt_console;
    END IF;
END
$$;
