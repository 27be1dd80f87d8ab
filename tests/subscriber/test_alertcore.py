"""The alert lifecycle: pending, firing once, resolving after a clear hold, restored state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bt_mqtt.subscriber.alertcore import FIRING, RESOLVED, Check, Lifecycle

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def check(active: bool, for_s: float = 0.0, clear_s: float = 0.0) -> Check:
    return Check("scanner_offline", "garden", active, "m", 1.0, for_s, clear_s)


def test_fires_after_for_s_and_resolves_after_clear_s() -> None:
    lc = Lifecycle()
    assert lc.step([check(True, for_s=60)], at(0)) == []
    assert lc.step([check(True, for_s=60)], at(50)) == []
    [fired] = lc.step([check(True, for_s=60)], at(60))
    assert (fired.state, fired.at, fired.since) == (FIRING, at(60), at(60))
    assert lc.step([check(False, clear_s=30)], at(70)) == []
    assert lc.step([check(False, clear_s=30)], at(90)) == []
    [resolved] = lc.step([check(False, clear_s=30)], at(100))
    assert (resolved.state, resolved.since, resolved.at) == (RESOLVED, at(60), at(100))
    assert lc.firing() == {}


def test_pending_condition_that_clears_never_fires() -> None:
    lc = Lifecycle()
    lc.step([check(True, for_s=60)], at(0))
    lc.step([check(False, for_s=60)], at(30))
    assert lc.step([check(True, for_s=60)], at(40)) == []  # pending again from 40
    assert lc.step([check(True, for_s=60)], at(90)) == []
    assert [t.state for t in lc.step([check(True, for_s=60)], at(100))] == [FIRING]


def test_flapping_condition_fires_once() -> None:
    lc = Lifecycle()
    states = []
    for i in range(200):  # true 30 s, false 30 s, for 100 minutes
        states += [t.state for t in lc.step([check(i % 6 < 3, clear_s=300)], at(i * 10))]
    assert states == [FIRING]


def test_missing_check_keeps_state() -> None:
    lc = Lifecycle()
    lc.step([check(True)], at(0))
    assert lc.step([], at(1000)) == []
    assert set(lc.firing()) == {("scanner_offline", "garden")}


def test_restored_alert_does_not_fire_again_and_resolves() -> None:
    lc = Lifecycle()
    lc.restore("scanner_offline", "garden", at(-600), "old", 5.0)
    assert lc.step([check(True)], at(0)) == []
    [t] = lc.step([check(False)], at(10))
    assert (t.state, t.since) == (RESOLVED, at(-600))
