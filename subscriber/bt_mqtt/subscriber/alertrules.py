"""The alert rules, pure: facts about scanners and devices in, one ``Check`` per subject out.

The facts come from the database (``alertfacts``); the rules remember only what the database
cannot tell them cheaply (each sensor's advertising interval once estimated, each device's last
battery level, which the shell saves in ``alert_battery``).  A silent sensor fires at the last
evaluation (every ``interval_s``) before its limit, so it is alerted within the limit.
Baselines are medians of 5-minute activity buckets: the same UTC hour on up to the 7 previous
days when there are at least ``MIN_BUCKETS`` of them, otherwise the complete buckets of the last
3 hours, otherwise none (the scanner is still being learnt: no ``scanner_degraded`` check).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Final

from attrs import define, field

from bt_mqtt.subscriber.alertconfig import AlertsConfig, ThresholdRule
from bt_mqtt.subscriber.alertcore import Check, Key

BUCKET_S: Final = 300  # the activity bucket, and the degraded rule's window
MIN_BUCKETS: Final = 6
HISTORY_DAYS: Final = 7
RECENT_S: Final = 3 * 3600
BATTERY: Final = "battery_pct"


@define(frozen=True)
class Bucket:
    """Adverts and distinct devices one scanner heard in the 5 minutes from ``start``."""

    start: datetime
    adverts: int
    devices: int


@define(frozen=True)
class Baseline:
    adverts: float  # per BUCKET_S
    devices: float
    source: str  # "same_hour" | "recent"


@define(frozen=True)
class ScannerFacts:
    """One scanner now: its row, its last ``BUCKET_S`` of adverts, seq accounting over the
    loss window, and its activity history."""

    scanner_id: str
    status: str
    status_since: datetime | None
    last_advert_at: datetime | None
    clock_skew: bool
    adverts: int = 0
    devices: int = 0
    published: int = 0
    arrived: int = 0
    history: tuple[Bucket, ...] = ()


@define(frozen=True)
class DeviceFacts:
    """One decoded device now; ``last_heard`` is server time, ``interval_s`` a fresh estimate
    of its advertising interval (None: not estimated this time)."""

    mac: str
    name: str | None
    last_heard: datetime
    last_scanner_id: str | None
    readings: dict[str, float]
    interval_s: float | None = None


def baseline(history: tuple[Bucket, ...] | list[Bucket], now: datetime) -> Baseline | None:
    """The scanner's expected activity per bucket at ``now`` (see the module docstring)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    oldest = day_start - timedelta(days=HISTORY_DAYS)
    same = [b for b in history if oldest <= b.start < day_start and b.start.hour == now.hour]
    if len(same) >= MIN_BUCKETS:
        return Baseline(
            median(b.adverts for b in same), median(b.devices for b in same), "same_hour"
        )
    lo = now - timedelta(seconds=RECENT_S)
    done = now - timedelta(seconds=BUCKET_S)
    recent = [b for b in history if lo <= b.start <= done]
    if len(recent) >= MIN_BUCKETS:
        return Baseline(
            median(b.adverts for b in recent), median(b.devices for b in recent), "recent"
        )
    return None


def _ago(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@define
class Rules:
    """Evaluates every configured rule; holds the little memory the rules need."""

    cfg: AlertsConfig
    intervals: dict[str, float] = field(factory=dict)  # mac -> advertising interval (s)
    battery: dict[str, float] = field(factory=dict)  # mac -> last battery_pct
    replaced_at: dict[str, datetime] = field(factory=dict)

    def checks(
        self,
        scanners: list[ScannerFacts],
        devices: list[DeviceFacts],
        now: datetime,
        firing: set[Key],
        *,
        grace: bool = False,
    ) -> list[Check]:
        """Every rule's checks now.  ``firing``: the keys firing before this evaluation;
        ``grace``: just started (the backlog may still be arriving), so no silence checks."""
        out: list[Check] = []
        down: set[str] = set()
        for s in scanners:
            out += self._scanner(s, now, firing, grace)
            if s.status == "offline" or any(
                (k, s.scanner_id) in firing for k in ("scanner_offline", "scanner_degraded")
            ):
                down.add(s.scanner_id)
        for d in devices:
            out += self._device(d, now, firing, grace, down)
        return out

    # -- scanners --------------------------------------------------------------------------

    def _scanner(
        self, s: ScannerFacts, now: datetime, firing: set[Key], grace: bool
    ) -> list[Check]:
        out: list[Check] = []
        sid = s.scanner_id
        r = self.cfg.scanner_offline
        if r.enabled:
            gone = (
                (now - s.status_since).total_seconds()
                if s.status == "offline" and s.status_since is not None
                else 0.0
            )
            # once firing, any offline time keeps it firing (a flapping scanner fires once)
            was = ("scanner_offline", sid) in firing
            active = s.status == "offline" and (gone >= r.after_s or was)
            out.append(
                Check(
                    "scanner_offline",
                    sid,
                    active,
                    f"scanner {sid} offline for {_ago(gone)}" if active else f"scanner {sid} back",
                    round(gone, 1),
                    clear_s=r.clear_s,
                )
            )
        c = self._degraded(s, now, grace)
        if c is not None:
            out.append(c)
        k = self.cfg.scanner_clock_skew
        if k.enabled:
            out.append(
                Check(
                    "scanner_clock_skew",
                    sid,
                    s.clock_skew,
                    f"scanner {sid} clock is off (adverts stamped far from arrival time)"
                    if s.clock_skew
                    else f"scanner {sid} clock agrees again",
                    for_s=k.for_s,
                    clear_s=k.clear_s,
                )
            )
        t = self.cfg.transit_loss
        if t.enabled:
            loss = 1 - s.arrived / s.published if s.published else 0.0
            active = s.published >= t.min_published and loss > t.max_ratio
            out.append(
                Check(
                    "transit_loss",
                    sid,
                    active,
                    f"scanner {sid}: {loss:.0%} of {s.published} adverts lost in transit"
                    if active
                    else f"scanner {sid}: transit loss {loss:.0%}",
                    round(loss, 4),
                    for_s=t.for_s,
                    clear_s=t.clear_s,
                    detail={"published": s.published, "arrived": s.arrived},
                )
            )
        return out

    def _degraded(self, s: ScannerFacts, now: datetime, grace: bool) -> Check | None:
        r = self.cfg.scanner_degraded
        sid = s.scanner_id
        if not r.enabled or s.clock_skew or grace:
            return None  # a skewed clock misplaces adverts in time: the skew alert says so
        if s.status == "offline":
            return Check("scanner_degraded", sid, False, f"scanner {sid} offline", clear_s=0.0)
        base = baseline(s.history, now)
        if base is None:
            return None
        detail = {
            "adverts": s.adverts,
            "devices": s.devices,
            "baseline_adverts": base.adverts,
            "baseline_devices": base.devices,
            "baseline": base.source,
        }
        quiet = (now - s.last_advert_at).total_seconds() if s.last_advert_at else None
        expected = base.adverts / BUCKET_S * r.silent_after_s
        if quiet is not None and quiet >= r.silent_after_s and expected >= r.min_expected_adverts:
            msg = (
                f"scanner {sid} hears nothing for {_ago(quiet)} "
                f"(usually {base.adverts:.0f} adverts per 5 min)"
            )
            return Check("scanner_degraded", sid, True, msg, 0.0, 0.0, r.clear_s, detail)
        few_devices = base.devices >= r.min_devices and s.devices <= r.ratio * base.devices
        few_adverts = base.adverts >= r.min_expected_adverts and s.adverts <= r.ratio * base.adverts
        if few_devices or few_adverts:
            msg = (
                f"scanner {sid} hears {s.devices} devices and {s.adverts} adverts in 5 min "
                f"(usually {base.devices:.0f} and {base.adverts:.0f})"
            )
            value = s.devices / base.devices if base.devices else 0.0
            return Check(
                "scanner_degraded", sid, True, msg, round(value, 3), r.for_s, r.clear_s, detail
            )
        return Check(
            "scanner_degraded",
            sid,
            False,
            f"scanner {sid} hears as usual",
            clear_s=r.clear_s,
            detail=detail,
        )

    # -- devices ---------------------------------------------------------------------------

    def _device(
        self, d: DeviceFacts, now: datetime, firing: set[Key], grace: bool, down: set[str]
    ) -> list[Check]:
        out: list[Check] = []
        label = d.name or d.mac
        c = self._silent(d, label, now, firing, grace, down)
        if c is not None:
            out.append(c)
        b = self.cfg.battery
        level = d.readings.get(BATTERY)
        if b.enabled and level is not None:
            was_low = ("battery_low", d.mac) in firing
            limit = b.low_pct + (b.hysteresis_pct if was_low else 0.0)
            low = level < limit
            out.append(
                Check(
                    "battery_low",
                    d.mac,
                    low,
                    f"{label}: battery at {level:.0f} %",
                    level,
                    for_s=b.for_s,
                )
            )
            before = self.battery.get(d.mac)
            if before is not None and level - before >= b.replaced_jump_pct:
                self.replaced_at[d.mac] = now
            self.battery[d.mac] = level
            at = self.replaced_at.get(d.mac)
            if at is not None or ("battery_replaced", d.mac) in firing:
                fresh = at is not None and (now - at).total_seconds() < b.replaced_hold_s
                if not fresh:
                    self.replaced_at.pop(d.mac, None)
                out.append(
                    Check(
                        "battery_replaced",
                        d.mac,
                        fresh,
                        f"{label}: battery replaced (now {level:.0f} %)",
                        level,
                    )
                )
        for rule in self.cfg.thresholds:
            c = _threshold(rule, d, label, firing)
            if c is not None:
                out.append(c)
        return out

    def _silent(
        self,
        d: DeviceFacts,
        label: str,
        now: datetime,
        firing: set[Key],
        grace: bool,
        down: set[str],
    ) -> Check | None:
        r = self.cfg.sensor_silent
        if not r.enabled:
            return None
        if d.interval_s is not None:
            self.intervals[d.mac] = d.interval_s
        interval = self.intervals.get(d.mac)
        key = ("sensor_silent", d.mac)
        if interval is None and key not in firing:
            return None  # not watched: too few adverts to know its interval
        silent = (now - d.last_heard).total_seconds()
        limit = max(r.factor * interval, r.min_s) if interval is not None else r.min_s
        # fire at the last evaluation before the limit: the next one (``interval_s`` later)
        # would already be past it, and the promise is "alerted within the limit"
        active = silent + self.cfg.interval_s > limit
        if active and key not in firing and (grace or d.last_scanner_id in down):
            return None  # explained (scanner down) or not yet known (backlog still arriving)
        every = f" (usually every {interval:.0f} s)" if interval is not None else ""
        return Check(
            "sensor_silent",
            d.mac,
            active,
            f"{label} not heard for {_ago(silent)}{every}" if active else f"{label} heard again",
            round(silent, 1),
            clear_s=r.clear_s,
            detail={
                "interval_s": interval,
                "limit_s": limit,
                "last_heard": d.last_heard.isoformat(),
            },
        )


def _threshold(rule: ThresholdRule, d: DeviceFacts, label: str, firing: set[Key]) -> Check | None:
    if rule.devices and d.mac not in {m.upper() for m in rule.devices}:
        return None
    value = d.readings.get(rule.metric)
    if value is None:
        return None
    was = (rule.name, d.mac) in firing
    if rule.direction == "above":
        limit = rule.value - (rule.hysteresis if was else 0.0)
        active = value > limit
        word = "above"
    else:
        limit = rule.value + (rule.hysteresis if was else 0.0)
        active = value < limit
        word = "below"
    return Check(
        rule.name,
        d.mac,
        active,
        f"{label}: {rule.metric} {value:g} {word} {rule.value:g}"
        if active
        else f"{label}: {rule.metric} {value:g} back",
        value,
        for_s=rule.for_s,
        detail={"metric": rule.metric, "limit": rule.value, "direction": rule.direction},
    )
