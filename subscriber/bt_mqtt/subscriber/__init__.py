"""The subscriber: MQTT to PostgreSQL (archive, parse, readings, devices, scanners)."""

from __future__ import annotations
