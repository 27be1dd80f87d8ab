"""The `bt-mqtt` command: decode, demo."""

from __future__ import annotations
