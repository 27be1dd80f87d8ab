"""An in-memory world for the alert rules: scanners and devices, facts as ``alertfacts`` reads
them from the database (``test_alertfacts`` checks the two agree on the same adverts).

Times are datetimes in UTC; an advert arrives when it is heard (no latency) unless ``lost``.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from datetime import datetime, timedelta

from bt_mqtt.subscriber.alertcore import Transition
from bt_mqtt.subscriber.alerteval import Evaluator
from bt_mqtt.subscriber.alertloss import BootLoss, LossWindow
from bt_mqtt.subscriber.alertrules import (
    BUCKET_S,
    HISTORY_DAYS,
    RECENT_S,
    Bucket,
    DeviceFacts,
    ScannerFacts,
)

LOSS_WINDOW_S = 600.0
LOOKBACK_S = 3600.0


class ScannerState:
    def __init__(self, sid: str, now: datetime) -> None:
        self.sid = sid
        self.status = "online"
        self.status_since: datetime | None = now
        self.last_advert_at: datetime | None = None
        self.clock_skew = False
        self.boot = "b0"
        self.seq = 0
        self.w5: deque[tuple[datetime, str]] = deque()  # arrivals in the last BUCKET_S
        self.w5_macs: Counter[str] = Counter()
        self.received: dict[str, int] = {}  # boot -> seqs received (the seq ledger's count)
        self.published: dict[str, int] = {}  # boot -> highest seq published
        self.buckets: list[Bucket] = []
        self.cur_start: datetime | None = None
        self.cur_end: datetime | None = None
        self.cur_n = 0
        self.cur_macs: set[str] = set()


class DeviceState:
    def __init__(self, mac: str, name: str | None) -> None:
        self.mac = mac
        self.name = name
        self.last_heard: datetime | None = None
        self.last_scanner: str | None = None
        self.readings: dict[str, float] = {}
        self.heard: dict[str, deque[datetime]] = defaultdict(deque)  # scanner -> arrivals


def bucket_of(t: datetime) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_S, t.tzinfo)


class World:
    """Scanners and decoded devices; ``facts`` mirrors ``alertfacts``."""

    def __init__(self, start: datetime, scanners: list[str]) -> None:
        self.now = start
        self.scanners = {s: ScannerState(s, start) for s in scanners}
        self.devices: dict[str, DeviceState] = {}
        self.loss = LossWindow(LOSS_WINDOW_S)
        # per (scanner, boot): received count at each evaluation's mark (to answer "received
        # above the mark" as the ledger query does; seqs arrive in order here)
        self._at_mark: dict[tuple[datetime, str, str], int] = {}

    def set_status(self, sid: str, status: str, at: datetime) -> None:
        s = self.scanners[sid]
        if s.status != status:
            s.status, s.status_since = status, at

    def advert(
        self,
        t: datetime,
        sid: str,
        mac: str,
        *,
        readings: dict[str, float] | None = None,
        name: str | None = None,
        lost: bool = False,
    ) -> None:
        """``sid`` publishes an advert heard at ``t`` (seq consumed); it arrives unless lost."""
        s = self.scanners[sid]
        s.seq += 1
        s.published[s.boot] = s.seq
        if lost:
            return
        s.received[s.boot] = s.received.get(s.boot, 0) + 1
        s.last_advert_at = t
        s.w5.append((t, mac))
        s.w5_macs[mac] += 1
        if s.cur_start is None or s.cur_end is None or not s.cur_start <= t < s.cur_end:
            if s.cur_start is not None:
                s.buckets.append(Bucket(s.cur_start, s.cur_n, len(s.cur_macs)))
            s.cur_start = bucket_of(t)
            s.cur_end = s.cur_start + timedelta(seconds=BUCKET_S)
            s.cur_n, s.cur_macs = 0, set()
        s.cur_n += 1
        s.cur_macs.add(mac)
        if readings is not None:
            d = self.devices.get(mac)
            if d is None:
                d = self.devices[mac] = DeviceState(mac, name)
            d.last_heard, d.last_scanner = t, sid
            d.readings.update(readings)
            d.heard[sid].append(t)

    def _history(self, s: ScannerState, now: datetime) -> tuple[Bucket, ...]:
        done = list(s.buckets)
        if s.cur_start is not None and s.cur_start < bucket_of(now):
            done.append(Bucket(s.cur_start, s.cur_n, len(s.cur_macs)))
        recent = now - timedelta(seconds=RECENT_S)
        oldest = now - timedelta(days=HISTORY_DAYS + 1)
        keep = [
            b for b in done if b.start >= recent or (b.start >= oldest and b.start.hour == now.hour)
        ]
        cut = now - timedelta(days=HISTORY_DAYS + 2)
        while s.buckets and s.buckets[0].start < cut:
            s.buckets.pop(0)
        return tuple(keep)

    def _ledger_loss(self, now: datetime) -> dict[str, tuple[int, int]]:
        """``alertfacts.ledger_loss`` on this world (in-order arrival: the seqs received above
        a mark are those received since it was taken)."""
        marks = self.loss.marks(now)
        mark_time = self.loss.mark_time() if marks is not None else None
        boots = []
        for s in self.scanners.values():
            for boot, published in s.published.items():
                got = s.received.get(boot, 0)
                self._at_mark[(now, s.sid, boot)] = got
                base = self._at_mark.get((mark_time, s.sid, boot), 0) if mark_time else 0
                boots.append(BootLoss(s.sid, boot, published, got - base))
        return self.loss.account(now, marks, boots)

    def facts(self, now: datetime) -> list[ScannerFacts]:
        out = []
        loss = self._ledger_loss(now)
        for s in self.scanners.values():
            w5 = now - timedelta(seconds=BUCKET_S)
            while s.w5 and s.w5[0][0] <= w5:
                _, gone = s.w5.popleft()
                s.w5_macs[gone] -= 1
                if not s.w5_macs[gone]:
                    del s.w5_macs[gone]
            published, arrived = loss.get(s.sid, (0, 0))
            out.append(
                ScannerFacts(
                    s.sid,
                    s.status,
                    s.status_since,
                    s.last_advert_at,
                    s.clock_skew,
                    len(s.w5),
                    len(s.w5_macs),
                    published,
                    arrived,
                    self._history(s, now),
                )
            )
        return out

    def device_facts(self, now: datetime, estimate: bool) -> list[DeviceFacts]:
        out = []
        lo = now - timedelta(seconds=LOOKBACK_S)
        for d in self.devices.values():
            interval = None
            if estimate:
                best = (0, 0.0)
                for times in d.heard.values():
                    while times and times[0] <= lo:
                        times.popleft()
                    if len(times) > best[0]:
                        best = (len(times), (times[-1] - times[0]).total_seconds())
                if best[0] >= 10 and best[1] > 0:
                    interval = best[1] / (best[0] - 1)
            assert d.last_heard is not None
            out.append(
                DeviceFacts(d.mac, d.name, d.last_heard, d.last_scanner, dict(d.readings), interval)
            )
        return out

    def evaluate(self, ev: Evaluator, now: datetime) -> list[Transition]:
        """One evaluation as ``AlertEngine.evaluate`` does it, on this world's facts."""
        estimate = ev.intervals_due(now)
        return ev.judge(self.facts(now), self.device_facts(now, estimate), now)


class Dev:
    """A simulated device for ``Driver``: advertises every ``interval_s`` to ``scanners``."""

    def __init__(
        self,
        mac: str,
        interval_s: float,
        scanners: tuple[str, ...],
        readings: dict[str, float] | None = None,
        phase: float = 0.0,
    ) -> None:
        self.mac = mac
        self.interval_s = interval_s
        self.scanners = scanners
        self.readings = readings
        self.next = phase
        self.on = True


class Driver:
    """Advances a ``World`` second by second, evaluating every ``every_s``; collects the
    transitions with their times.  ``mute`` is a set of (scanner, mac) pairs not heard (use
    (scanner, "*") for every device), ``loss`` a fraction of adverts lost in transit
    (deterministic: every n-th)."""

    def __init__(self, world: World, ev: Evaluator, devs: list[Dev], every_s: float = 10.0):
        self.world = world
        self.ev = ev
        self.devs = devs
        self.every_s = every_s
        self.t = 0.0
        self.start = world.now
        self.mute: set[tuple[str, str]] = set()
        self.loss_every: int | None = None
        self.count = 0
        self.transitions: list[tuple[float, Transition]] = []

    def run_until(self, t_end: float) -> list[tuple[float, Transition]]:
        new: list[tuple[float, Transition]] = []
        while self.t < t_end:
            self.t += 1.0
            now = self.start + timedelta(seconds=self.t)
            for d in self.devs:
                while d.on and d.next <= self.t:
                    at = self.start + timedelta(seconds=d.next)
                    for sid in d.scanners:
                        if (sid, d.mac) in self.mute or (sid, "*") in self.mute:
                            continue
                        self.count += 1
                        lost = self.loss_every is not None and self.count % self.loss_every == 0
                        self.world.advert(at, sid, d.mac, readings=d.readings, lost=lost)
                    d.next += d.interval_s
            if self.t % self.every_s == 0:
                for tr in self.world.evaluate(self.ev, now):
                    new.append((self.t, tr))
        self.transitions += new
        return new
