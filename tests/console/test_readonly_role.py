"""``readonly_role.sql`` run as its header says: by the owner of the BT-MQTT tables (a role that
is not a superuser), on a real PostgreSQL.  With CREATEROLE it does everything; without it, it
stops with a hint, and after a superuser created the role it grants the rest.  Either way the
role can read and cannot write.  (Before: it failed for the owner, "permission denied to create
role", and had only ever been run as a superuser.)"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import psycopg
import pytest

from bt_mqtt.subscriber.migrate import migrate
from tests.fixtures.postgres import PgCluster

SQL = resources.files("bt_mqtt.console").joinpath("readonly_role.sql").read_text()
MAC = "A4:C1:38:00:00:01"


def _owner_database(cluster: PgCluster, owner: str, options: str) -> str:
    """A database and tables owned by ``owner`` (not a superuser), migrated as that owner."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw' {options}")
        conn.execute(f"CREATE DATABASE {owner}_db OWNER {owner}")
    url = cluster.url(f"{owner}_db").replace("://postgres@", f"://{owner}:owner-pw@", 1)
    migrate({"conninfo": url})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (mac, first_seen, last_seen, name, parser, advert_count, facts) "
            "VALUES (%s, now(), now(), 'DIY-sensor', 'bthome', 1, '{}')",
            (MAC,),
        )
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (False,)
    return url


def _console_can_read_and_not_write(url: str, owner: str, read_only_default: bool) -> None:
    console = url.replace(f"://{owner}:owner-pw@", "://btmqtt_console:console-pw@", 1)
    with psycopg.connect(console, autocommit=True) as conn:
        got = conn.execute("SELECT name FROM devices WHERE mac = %s", (MAC,)).fetchone()
        assert got == ("DIY-sensor",)
        for table in (
            "raw_advertisements",
            "sensor_readings",
            "scanners",
            "sensor_readings_hot",
            "raw_blocks",
            "reading_blocks",
            "readings_1m",
            "readings_1h",
            "readings_1d",
            "latest_readings",
        ):
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        setting = conn.execute("SHOW default_transaction_read_only").fetchone()
        assert setting == ("on" if read_only_default else "off",)
        conn.execute("SET default_transaction_read_only = off")  # even then: no privilege
        for statement in (
            "DELETE FROM devices",
            "UPDATE scanners SET last_seen = now()",
            "INSERT INTO devices (mac, first_seen, last_seen) VALUES ('x', now(), now())",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_an_owner_with_createrole_runs_it_alone(
    pg_cluster_factory: Callable[[], PgCluster],
) -> None:
    cluster = pg_cluster_factory()
    url = _owner_database(cluster, "btmqtt", "CREATEROLE")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SQL.encode())
        conn.execute(SQL.encode())  # again: harmless
        conn.execute("ALTER ROLE btmqtt_console PASSWORD 'console-pw'")
    _console_can_read_and_not_write(url, "btmqtt", read_only_default=True)


def test_an_owner_without_createrole_is_told_what_to_ask_for(
    pg_cluster_factory: Callable[[], PgCluster],
) -> None:
    cluster = pg_cluster_factory()
    url = _owner_database(cluster, "btmqtt", "")
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException) as exc:
            conn.execute(SQL.encode())
        assert "btmqtt_console does not exist, and role btmqtt may not create roles" in str(
            exc.value
        )
        assert exc.value.diag.message_hint is not None
        assert "CREATE ROLE btmqtt_console LOGIN" in exc.value.diag.message_hint
    with psycopg.connect(cluster.url(), autocommit=True) as conn:  # what the hint says
        conn.execute("CREATE ROLE btmqtt_console LOGIN PASSWORD 'console-pw'")
    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(SQL.encode())
    assert any("may not change role btmqtt_console" in n for n in notices), notices
    _console_can_read_and_not_write(url, "btmqtt", read_only_default=False)
