"""Local service processes on free ports: Mosquitto, dbus-daemon and a PostgreSQL cluster.

Used by ``bt-mqtt demo`` and by the test fixtures, so both start the real binaries the same way.
A missing binary raises ``MissingBinary`` with the package to install.  PostgreSQL refuses to
run as root: when we are root the cluster runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from attrs import define, field

SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class MissingBinary(RuntimeError):
    """A program the service needs is not installed; the message says what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """The path of ``name`` on PATH, the sbin dirs or ``extra_dirs``; else ``MissingBinary``."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS, *extra_dirs])
    found = shutil.which(name, path=path)
    if found is None:
        raise MissingBinary(
            f"{name!r} is not installed; install it with: apt-get install {package}"
        )
    return found


def postgres_bin_dirs() -> tuple[str, ...]:
    """Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/N/bin."""
    return tuple(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))


def wait_for_port(
    port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reaps the process."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent goes, so nothing is left behind."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output appended to ``log_path``; it is sent SIGTERM if the
    calling thread's process dies (call from the main thread: the signal follows the thread)."""
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl runs there
        )


@define(frozen=True)
class TlsListener:
    """A second Mosquitto listener speaking TLS with this server certificate on ``port``;
    ``require_certificate``: clients must present a certificate signed by ``ca_file``."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False
    port: int = field(factory=free_port)

    def conf(self, host: str) -> str:
        # "user root": started as root, mosquitto otherwise drops to a user that may not be able
        # to read the certificates (e.g. in a private temporary folder) and exits
        return (
            "user root\n"
            f"listener {self.port} {host}\n"
            f"cafile {self.ca_file}\ncertfile {self.cert_file}\nkeyfile {self.key_file}\n"
            f"require_certificate {str(self.require_certificate).lower()}\n"
        )


@define
class Mosquitto:
    """A broker in ``directory`` on ``port`` (persistent, so queued sessions survive restarts),
    plus a TLS listener when ``tls`` is set."""

    directory: Path
    port: int = field(factory=free_port)
    host: str = "127.0.0.1"
    extra_conf: str = ""
    proc: subprocess.Popen[bytes] | None = None
    tls: TlsListener | None = None

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    def start(self) -> None:
        exe = find_binary("mosquitto", "mosquitto")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "log_type error\nlog_type warning\n"
            + self.extra_conf
            + ("" if self.tls is None else "\n" + self.tls.conf(self.host))
        )
        self.proc = spawn([exe, "-c", str(conf)], self.log)
        wait_for_port(self.port, proc=self.proc)
        if self.tls is not None:
            wait_for_port(self.tls.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""


@define
class DBusDaemon:
    """A private message bus on a unix socket in ``directory``; ``address`` is for clients."""

    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "bus.sock"

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def start(self) -> None:
        exe = find_binary("dbus-daemon", "dbus-daemon")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "bus.conf"
        conf.write_text(_BUS_CONFIG.format(socket=self.socket))
        self.proc = spawn(
            [exe, "--nofork", "--nopidfile", f"--config-file={conf}"], self.directory / "dbus.log"
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dbus-daemon did not start; see {self.directory}/dbus.log")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


PG_USER = "postgres"
PG_PACKAGE = "postgresql"


def _server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then run ``argv`` as the ``postgres`` user."""
    if os.geteuid() != 0:
        return argv
    return [find_binary("runuser", "util-linux"), "-u", PG_USER, "--", *argv]


@define
class PostgresCluster:
    """A throw-away cluster: ``init`` once, then ``start``/``stop`` as often as needed.

    Trust authentication on 127.0.0.1 only, superuser ``postgres``.  ``durable=False`` turns
    fsync off (tests); the data directory is owned by the server user.
    """

    directory: Path
    port: int = field(factory=free_port)
    host: str = "127.0.0.1"
    durable: bool = False
    running: bool = False

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    @property
    def logfile(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@{self.host}:{self.port}/{dbname}"

    def _run(self, argv: list[str], what: str) -> None:
        res = subprocess.run(_server_user(argv), capture_output=True, text=True, check=False)
        if res.returncode != 0:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{what} failed: {res.stderr.strip()}\n{tail}")

    def init(self) -> None:
        initdb = find_binary("initdb", PG_PACKAGE, postgres_bin_dirs())
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd  # noqa: PLC0415 - only needed as root

            pw = pwd.getpwnam(PG_USER)
            os.chown(self.directory, pw.pw_uid, pw.pw_gid)
        self.directory.chmod(0o700)
        self._run(
            [
                initdb,
                "-D",
                str(self.datadir),
                "-U",
                PG_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.directory}'",
            "max_connections = 50",
            "log_min_messages = warning",
        ]
        if self.durable:  # set up for write-heavy work, as a deployment would be
            settings += ["shared_buffers = 256MB", "max_wal_size = 4GB", "wal_compression = on"]
            settings += ["checkpoint_timeout = 15min"]
        else:
            settings += ["shared_buffers = 64MB", "fsync = off", "synchronous_commit = off"]
            settings += ["full_page_writes = off"]
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
            fh.write("\n".join(settings) + "\n")

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = find_binary("pg_ctl", PG_PACKAGE, postgres_bin_dirs())
        self._run([pg_ctl, "-D", str(self.datadir), *args], f"pg_ctl {args[-1]}")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.logfile), "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def destroy(self) -> None:
        """Stop the server at once and delete the cluster's folder."""
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg  # noqa: PLC0415 - the subscriber's dependency, loaded on demand

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
