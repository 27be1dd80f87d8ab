"""Local service processes on free ports: Mosquitto, dbus-daemon and a PostgreSQL cluster.

Used by ``bt-mqtt demo`` and by the test fixtures, so both start the real binaries the same way.
A missing binary raises ``MissingBinary`` with the package to install.

Every service runs in the foreground as a child of the calling process and is signalled when
that process dies (``PR_SET_PDEATHSIG``), so nothing outlives a killed test run or demo.  Each
runs as the user who starts it, writing only in folders that user owns, except PostgreSQL,
which refuses root: as root the cluster runs as the ``postgres`` user (``setpriv``, which keeps
the death signal across the change of user).
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
from collections.abc import Callable
from pathlib import Path
from typing import Final

from attrs import define, field

from bt_mqtt.core import brokerconf
from bt_mqtt.demo import scratch

SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
PR_SET_PDEATHSIG = 1


# Linux's sockaddr_un.sun_path holds 108 bytes with the terminating NUL: 107 for the path.
SUN_PATH_MAX: Final = 107
# libdbus refuses longer unix socket paths than this (its _DBUS_MAX_SUN_PATH_LENGTH, kept
# portable), with a message that does not say which path
DBUS_SUN_PATH_MAX: Final = 99
# the short socket folders of deep directories (``short_socket_dir``), under /tmp
SHORT_SOCKET_PREFIX: Final = "btm-"


class MissingBinary(RuntimeError):
    """A program the service needs is not installed; the message says what to install."""


class SocketPathTooLong(ValueError):
    """A unix socket path the kernel (or the service) cannot bind; the message names it."""


def check_socket_path(
    path: Path | str, limit: int = SUN_PATH_MAX, who: str = "a unix socket"
) -> None:
    """``SocketPathTooLong`` naming ``path`` when it is longer than ``limit`` bytes."""
    size = len(os.fsencode(str(path)))
    if size > limit:
        raise SocketPathTooLong(
            f"the socket path for {who} is {size} bytes, over the limit of {limit}: {path} "
            "(use a shorter directory, e.g. a shorter --basetemp or TMPDIR)"
        )


def short_socket_dir(wanted: Path, name: str, limit: int, who: str) -> tuple[Path, bool]:
    """The folder for socket ``name``: ``wanted`` when the path fits in ``limit`` bytes, else a
    new private folder under /tmp (second value True: the caller removes it when done).
    ``SocketPathTooLong`` naming the path when even that does not fit."""
    if len(os.fsencode(wanted / name)) <= limit:
        return wanted, False
    scratch.sweep(SHORT_SOCKET_PREFIX)
    short = scratch.make(SHORT_SOCKET_PREFIX)
    try:
        check_socket_path(short / name, limit, who)
    except SocketPathTooLong:
        shutil.rmtree(short, ignore_errors=True)
        raise
    return short, True


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


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A pre-exec hook: the child gets ``sig`` when the thread that started it goes."""

    def hook() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return hook


def spawn(
    argv: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output appended to ``log_path``; it is sent ``death_signal`` if
    the calling thread's process dies (call from the main thread: the signal follows the thread).
    """
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509 - only prctl runs there
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
        return (
            f"listener {self.port} {host}\n"
            f"cafile {self.ca_file}\ncertfile {self.cert_file}\nkeyfile {self.key_file}\n"
            f"require_certificate {str(self.require_certificate).lower()}\n"
        )


def _sets_user(conf: str) -> bool:
    return any(line.split()[:1] == ["user"] for line in conf.splitlines())


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

    def conf_text(self) -> str:
        """The mosquitto.conf it runs with: the recommended settings (``brokerconf``), then
        ``extra_conf`` (a later line overrides an earlier one)."""
        return (
            # Started as root, mosquitto would drop to the "mosquitto" user, which can neither
            # write its persistence file in our folder nor keep the death signal: it runs as
            # whoever starts it, as it does for everyone else.
            ("user root\n" if os.geteuid() == 0 and not _sets_user(self.extra_conf) else "")
            + f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            + brokerconf.conf_lines()
            + f"persistence_location {self.directory}/\n"
            "max_inflight_messages 0\n"
            "log_type error\nlog_type warning\n"
            + self.extra_conf
            + ("" if self.tls is None else "\n" + self.tls.conf(self.host))
        )

    def start(self) -> None:
        exe = find_binary("mosquitto", "mosquitto")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(self.conf_text())
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


def _accepts(path: Path) -> bool:
    """Whether a unix socket at ``path`` accepts a connection (then closed at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(os.fsencode(path))
        except OSError:
            return False
    return True


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
    # Where the socket is: ``directory`` unless that path is too long for dbus-daemon (deep
    # pytest folders), then a short private folder under /tmp removed by ``stop``.
    socket_dir: Path | None = None
    _own_socket_dir: bool = False

    @property
    def socket(self) -> Path:
        return (self.socket_dir or self.directory) / "bus"

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def start(self) -> None:
        exe = find_binary("dbus-daemon", "dbus-daemon")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket_dir is None:
            self.socket_dir, self._own_socket_dir = short_socket_dir(
                self.directory, "bus", DBUS_SUN_PATH_MAX, "dbus-daemon"
            )
        conf = self.directory / "bus.conf"
        conf.write_text(_BUS_CONFIG.format(socket=self.socket))
        self.proc = spawn(
            [exe, "--nofork", "--nopidfile", f"--config-file={conf}"], self.directory / "dbus.log"
        )
        deadline = time.monotonic() + 10
        while not _accepts(self.socket):  # the file appears at bind(), before listen()
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dbus-daemon did not start; see {self.directory}/dbus.log")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self._own_socket_dir and self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir, self._own_socket_dir = None, False


PG_USER = "postgres"
PG_PACKAGE = "postgresql"


# How PostgreSQL is asked to stop (``pg_ctl -m`` names): smart waits for clients, fast
# disconnects them, immediate aborts (crash recovery at the next start).
PG_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _server_user(argv: list[str], death_signal: int | None = None) -> list[str]:
    """PostgreSQL refuses to run as root: then run ``argv`` as the ``postgres`` user, with
    ``death_signal`` set again after the change of user (the kernel clears it there)."""
    if os.geteuid() != 0:
        return argv
    setpriv = find_binary("setpriv", "util-linux")
    death = [] if death_signal is None else [f"--pdeathsig={signal.Signals(death_signal).name}"]
    return [
        setpriv,
        f"--reuid={PG_USER}",
        f"--regid={PG_USER}",
        "--init-groups",
        "--reset-env",
        *death,
        "--",
        *argv,
    ]


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
    proc: subprocess.Popen[bytes] | None = None

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
            # nothing connects over the unix socket: none when its path would be too long
            f"unix_socket_directories = '{self._socket_directory()}'",
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

    def _socket_directory(self) -> str:
        fits = len(os.fsencode(self.directory / f".s.PGSQL.{self.port}.lock")) <= SUN_PATH_MAX
        return str(self.directory) if fits else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Run the postmaster in the foreground (it dies with us; fast shutdown) and wait until
        it accepts connections."""
        postgres = find_binary("postgres", PG_PACKAGE, postgres_bin_dirs())
        argv = _server_user([postgres, "-D", str(self.datadir)], signal.SIGINT)
        self.proc = spawn(argv, self.logfile, death_signal=signal.SIGINT)
        pidfile = self.datadir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.logfile.read_text(errors="replace")[-2000:]
                self.proc = None
                raise RuntimeError(f"postgres exited at start-up; {self.logfile}:\n{tail}")
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                # line 8 of postmaster.pid is the postmaster's status
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            if time.monotonic() > deadline:
                self.stop("immediate")
                raise TimeoutError(f"postgres was not ready within {timeout}s; see {self.logfile}")
            time.sleep(0.02)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server as ``pg_ctl stop -m mode`` would, and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(PG_STOP_SIGNALS[mode])
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGQUIT)
            proc.wait()

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
