from __future__ import annotations

import psycopg

from tests.fixtures.postgres import PgCluster


def test_fresh_database_per_test(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_database_is_empty_again(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        row = conn.execute("SELECT to_regclass('t')").fetchone()
        assert row == (None,)


def test_private_cluster_restarts(pg_cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster: PgCluster = pg_cluster_factory()
    url = cluster.create_database("x")
    cluster.stop()
    cluster.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
