-- A read-only PostgreSQL role for bt-mqtt-console (see docs/console.md).
-- Run it once as the owner of the BT-MQTT tables, in the BT-MQTT database, after
-- `bt-mqtt-subscriber migrate`; then give the role a password:
--   ALTER ROLE btmqtt_console PASSWORD '...';
-- The console only SELECTs from the parent tables, so new daily partitions need no grants.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'btmqtt_console') THEN
        CREATE ROLE btmqtt_console LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO btmqtt_console', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO btmqtt_console;
GRANT SELECT ON raw_advertisements, sensor_readings, devices, scanners TO btmqtt_console;
ALTER ROLE btmqtt_console SET default_transaction_read_only = on;
