"""Shared formatting for the console's tables: the ``Row`` type and compact numbers."""

from __future__ import annotations

import logging
import math

from attrs import define

from bt_mqtt.core import bluetooth

log = logging.getLogger(__name__)


@define(frozen=True)
class Row:
    key: str
    cells: tuple[str, ...]
    cls: str = ""


def fmt_age(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0.0, seconds)
    if s < 1:
        return "now"
    if s < 100:
        return f"{int(s)}s"
    if s < 6000:
        return f"{int(s // 60)}m"
    if s < 172800:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def fmt_rate(per_s: float) -> str:
    if per_s <= 0:
        return "0"
    if per_s < 10:
        return f"{per_s:.1f}"
    return f"{per_s:.0f}"


def fmt_value(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}" if value != int(value) or abs(value) >= 1e6 else str(int(value))


def short_uuid(uuid: str) -> str:
    """``0000fcd2-0000-1000-8000-00805f9b34fb`` -> ``0xFCD2``; other UUIDs unchanged."""
    short = bluetooth.short_uuid(uuid)
    return uuid if short is None else f"0x{short:04X}"
