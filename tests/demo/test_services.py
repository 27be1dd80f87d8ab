"""Local services: the unix socket path limits (the fallbacks for deep folders are in
tests/core/test_fixtures.py)."""

from __future__ import annotations

import pytest

from bt_mqtt.demo.services import (
    DBUS_SUN_PATH_MAX,
    SUN_PATH_MAX,
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
