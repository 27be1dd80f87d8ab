"""Local services: socket paths that cannot be bound fail early, naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bt_mqtt.demo.services import (
    DBUS_SUN_PATH_MAX,
    SUN_PATH_MAX,
    DBusDaemon,
    PostgresCluster,
    SocketPathTooLong,
    check_socket_path,
)


def test_the_limits_are_the_kernels_and_libdbus() -> None:
    check_socket_path("/" + "a" * (SUN_PATH_MAX - 1))  # 107 bytes: sun_path's 108 with the NUL
    with pytest.raises(SocketPathTooLong, match=f"108 bytes, over the limit of {SUN_PATH_MAX}"):
        check_socket_path("/" + "a" * SUN_PATH_MAX)
    check_socket_path("/" + "a" * (DBUS_SUN_PATH_MAX - 1), DBUS_SUN_PATH_MAX)
    with pytest.raises(SocketPathTooLong):
        check_socket_path("/" + "a" * DBUS_SUN_PATH_MAX, DBUS_SUN_PATH_MAX)
    with pytest.raises(SocketPathTooLong):  # bytes count, not characters
        check_socket_path("/" + "é" * 60)


def test_a_bus_too_deep_fails_naming_its_path_before_dbus_daemon_runs(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * (DBUS_SUN_PATH_MAX - len(str(tmp_path))))
    bus = DBusDaemon(deep)
    with pytest.raises(SocketPathTooLong, match="for dbus-daemon") as info:
        bus.start()
    assert str(bus.socket) in str(info.value)
    assert bus.proc is None and not deep.exists()  # nothing was started or created


def test_a_cluster_too_deep_fails_naming_its_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("p" * (SUN_PATH_MAX - len(str(tmp_path))))
    cluster = PostgresCluster(deep, port=5432)
    with pytest.raises(SocketPathTooLong, match="for PostgreSQL") as info:
        cluster.init()
    assert f"{deep}/.s.PGSQL.5432" in str(info.value)
    assert not deep.exists()
