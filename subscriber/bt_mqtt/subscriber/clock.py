"""Which time an advert is stored under (pure): the agent's ``ts`` when it is plausible, else
the subscriber's arrival time.

A Pi has no real-time clock: until NTP answers, its clock can say 1970, the time it last shut
down, or (a bad RTC module, a wrong manual setting) years ahead.  An advert's ``ts`` is
trusted when it lies in ``[received - max_delay_s, received + max_ahead_s]`` and is not before
``EPOCH_FLOOR``; ``max_delay_s`` covers a broker that queued messages for us while we were down,
``max_ahead_s`` ordinary clock drift.  Anything else is stored at its arrival time with
``agent_time = false`` (the agent's ``ts`` stays in the payload), so it can neither freeze a
device's "last" values in the future, nor land in a partition retention deletes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from attrs import define

EPOCH_FLOOR: Final = datetime(2020, 1, 1, tzinfo=UTC).timestamp()


@define(frozen=True)
class TimeTrust:
    """How far an agent's ``ts`` may be from the arrival time and still be used."""

    max_ahead_s: float = 300.0
    max_delay_s: float = 8 * 86400.0

    def trusted(self, agent_ts: float, received: float) -> bool:
        """Whether ``agent_ts`` (Unix seconds) is plausible for a message received at
        ``received``."""
        return (
            agent_ts >= EPOCH_FLOOR
            and agent_ts <= received + self.max_ahead_s
            and agent_ts >= received - self.max_delay_s
        )


def stored_time(agent_ts: float, received: float, trust: TimeTrust) -> tuple[float, bool]:
    """(the time to store, whether it is the agent's)."""
    if trust.trusted(agent_ts, received):
        return agent_ts, True
    return received, False
