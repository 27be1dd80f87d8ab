"""The scanner agent: BLE advertisements from BlueZ (or bleak, or a replay file) to MQTT."""

from __future__ import annotations
