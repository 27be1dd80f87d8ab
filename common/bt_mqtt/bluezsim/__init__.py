"""A BlueZ simulator: a fake org.bluez service speaking the real BlueZ D-Bus API."""

from __future__ import annotations
