"""Shared fixtures: real Mosquitto, a private dbus-daemon, and (from their modules) more."""

from __future__ import annotations

from tests.fixtures.dbus import dbus_bus
from tests.fixtures.mosquitto import mosquitto, mosquitto_factory

__all__ = ["dbus_bus", "mosquitto", "mosquitto_factory"]
