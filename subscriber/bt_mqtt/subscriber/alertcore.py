"""The alert lifecycle, pure: checks and the time in, transitions out.

Each evaluation the rules (``alertrules``) produce one ``Check`` per (kind, subject) they can
judge: is the condition true now.  ``Lifecycle.step`` keeps, per key, nothing (quiet), a pending
condition (true, but not yet for ``for_s``) or a firing alert, and returns a ``Transition`` when
an alert fires or resolves:

- quiet -> pending when the check turns true; pending -> quiet when it turns false first;
- pending -> **firing** once true for ``for_s`` (at once when ``for_s`` is 0);
- firing stays firing while true; once false for ``clear_s`` without interruption it
  **resolves** (a flapping condition therefore fires once and stays firing);
- a key with no check this time (the rule cannot judge: no data, suppressed) keeps its state.

Firing alerts are restored after a restart with ``restore`` (from the database), so an alert
that was firing does not fire again; pending tracks are restored by the shell
(``alertservice``, from ``alert_pending``), so a pending alert fires on time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from attrs import define, field

FIRING: Final = "firing"
RESOLVED: Final = "resolved"
Key = tuple[str, str]  # (kind, subject)


@define(frozen=True)
class Check:
    """One rule's verdict about one subject now."""

    kind: str
    subject: str
    active: bool
    message: str = ""
    value: float | None = None
    for_s: float = 0.0
    clear_s: float = 0.0
    detail: dict[str, Any] = field(factory=dict)

    @property
    def key(self) -> Key:
        return (self.kind, self.subject)


@define(frozen=True)
class Transition:
    """An alert fired or resolved at ``at``; ``since`` is when it fired."""

    kind: str
    subject: str
    state: str  # FIRING | RESOLVED
    at: datetime
    since: datetime
    message: str
    value: float | None
    detail: dict[str, Any]

    @property
    def key(self) -> Key:
        return (self.kind, self.subject)


@define
class Track:
    """What the lifecycle remembers about one key."""

    firing: bool
    since: datetime  # pending since, or fired at
    message: str = ""
    value: float | None = None
    detail: dict[str, Any] = field(factory=dict)
    clear_since: datetime | None = None


@define
class Lifecycle:
    """The per-key state machine of every alert (see the module docstring)."""

    tracks: dict[Key, Track] = field(factory=dict)

    def firing(self) -> dict[Key, Track]:
        """The alerts firing now."""
        return {k: t for k, t in self.tracks.items() if t.firing}

    def restore(
        self, kind: str, subject: str, since: datetime, message: str, value: float | None
    ) -> None:
        """Mark an alert as firing (it fired before a restart; it will not fire again)."""
        self.tracks[(kind, subject)] = Track(True, since, message, value)

    def step(self, checks: list[Check], now: datetime) -> list[Transition]:
        """Apply this evaluation's checks; the alerts that fired or resolved now."""
        out: list[Transition] = []
        for c in checks:
            track = self.tracks.get(c.key)
            if track is None:
                if not c.active:
                    continue
                track = Track(False, now, c.message, c.value, dict(c.detail))
                self.tracks[c.key] = track
            if c.active:
                track.clear_since = None
                track.value = c.value
                if not track.firing:
                    track.message, track.detail = c.message, dict(c.detail)
                    if (now - track.since).total_seconds() >= c.for_s:
                        track.firing, track.since = True, now
                        out.append(self._transition(c.key, track, FIRING, now))
                continue
            if not track.firing:
                del self.tracks[c.key]
                continue
            if track.clear_since is None:
                track.clear_since = now
            if (now - track.clear_since).total_seconds() >= c.clear_s:
                del self.tracks[c.key]
                track.value = c.value
                out.append(self._transition(c.key, track, RESOLVED, now, c.message))
        return out

    @staticmethod
    def _transition(
        key: Key, t: Track, state: str, now: datetime, message: str | None = None
    ) -> Transition:
        return Transition(
            key[0],
            key[1],
            state,
            now,
            t.since,
            message if message else t.message,
            t.value,
            dict(t.detail),
        )
