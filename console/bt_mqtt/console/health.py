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
from bt_mqtt.console.safe import brief
from bt_mqtt.console.state import ConsoleState, ScannerState

log = logging.getLogger(__name__)


@define(frozen=True)
class Thresholds:
    """When a scanner counts as silent (no adverts) or its heartbeat as stale."""

    silent_after_s: float = 120.0
    stale_heartbeats: float = 3.0
    default_interval_s: float = 60.0


def _num(obj: dict[str, Any] | None, *path: str) -> float | None:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    if not isinstance(cur, int | float) or isinstance(cur, bool):
        return None
    try:
        value = float(cur)
    except OverflowError:  # an integer beyond any float
        return None
    return value if math.isfinite(value) else None


def scanner_health(sc: ScannerState, now: float, th: Thresholds) -> tuple[str, float | None]:
    """(``online`` | ``offline`` | ``stale`` | ``silent`` | ``no status``, heartbeat age)."""
    st = sc.status
    hb_at = sc.status_time if sc.status_time is not None else sc.status_at
    hb_age = None if hb_at is None else max(0.0, now - hb_at)
    if st is None:
        return "no status", None
    if st.get("status") == "offline":
        return "offline", hb_age
    interval = _num(st, "interval_s") or th.default_interval_s
    if hb_age is not None and hb_age > th.stale_heartbeats * interval:
        return "stale", hb_age
    advert_age = None if sc.last_advert_at is None else now - sc.last_advert_at
    reported = _num(st, "last_advert_age_s")
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
        st = sc.status
        counters = st.get("counters") if st else None
        drops = sum(
            int(v)
            for k, v in (counters or {}).items()
            if (k.startswith("dropped") or k == "bluez_errors") and isinstance(v, int)
        )
        adapter = st.get("adapter") if st else None
        if isinstance(adapter, dict):
            flags = ("" if adapter.get("powered", True) else " off") + (
                "" if adapter.get("discovering", True) else " idle"
            )
            name = _word(adapter.get("name", "?"))
            adapter_txt = f"{name} {_word(adapter.get('scan_mode', ''))}{flags}"
        else:
            adapter_txt = "-"
        rates = st.get("rates") if st else None
        recv = _num(rates, "received_per_s") if isinstance(rates, dict) else None
        pub = _num(rates, "published_per_s") if isinstance(rates, dict) else None
        recv = recv if recv is not None else _num(st, "received_per_s")
        pub = pub if pub is not None else _num(st, "published_per_s")
        rows.append(
            Row(
                sid,
                (
                    sid,
                    health,
                    fmt_age(hb_age),
                    _fmt_num(recv),
                    _fmt_num(pub),
                    fmt_rate(sc.rate.per_s(now)),
                    str(drops) if counters else "-",
                    str(lost[sid]) if lost is not None and sid in lost else "-",
                    adapter_txt.strip(),
                    _fmt_num(_num(st, "cpu_pct")),
                    _fmt_num(_num(st, "rss_mb"), 0),
                ),
                "" if health == "online" else health.replace(" ", "-"),
            )
        )
    return rows


def _word(value: Any) -> str:
    """A heartbeat value for a table cell: strings as they are (the table cleans them), any
    other JSON value briefly."""
    return value if isinstance(value, str) else brief(value, 40)


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
