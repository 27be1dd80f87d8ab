"""Shared fixtures: real Mosquitto, a private dbus-daemon, and (from their modules) more."""

from __future__ import annotations

from tests.fixtures.bluez import bluez_sim, bluez_sim_proc
from tests.fixtures.dbus import dbus_bus
from tests.fixtures.dbusmock import bluez_dbusmock
from tests.fixtures.homeassistant import home_assistant
from tests.fixtures.mosquitto import mosquitto, mosquitto_factory
from tests.fixtures.mqtt import mqtt_collect
from tests.fixtures.postgres import pg_cluster, pg_cluster_factory, pg_database

__all__ = [
    "bluez_dbusmock",
    "bluez_sim",
    "bluez_sim_proc",
    "dbus_bus",
    "home_assistant",
    "mosquitto",
    "mosquitto_factory",
    "mqtt_collect",
    "pg_cluster",
    "pg_cluster_factory",
    "pg_database",
]
