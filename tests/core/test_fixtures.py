"""The shared service fixtures start real services that clients can use."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from bt_mqtt.demo import services
from bt_mqtt.demo.services import DBUS_MAX_SOCKET_PATH, DBusDaemon, PostgresCluster
from tests.fixtures.dbus import PrivateBus
from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import require_binary


def test_mosquitto_accepts_mqtt_connect(mosquitto: Broker) -> None:
    with socket.create_connection((mosquitto.host, mosquitto.port), timeout=5) as s:
        # MQTT 3.1.1 CONNECT, clean session, keepalive 10, client id "t"
        s.sendall(bytes.fromhex("100d00044d5154540402000a000174"))
        assert s.recv(4) == bytes.fromhex("20020000")  # CONNACK, accepted


def test_mosquitto_restart_keeps_port(mosquitto: Broker) -> None:
    port = mosquitto.port
    mosquitto.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    mosquitto.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_mosquitto_persists_across_a_restart(mosquitto: Broker) -> None:
    # As root mosquitto used to drop to its own user, which could not write in our folder: the
    # retained message and every queued session were silently lost at each restart.
    pub = require_binary("mosquitto_pub", "mosquitto-clients")
    sub = require_binary("mosquitto_sub", "mosquitto-clients")
    where = ["-h", mosquitto.host, "-p", str(mosquitto.port)]
    subprocess.run([pub, *where, "-q", "1", "-r", "-t", "keep/me", "-m", "hi"], check=True)
    mosquitto.stop()
    assert (mosquitto.directory / "mosquitto.db").exists(), mosquitto.log.read_text()
    assert "denied" not in mosquitto.log.read_text().lower()
    mosquitto.start()
    got = subprocess.run(
        [sub, *where, "-t", "keep/me", "-C", "1", "-W", "10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert got.stdout.strip() == "hi", got.stderr


def test_private_bus_answers_hello(dbus_bus: PrivateBus) -> None:
    async def go() -> list[str]:
        bus = await MessageBus(bus_address=dbus_bus.address, bus_type=BusType.SESSION).connect()
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="ListNames",
            )
        )
        bus.disconnect()
        assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
        names: list[str] = reply.body[0]
        return names

    assert "org.freedesktop.DBus" in asyncio.run(go())


def test_bus_in_a_folder_too_deep_for_a_socket_still_starts(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # dbus-daemon refuses socket paths over 99 bytes
    bus = DBusDaemon(deep)
    bus.start()
    try:
        assert len(str(deep / "bus.sock")) > DBUS_MAX_SOCKET_PATH
        assert len(str(bus.socket)) <= DBUS_MAX_SOCKET_PATH
        assert bus.socket.exists()
        short = bus.socket.parent

        async def hello() -> str:
            conn = await MessageBus(bus_address=bus.address, bus_type=BusType.SESSION).connect()
            name = conn.unique_name
            conn.disconnect()
            return name or ""

        assert asyncio.run(hello()).startswith(":")
    finally:
        bus.stop()
    assert not short.exists()  # the short folder goes with the bus


def test_no_short_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_tmp = tmp_path / ("t" * 100)
    long_tmp.mkdir()
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: str(long_tmp))
    with pytest.raises(services.SocketPathTooLong, match=r"socket path .*bus\.sock is 1\d\d bytes"):
        services.short_socket_dir(tmp_path / ("x" * 100), "bus.sock", DBUS_MAX_SOCKET_PATH)
    assert not long_tmp.exists()


def test_postgres_in_a_deep_folder_starts_without_a_unix_socket() -> None:
    top = Path(tempfile.mkdtemp(prefix="bt-mqtt-pg-"))  # as root: a folder postgres can enter
    os.chmod(top, 0o755)
    cluster = PostgresCluster(top / ("p" * 90))
    cluster.init()
    cluster.start()
    try:
        with socket.create_connection((cluster.host, cluster.port), timeout=5):
            pass
        assert not list(cluster.directory.glob(".s.PGSQL.*"))
    finally:
        cluster.destroy()
        shutil.rmtree(top, ignore_errors=True)
