"""The scan watchdog: escalating recovery when no advertisement arrives.

Pure state machine (``Watchdog``) plus a thin task (``run_watchdog``).  After ``timeout_s``
without an advertisement (counted from start, or from the last advert) it asks for a discovery
restart; after another ``timeout_s`` of silence for an adapter power cycle; after a third for
the process to exit non-zero so that systemd restarts it.  Any advertisement resets it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable

from bt_mqtt.agent.backends.base import Backend

log = logging.getLogger(__name__)

EXIT_WATCHDOG = 3


class Action(enum.Enum):
    RESTART_DISCOVERY = "restart_discovery"
    POWER_CYCLE = "power_cycle"
    EXIT = "exit"


_LADDER = (Action.RESTART_DISCOVERY, Action.POWER_CYCLE, Action.EXIT)


class Watchdog:
    """Decides the next recovery step from the time of the last advertisement."""

    def __init__(self, timeout_s: float, start: float) -> None:
        self.timeout_s = timeout_s
        self._since = start
        self._last_seen: float | None = None
        self.step = 0
        self.discovery_restarts = 0
        self.power_cycles = 0
        self.recoveries = 0

    def poll(self, now: float, last_advert: float | None) -> Action | None:
        """The action due now, if any.  ``last_advert``: monotonic time of the latest advert."""
        if last_advert is not None and (self._last_seen is None or last_advert > self._last_seen):
            self._last_seen = last_advert
            if last_advert > self._since:
                self._since = last_advert
                if self.step:
                    self.recoveries += 1
                    self.step = 0
        if now - self._since < self.timeout_s:
            return None
        action = _LADDER[min(self.step, len(_LADDER) - 1)]
        self.step += 1
        self._since = now
        if action is Action.RESTART_DISCOVERY:
            self.discovery_restarts += 1
        elif action is Action.POWER_CYCLE:
            self.power_cycles += 1
        return action

    def counters(self) -> dict[str, int]:
        return {
            "watchdog_discovery_restarts": self.discovery_restarts,
            "watchdog_power_cycles": self.power_cycles,
            "watchdog_recoveries": self.recoveries,
        }


async def run_watchdog(
    dog: Watchdog,
    backend: Backend,
    last_advert: Callable[[], float | None],
    on_exit: Callable[[], None],
) -> None:
    """Poll ``dog`` and carry out its actions; calls ``on_exit`` (and returns) at the last step."""
    period = min(max(dog.timeout_s / 4, 0.05), 5.0)
    while True:
        await asyncio.sleep(period)
        action = dog.poll(time.monotonic(), last_advert())
        if action is None:
            continue
        log.warning(
            "no advertisement for %.0fs: %s",
            dog.timeout_s,
            action.value.replace("_", " "),
            extra={"event": f"watchdog_{action.value}", "step": dog.step},
        )
        try:
            if action is Action.RESTART_DISCOVERY:
                await backend.restart_discovery()
            elif action is Action.POWER_CYCLE:
                await backend.power_cycle()
            else:
                on_exit()
                return
        except Exception as exc:  # the next step follows if this one did not help
            log.error(
                "watchdog %s failed: %s",
                action.value,
                exc,
                extra={"event": "watchdog_action_failed"},
            )
