"""Scanner health from heartbeats (pure): the state words, the Scanners table rows, details.

Heartbeats come from agents of any version, so every field is optional and odd types are
ignored rather than trusted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from attrs import define
from rich.text import Text

from bt_mqtt.console import safe
from bt_mqtt.console.fmt import Row, fmt_age, fmt_rate
from bt_mqtt.console.state import ConsoleState, ScannerState
from bt_mqtt.core.status import OFFLINE, Figures

log = logging.getLogger(__name__)


@define(frozen=True)
class Thresholds:
    """When a scanner counts as silent (no adverts) or its heartbeat as stale."""

    silent_after_s: float = 120.0
    stale_heartbeats: float = 3.0
    default_interval_s: float = 60.0


def scanner_health(sc: ScannerState, now: float, th: Thresholds) -> tuple[str, float | None]:
    """(``online`` | ``offline`` | ``stale`` | ``silent`` | ``no status``, heartbeat age)."""
    st = sc.heartbeat
    hb_at = sc.status_time if sc.status_time is not None else sc.status_at
    hb_age = None if hb_at is None else max(0.0, now - hb_at)
    if st is None:
        return "no status", None
    if st.status == OFFLINE:
        return "offline", hb_age
    figures = st.figures or Figures()
    interval = figures.interval_s
    if interval is None or not math.isfinite(interval):
        interval = th.default_interval_s
    if hb_age is not None and hb_age > th.stale_heartbeats * interval:
        return "stale", hb_age
    advert_age = None if sc.last_advert_at is None else now - sc.last_advert_at
    reported = figures.last_advert_age_s
    if reported is not None and hb_age is not None:
        reported += hb_age
        advert_age = reported if advert_age is None else min(advert_age, reported)
    if advert_age is not None and advert_age > th.silent_after_s:
        return "silent", hb_age
    return "online", hb_age


SCANNER_COLUMNS: Final = (
    "Scanner", "State", "HB age", "Recv/s", "Pub/s", "Seen/s", "Drops", "Lost", "Adapter",
    "CPU%", "MB",
)  # fmt: skip


def _fmt_num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def scanner_rows(
    state: ConsoleState, now: float, th: Thresholds, lost: Mapping[str, int] | None = None
) -> list[Row]:
    """One row per scanner.  ``lost``: adverts each scanner published that never reached the
    database (the subscriber's ``scanner_loss`` view); "-" without a database."""
    rows = []
    for sid in sorted(state.scanners):
        sc = state.scanners[sid]
        health, hb_age = scanner_health(sc, now, th)
        figures = (sc.heartbeat.figures if sc.heartbeat else None) or Figures()
        drops = figures.drops()
        adapter = figures.adapter
        if adapter is not None:
            flags = ("" if adapter.powered is not False else " off") + (
                "" if adapter.discovering is not False else " idle"
            )
            name = adapter.name if adapter.name is not None else "?"
            adapter_txt = f"{name} {adapter.scan_mode or ''}{flags}"
        else:
            adapter_txt = "-"
        rows.append(
            Row(
                sid,
                (
                    sid,
                    health,
                    fmt_age(hb_age),
                    _fmt_num(figures.received_per_s),
                    _fmt_num(figures.published_per_s),
                    fmt_rate(sc.rate.per_s(now)),
                    "-" if drops is None else str(drops),
                    str(lost[sid]) if lost is not None and sid in lost else "-",
                    adapter_txt.strip(),
                    _fmt_num(figures.cpu_pct),
                    _fmt_num(figures.rss_mb, 0),
                ),
                "" if health == "online" else health.replace(" ", "-"),
            )
        )
    return rows


def _flatten(status: dict[str, Any], max_depth: int = 4) -> list[tuple[str, str]]:
    """``key.sub=value`` pairs of a heartbeat, iteratively; deeper values are shown briefly."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, int]] = [("", status, 0)]
    while stack:
        prefix, value, depth = stack.pop()
        if isinstance(value, dict) and value and depth < max_depth:
            for k, v in reversed(list(value.items())):
                stack.append((f"{prefix}.{k}" if prefix else str(k), v, depth + 1))
        else:
            out.append((prefix, safe.value(value)))
    return out


def scanner_detail(sc: ScannerState | None) -> Text:
    """The selected scanner's last heartbeat, flattened to ``key=value`` pairs.  Keys, values
    and the scanner id come from outside: cleaned, and never parsed as markup."""
    if sc is None:
        return Text()
    if sc.status is None:
        return safe.text(f"{sc.scanner_id}: no heartbeat received (adverts seen: {sc.adverts})")
    out = safe.assemble((sc.scanner_id, "bold"), "  ")
    for i, (key, value) in enumerate(_flatten(sc.status)):
        out.append_text(
            safe.assemble("  " if i else "", key, "=", (safe.clean(value, 200), "bold"))
        )
    return out
