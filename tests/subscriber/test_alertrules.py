"""The alert rules against a simulated world with a driven clock: the issue's numbers (a deaf
scanner within 2 minutes, half its devices within 10, a silent sensor within
max(3 x interval, 5 min)), battery, thresholds with hysteresis, loss, skew, grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from bt_mqtt.subscriber.alertconfig import AlertsConfig, ThresholdRule
from bt_mqtt.subscriber.alertcore import FIRING, RESOLVED
from bt_mqtt.subscriber.alerteval import Evaluator
from bt_mqtt.subscriber.alertrules import Bucket, baseline
from tests.subscriber.alertsim import Dev, Driver, World

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
WARM = 3600.0  # an hour of normal traffic first: baselines learnt, grace over


def mac(i: int) -> str:
    return f"A4:C1:38:00:00:{i:02X}"


def setup(
    devs: list[Dev],
    cfg: AlertsConfig | None = None,
    scanners: tuple[str, ...] = ("garden", "kitchen"),
) -> Driver:
    world = World(T0, list(scanners))
    return Driver(world, Evaluator(cfg or AlertsConfig(), T0), devs)


def fired(events: list, kind: str, subject: str | None = None) -> list[float]:  # type: ignore[type-arg]
    return [
        t
        for t, tr in events
        if tr.state == FIRING and tr.kind == kind and (subject is None or tr.subject == subject)
    ]


def room(n: int = 20, interval: float = 5.0) -> list[Dev]:
    """n sensors heard by both scanners, readings attached."""
    return [
        Dev(mac(i), interval, ("garden", "kitchen"), {"temperature_c": 20.0}, phase=i * 0.2)
        for i in range(n)
    ]


def test_warm_up_is_quiet() -> None:
    d = setup(room())
    assert d.run_until(WARM) == []


def test_deaf_scanner_alerted_within_two_minutes() -> None:
    d = setup(room())
    d.run_until(WARM)
    d.mute.add(("garden", "*"))  # heartbeats go on: status stays online
    events = d.run_until(WARM + 900)
    when = fired(events, "scanner_degraded", "garden")
    assert len(when) == 1
    assert when[0] - WARM <= 120
    assert fired(events, "scanner_degraded", "kitchen") == []
    assert fired(events, "sensor_silent") == []  # every device is still heard by the kitchen


def test_devices_only_behind_a_deaf_scanner_are_not_a_storm() -> None:
    devs = room() + [Dev(mac(100 + i), 5.0, ("garden",), {"humidity_pct": 50.0}) for i in range(5)]
    d = setup(devs)
    d.run_until(WARM)
    d.mute.add(("garden", "*"))
    events = d.run_until(WARM + 1800)
    assert len(fired(events, "scanner_degraded", "garden")) == 1
    assert fired(events, "sensor_silent") == []  # explained by the scanner's alert


def test_half_the_devices_gone_alerted_within_ten_minutes() -> None:
    d = setup(room(20))
    d.run_until(WARM)
    for i in range(10):
        d.mute.add(("garden", mac(i)))
    events = d.run_until(WARM + 1200)
    when = fired(events, "scanner_degraded", "garden")
    assert len(when) == 1
    assert when[0] - WARM <= 600
    assert fired(events, "scanner_degraded", "kitchen") == []


def test_a_third_of_the_devices_gone_is_not_degraded() -> None:
    d = setup(room(21))
    d.run_until(WARM)
    for i in range(7):
        d.mute.add(("garden", mac(i)))
    assert fired(d.run_until(WARM + 1800), "scanner_degraded") == []


def test_degraded_resolves_when_the_scanner_hears_again() -> None:
    d = setup(room())
    d.run_until(WARM)
    d.mute.add(("garden", "*"))
    d.run_until(WARM + 600)
    d.mute.clear()
    events = d.run_until(WARM + 1800)
    resolved = [t for t, tr in events if tr.state == RESOLVED and tr.kind == "scanner_degraded"]
    assert len(resolved) == 1
    assert fired(events, "scanner_degraded") == []


def test_offline_scanner_after_configured_minutes_once() -> None:
    d = setup(room())
    d.run_until(WARM)
    d.world.set_status("garden", "offline", d.start + timedelta(seconds=WARM))
    d.mute.add(("garden", "*"))
    events = d.run_until(WARM + 1200)
    when = fired(events, "scanner_offline", "garden")
    assert len(when) == 1
    assert 300 <= when[0] - WARM <= 310
    d.world.set_status("garden", "online", d.start + timedelta(seconds=WARM + 1200))
    d.mute.clear()
    events = d.run_until(WARM + 1500)
    assert [tr.kind for _, tr in events if tr.state == RESOLVED] == ["scanner_offline"]


def test_flapping_scanner_fires_once() -> None:
    d = setup(room())
    d.run_until(WARM)
    events = []
    for k in range(6):  # offline 6 min, online 1 min, six times
        base = WARM + k * 420
        d.world.set_status("garden", "offline", d.start + timedelta(seconds=base))
        events += d.run_until(base + 360)
        d.world.set_status("garden", "online", d.start + timedelta(seconds=base + 360))
        events += d.run_until(base + 420)
    assert len(fired(events, "scanner_offline", "garden")) == 1


def test_sensor_silent_within_max_of_three_intervals_and_five_minutes() -> None:
    fast = Dev(mac(201), 2.0, ("garden", "kitchen"), {"temperature_c": 4.0})
    slow = Dev(mac(202), 150.0, ("garden", "kitchen"), {"temperature_c": 4.0}, phase=7)
    d = setup([*room(), fast, slow])
    d.run_until(WARM)
    fast.on = slow.on = False
    last_fast = fast.next - fast.interval_s
    last_slow = slow.next - slow.interval_s
    events = d.run_until(WARM + 1500)
    [f] = fired(events, "sensor_silent", fast.mac)
    [s] = fired(events, "sensor_silent", slow.mac)
    # within the limit after the last advert (max(3 x 2 s, 5 min) and max(3 x 150 s, 5 min)),
    # at the last evaluation (every 10 s) before it
    assert 300 - 10 < f - last_fast <= 300
    assert 450 - 10 < s - last_slow <= 450
    assert len(fired(events, "sensor_silent")) == 2
    fast.on, fast.next = True, d.t
    events = d.run_until(WARM + 1520)
    assert [(tr.kind, tr.subject) for _, tr in events if tr.state == RESOLVED] == [
        ("sensor_silent", fast.mac)
    ]


def test_no_silence_alert_during_the_startup_grace() -> None:
    # The evaluator starts at T0 with devices last heard long ago (as after a restart with a
    # backlog in the broker): nothing fires for startup_grace_s.
    dev = Dev(mac(201), 2.0, ("garden",), {"temperature_c": 4.0})
    world = World(T0 - timedelta(hours=1), ["garden", "kitchen"])
    warm = Driver(world, Evaluator(AlertsConfig(), T0 - timedelta(hours=1)), [*room(), dev])
    warm.run_until(1800)
    dev.on = False
    warm.run_until(3600)  # silent for 30 minutes, the old evaluator alerted
    assert len(fired(warm.transitions, "sensor_silent")) == 1
    # a restart, the alert not restored: grace applies, the other devices go on
    restarted = Driver(world, Evaluator(AlertsConfig(), T0), warm.devs)
    restarted.start, restarted.t = warm.start, warm.t
    assert restarted.run_until(3600 + 119) == []
    after = restarted.run_until(3600 + 130)
    assert [(tr.kind, tr.subject) for _, tr in after] == [("sensor_silent", dev.mac)]


def test_battery_low_with_hysteresis_and_replaced() -> None:
    cfg = attrs.evolve(AlertsConfig(), battery=attrs.evolve(AlertsConfig().battery, for_s=60.0))
    dev = Dev(mac(201), 5.0, ("garden", "kitchen"), {"battery_pct": 30.0})
    d = setup([*room(), dev], cfg)
    d.run_until(WARM)
    dev.readings = {"battery_pct": 19.0}
    events = d.run_until(WARM + 120)
    assert fired(events, "battery_low", dev.mac)
    dev.readings = {"battery_pct": 22.0}  # above 20, below 20 + 5: still low
    assert d.run_until(WARM + 300) == []
    dev.readings = {"battery_pct": 100.0}
    events = d.run_until(WARM + 320)
    kinds = {(tr.kind, tr.state) for _, tr in events}
    assert kinds == {("battery_low", RESOLVED), ("battery_replaced", FIRING)}
    events = d.run_until(WARM + 320 + 3600)
    assert {(tr.kind, tr.state) for _, tr in events} == {("battery_replaced", RESOLVED)}


def test_freezer_threshold_for_ten_minutes_with_hysteresis() -> None:
    rule = ThresholdRule(
        name="freezer_warm", metric="temperature_c", value=-15.0, hysteresis=1.0, for_s=600
    )
    cfg = attrs.evolve(AlertsConfig(), thresholds=[rule])
    freezer = Dev(mac(201), 5.0, ("kitchen",), {"temperature_c": -18.0})
    d = setup([*room(), freezer], cfg)
    d.run_until(WARM)
    freezer.readings = {"temperature_c": -14.0}
    d.run_until(WARM + 300)
    freezer.readings = {"temperature_c": -16.0}  # the door closed in time: pending dropped
    d.run_until(WARM + 400)
    freezer.readings = {"temperature_c": -14.0}
    events = d.run_until(WARM + 1200)
    [when] = fired(events, "freezer_warm", freezer.mac)
    assert 400 + 600 <= when - WARM <= 400 + 610
    freezer.readings = {"temperature_c": -15.5}  # below -15 but not by the hysteresis
    assert d.run_until(WARM + 1400) == []
    freezer.readings = {"temperature_c": -16.5}
    events = d.run_until(WARM + 1420)
    assert [(tr.kind, tr.state) for _, tr in events] == [("freezer_warm", RESOLVED)]
    # other devices with temperature_c (the room at 20 C) fired too: the rule has no device list
    assert fired(d.transitions, "freezer_warm")


def test_transit_loss_above_threshold_only() -> None:
    d = setup(room(40, 2.0))
    d.run_until(WARM)
    d.loss_every = 20  # 5 %
    assert fired(d.run_until(WARM + 1800), "transit_loss") == []
    d.loss_every = 5  # 20 %
    events = d.run_until(WARM + 3600)
    assert len(fired(events, "transit_loss")) == 2  # both scanners
    [tr] = [tr for _, tr in events if tr.subject == "garden"]
    assert tr.value is not None and 0.15 < tr.value < 0.25


def test_clock_skew() -> None:
    d = setup(room())
    d.run_until(WARM)
    d.world.scanners["garden"].clock_skew = True
    events = d.run_until(WARM + 120)
    assert [(tr.kind, tr.subject) for _, tr in events] == [("scanner_clock_skew", "garden")]


def test_baseline_prefers_the_same_hour_of_earlier_days() -> None:
    now = datetime(2026, 1, 10, 14, 7, tzinfo=UTC)
    same_hour = [
        Bucket(datetime(2026, 1, d, 14, m, tzinfo=UTC), 100 * d, 10)
        for d in (7, 8, 9)
        for m in (0, 5)
    ]
    recent = [Bucket(now - timedelta(minutes=5 * k), 5, 2) for k in range(1, 20)]
    b = baseline(same_hour + recent, now)
    assert b is not None and b.source == "same_hour" and b.adverts == 800
    b = baseline(recent, now)
    assert b is not None and b.source == "recent" and b.devices == 2
    assert baseline(recent[:5], now) is None  # still learning
