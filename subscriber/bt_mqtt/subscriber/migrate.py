"""Schema migrations: ``migrations/NNNN_name.sql`` applied in order, each in a transaction.

Applied migrations are recorded in ``schema_migrations`` with the SHA-256 of the file.  The
whole run holds a session advisory lock, so concurrent ``migrate`` calls apply each file once.
A file edited after it was applied, or a database that has migrations this program does not
know, is refused with ``MigrationError``.

The migrations folder is, in order: an explicit ``directory``, ``$BT_MQTT_MIGRATIONS_DIR``, the
source checkout's top-level ``migrations/`` (editable installs), the copy packaged in the wheel.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Final

import psycopg
from attrs import define

log = logging.getLogger(__name__)

ENV_MIGRATIONS_DIR: Final = "BT_MQTT_MIGRATIONS_DIR"
LOCK_KEY: Final = 0x6274_6D71_7474  # "btmqtt"
FILE_RE: Final = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(Exception):
    """The schema cannot be brought up to date safely; the message says why."""


@define(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def migrations_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where the migration files are (see the module docstring for the order)."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get(ENV_MIGRATIONS_DIR)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    root = here.parents[2]  # subscriber/bt_mqtt/subscriber -> the checkout
    checkout = root / "migrations"
    if (root / "pyproject.toml").is_file() and any(checkout.glob("*.sql")):
        return checkout
    return here / "migrations"


def load_migrations(directory: str | os.PathLike[str] | None = None) -> list[Migration]:
    """The migrations on disk, in version order; a badly named or duplicate file is an error."""
    folder = migrations_dir(directory)
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    out: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        m = FILE_RE.fullmatch(path.name)
        if m is None:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        data = path.read_bytes()
        version = int(m.group(1))
        if version in out:
            raise MigrationError(f"{path}: version {version} appears twice")
        out[version] = Migration(
            version=version,
            name=m.group(2),
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    if not out:
        raise MigrationError(f"no migrations found in {folder}")
    return [out[v] for v in sorted(out)]


def _applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if row is None or row[0] is None:
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def check(conn: psycopg.Connection[Any], migrations: list[Migration]) -> list[Migration]:
    """The pending migrations; raises when applied ones were edited or are unknown."""
    applied = _applied(conn)
    known = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(applied.items()):
        mig = known.get(version)
        if mig is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name} that this program does not "
                "know: it is newer than this program"
            )
        if mig.checksum != checksum:
            raise MigrationError(
                f"migration {mig.filename} was edited after it was applied "
                f"(database checksum {checksum[:12]}, file {mig.checksum[:12]}); "
                "add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]


def pending(conninfo: dict[str, Any], directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of migrations not yet applied (raises ``MigrationError`` like ``check``)."""
    migrations = load_migrations(directory)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        return [m.filename for m in check(conn, migrations)]


def migrate(conninfo: dict[str, Any], directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Apply every pending migration; return the names applied (empty: already up to date)."""
    migrations = load_migrations(directory)
    done: list[str] = []
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            for mig in check(conn, migrations):
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                log.info(
                    "applied migration %s",
                    mig.filename,
                    extra={"event": "migration_applied", "migration": mig.filename},
                )
                done.append(mig.filename)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done
