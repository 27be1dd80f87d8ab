"""No false alert over 24 simulated hours of the demo's devices (5 % of packets missed).

The demo scenario's event stream (its devices, intervals, coverage and its 5 % of missed
packets) goes through the agent's own dedup (default window and max interval), so what arrives
is what a subscriber would see; decoded devices carry their decoded readings.  The default
rules are evaluated every 10 s of simulated time.  The only alerts allowed are true ones: a
demo device whose battery really is below the limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bt_mqtt.agent.dedup import Dedup, content_of
from bt_mqtt.demo.scenario import DEMO_BINDKEY, DEMO_BINDKEY_MAC, SCANNERS, build_devices, events
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.alertconfig import AlertsConfig
from bt_mqtt.subscriber.alertcore import FIRING
from bt_mqtt.subscriber.alerteval import Evaluator
from tests.subscriber.alertsim import World

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
HOURS = 24


@pytest.mark.slow
def test_no_false_alert_in_24_simulated_hours() -> None:
    devices = build_devices()
    registry = Registry.default(plugins=True, theengs=False)
    world = World(T0, list(SCANNERS))
    cfg = AlertsConfig()
    ev = Evaluator(cfg, T0)
    dedup = {s: Dedup(10.0, 300.0, 10000) for s in SCANNERS}
    ctx = ParseContext(bindkeys={DEMO_BINDKEY_MAC: DEMO_BINDKEY})
    readings: dict[str, dict[str, float]] = {}  # mac -> decoded readings, merged
    tries: dict[str, int] = {}
    transitions = []
    next_eval = 10.0
    end = HOURS * 3600.0
    arrived = 0
    for e in events(devices, seed=11):
        while e.t >= next_eval:
            now = T0 + timedelta(seconds=next_eval)
            transitions += world.evaluate(ev, now)
            next_eval += 10.0
        if e.t >= end:
            break
        a = e.advert
        if not dedup[e.scanner_id].offer(a.mac, content_of(a), e.t):
            continue
        n = tries.get(a.mac, 0)
        if n < 20:  # decode a device's first adverts (readings merged, as devices.last_readings)
            tries[a.mac] = n + 1
            res = registry.parse(a, ctx)
            if res is not None and res.readings:
                readings.setdefault(a.mac, {}).update(res.readings)
        world.advert(T0 + timedelta(seconds=e.t), e.scanner_id, a.mac, readings=readings.get(a.mac))
        arrived += 1
    low = {m for m, r in readings.items() if r and r.get("battery_pct", 100) < cfg.battery.low_pct}
    false = [
        t
        for t in transitions
        if t.state == FIRING and not (t.kind == "battery_low" and t.subject in low)
    ]
    assert arrived > 100_000
    assert len(readings) >= 20  # the sensors are watched
    assert len(ev.rules.intervals) >= 20
    assert false == []
