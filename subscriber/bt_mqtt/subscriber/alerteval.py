"""One alert evaluator's memory and its pure step: facts and the time in, transitions out.

``AlertEngine`` (in ``alertservice``) reads the facts from the database and records what this
returns; the simulation tests feed it facts computed in memory.  Advertising intervals are
re-estimated every ``INTERVALS_EVERY_S`` (``intervals_due`` says when); during the first
``startup_grace_s`` no silence-type alert fires (a backlog may still be arriving).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from bt_mqtt.subscriber.alertconfig import AlertsConfig
from bt_mqtt.subscriber.alertcore import Lifecycle, Transition
from bt_mqtt.subscriber.alertrules import DeviceFacts, Rules, ScannerFacts

INTERVALS_EVERY_S: Final = 600.0


class Evaluator:
    """Rules plus lifecycle, for one evaluating process started at ``started``."""

    def __init__(self, cfg: AlertsConfig, started: datetime) -> None:
        self.cfg = cfg
        self.started = started
        self.rules = Rules(cfg)
        self.lifecycle = Lifecycle()
        self._next_intervals: datetime | None = None

    def intervals_due(self, now: datetime) -> bool:
        """Whether to re-estimate advertising intervals now (then marked as done)."""
        if not self.cfg.sensor_silent.enabled:
            return False
        if self._next_intervals is not None and now < self._next_intervals:
            return False
        self._next_intervals = now + timedelta(seconds=INTERVALS_EVERY_S)
        return True

    def judge(
        self, scanners: list[ScannerFacts], devices: list[DeviceFacts], now: datetime
    ) -> list[Transition]:
        """Run every rule on the facts and step the lifecycle; the alerts that fired or
        resolved now."""
        grace = (now - self.started).total_seconds() < self.cfg.startup_grace_s
        firing = set(self.lifecycle.firing())
        checks = self.rules.checks(scanners, devices, now, firing, grace=grace)
        return self.lifecycle.step(checks, now)
