"""The watchdog ladder: restart discovery, power-cycle, exit; any advert resets it."""

from __future__ import annotations

import asyncio

from bt_mqtt.agent.backends.base import AdapterState, AdvertSink, BackendStats
from bt_mqtt.agent.watchdog import Action, Watchdog, run_watchdog


def test_ladder_and_reset() -> None:
    w = Watchdog(timeout_s=120, start=0.0)
    assert w.poll(119.0, None) is None
    assert w.poll(120.0, None) is Action.RESTART_DISCOVERY
    assert w.poll(200.0, None) is None  # the next step waits another timeout
    assert w.poll(240.0, None) is Action.POWER_CYCLE
    assert w.poll(360.0, None) is Action.EXIT
    assert (w.discovery_restarts, w.power_cycles) == (1, 1)


def test_advert_resets_the_ladder() -> None:
    w = Watchdog(timeout_s=10, start=0.0)
    assert w.poll(5.0, 4.0) is None
    assert w.poll(14.5, 4.0) is Action.RESTART_DISCOVERY
    assert w.poll(20.0, 19.0) is None  # adverts again: recovered
    assert w.recoveries == 1 and w.step == 0
    assert w.poll(28.9, 19.0) is None
    assert w.poll(29.0, 19.0) is Action.RESTART_DISCOVERY  # starts again from step one


class RecordingBackend:
    """A stand-in radio that records what the watchdog asks of it."""

    def __init__(self) -> None:
        self.stats = BackendStats()
        self.calls: list[str] = []

    async def run(self, sink: AdvertSink) -> None:
        await asyncio.Event().wait()

    def adapter_state(self) -> AdapterState:
        return AdapterState(name="fake")

    async def restart_discovery(self) -> None:
        self.calls.append("restart")

    async def power_cycle(self) -> None:
        self.calls.append("power")
        raise RuntimeError("adapter gone")  # a failing step must not stop the ladder


def test_task_runs_each_step_then_exits() -> None:
    backend = RecordingBackend()
    exited = asyncio.Event()

    async def go() -> None:
        dog = Watchdog(timeout_s=0.2, start=__import__("time").monotonic())
        await asyncio.wait_for(run_watchdog(dog, backend, lambda: None, exited.set), 10)

    asyncio.run(go())
    assert backend.calls == ["restart", "power"]
    assert exited.is_set()
