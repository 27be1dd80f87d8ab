"""The whole pipeline under fault injection, with every advert accounted for (issue 12, Numbers).

Three simulated radios (the BlueZ simulator on private dbus-daemons) feed three agents on the
bluez backend; a real Mosquitto (the recommended settings), the subscriber and PostgreSQL carry
the adverts to the database.  While the radios stream, the test kills and restarts the
subscriber (SIGKILL), stops PostgreSQL at once (immediate mode) and cuts the subscriber's
database connections, restarts the broker cleanly (SIGTERM) and kills it (SIGKILL: it loses
what it acknowledged since its last save), and kills an agent (SIGKILL) and starts it again (a
new boot).  It ends with, per scanner and over all:

- adverts the radios delivered = published + the agents' counted drops (filtered, repeats,
  dropped_*), from the agents' heartbeats as the database keeps them (``seq_accounting``);
- published = stored + the transit loss the subscriber counted from ``seq`` (``missing``),
  where "stored" is counted in ``raw_advertisements`` itself;
- nothing stored twice.

The figures are printed (run with ``-s``).  An agent's radio can only be accounted for while an
agent listens, so the feed to a radio pauses while its agent is down, and the agent is killed
once its last heartbeat has counted everything it received (a SIGKILL under load loses, without
a trace, what arrived after the last heartbeat: a limit of heartbeat-based counters).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.demo import orchestrator
from bt_mqtt.demo.orchestrator import Demo, DemoOptions
from bt_mqtt.demo.scenario import SCANNERS

pytestmark = pytest.mark.slow

RATE_PER_RADIO = 60.0  # adverts a second per radio
DEVICES = 40
FEED_S = 44.0
KILLED_AGENT = SCANNERS[1]


class Feed:
    """Adverts for the radios: changing content (published), with some repeats (deduplicated
    by the agent); a radio whose agent is down is skipped."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.down: set[str] = set()
        self.rng = random.Random(12)
        self.content: dict[tuple[str, int], int] = {}

    def advert(self, sid: str, i: int) -> dict[str, Any]:
        dev = self.rng.randrange(DEVICES)
        key = (sid, dev)
        if self.rng.random() > 0.1 or key not in self.content:  # 10 %: the same content again
            self.content[key] = i
        return {
            "mac": f"C0:FF:EE:{SCANNERS.index(sid):02X}:00:{dev:02X}",
            "rssi": -40 - dev,
            "manufacturer_data": {"1177": f"{self.content[key]:08x}"},
        }

    async def run(self, seconds: float) -> None:
        start = time.monotonic()
        i = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * RATE_PER_RADIO)
            while i < due:
                i += 1
                for sid in SCANNERS:
                    if sid not in self.down:
                        self.demo.scanners[sid].sim.advertise(self.advert(sid, i))
            await asyncio.sleep(0.01)


def _q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, args).fetchall()


def _heartbeat(url: str, sid: str) -> dict[str, Any] | None:
    try:
        rows = _q(url, "SELECT last_heartbeat FROM scanners WHERE scanner_id = %s", sid)
    except psycopg.OperationalError:
        return None
    return rows[0][0] if rows and rows[0][0] else None


def _scanning(hb: dict[str, Any] | None) -> bool:
    """The heartbeat of an agent whose backend scans (passive monitor or active discovery)."""
    adapter = (hb or {}).get("adapter") or {}
    return adapter.get("scan_mode") in ("passive", "active") and adapter.get("powered") is True


async def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class Faults:
    """The faults, in order, while the feed runs; ``done`` lists what was done when."""

    def __init__(self, demo: Demo, feed: Feed) -> None:
        self.demo = demo
        self.feed = feed
        self.done: list[str] = []
        self.start = time.monotonic()
        self.subscriber_runs = 1

    def note(self, text: str) -> None:
        self.done.append(f"{time.monotonic() - self.start:5.1f}s {text}")

    async def at(self, t: float) -> None:
        await asyncio.sleep(max(0.0, self.start + t - time.monotonic()))

    def restart_subscriber(self) -> None:
        demo = self.demo
        self.subscriber_runs += 1
        demo.subscriber = demo._spawn(
            [demo._exe("bt-mqtt-subscriber"), "--config", str(demo.subscriber_config), "run"],
            f"subscriber-{self.subscriber_runs}.log",
        )

    async def run(self) -> None:
        demo = self.demo
        assert demo.subscriber is not None and demo.postgres is not None
        assert demo.mosquitto is not None and demo.db_url is not None
        await self.at(4)
        demo.subscriber.kill()
        demo.subscriber.wait()
        self.note("subscriber SIGKILL")
        await asyncio.sleep(2)
        self.restart_subscriber()
        self.note("subscriber started again")
        await self.at(10)
        demo.postgres.stop("immediate")
        self.note("PostgreSQL stopped (immediate)")
        await asyncio.sleep(3)
        demo.postgres.start()  # from the main thread: its death signal follows this thread
        self.note("PostgreSQL started again")
        await self.at(17)
        n = _q(
            demo.db_url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'bt-mqtt-subscriber'",
        )[0][0]
        self.note(f"{n} subscriber database connection(s) cut")
        await self.at(21)
        demo.mosquitto.stop()
        self.note("broker stopped (SIGTERM)")
        await asyncio.sleep(2)
        demo.mosquitto.start()
        self.note("broker started again")
        await self.at(28)
        demo.mosquitto.kill()
        self.note("broker SIGKILL")
        await asyncio.sleep(2)
        demo.mosquitto.start()
        self.note("broker started again")
        await self.at(34)
        await self.kill_agent(KILLED_AGENT)

    async def kill_agent(self, sid: str) -> None:
        demo = self.demo
        sc = demo.scanners[sid]
        assert sc.proc is not None and demo.db_url is not None
        url = demo.db_url
        self.feed.down.add(sid)
        delivered = sc.sim.stats.adverts_delivered

        def settled() -> bool:
            hb = _heartbeat(url, sid)
            return bool(
                hb
                and hb.get("counters", {}).get("received") == delivered
                and hb["spool"]["depth"] == 0
                and hb["spool"]["inflight"] == 0
            )

        await _until(f"{sid}'s heartbeat to count all it received", settled)
        old_boot = (_heartbeat(url, sid) or {}).get("boot")
        sc.proc.kill()
        sc.proc.wait()
        self.note(f"agent {sid} SIGKILL")
        assert sc.bus is not None
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=sc.bus.address)
        sc.proc = demo._spawn(
            [demo._exe("bt-mqtt-agent"), "--config", str(sc.config)], f"agent-{sid}-2.log", env
        )

        def back() -> bool:
            hb = _heartbeat(url, sid)
            return bool(
                hb and hb.get("status") == "online" and hb.get("boot") != old_boot and _scanning(hb)
            )

        await _until(f"{sid}'s new agent to scan", back)
        self.feed.down.discard(sid)
        self.note(f"agent {sid} started again (a new boot)")


async def _run(directory: Path) -> dict[str, Any]:
    demo = Demo(DemoOptions(directory=directory, console=False, offline_at=1e9))
    try:
        await demo.start()
        assert demo.db_url is not None
        url = demo.db_url
        for sid in SCANNERS:  # every agent scans before the radios start
            await _until(f"{sid} to scan", lambda sid=sid: _scanning(_heartbeat(url, sid)))
        feed = Feed(demo)
        faults = Faults(demo, feed)
        feeding = asyncio.ensure_future(feed.run(FEED_S))
        await faults.run()
        await feeding
        delivered = {sid: demo.scanners[sid].sim.stats.adverts_delivered for sid in SCANNERS}
        for sc in demo.scanners.values():  # final heartbeats with every counter
            assert sc.proc is not None
            sc.proc.send_signal(signal.SIGTERM)
        for sc in demo.scanners.values():
            assert sc.proc is not None
            await asyncio.to_thread(sc.proc.wait, 30)
        faults.note("agents stopped (SIGTERM)")
        return {
            "delivered": delivered,
            "faults": faults.done,
            "url": url,
            **(await _settled(url)),
        }
    finally:
        await demo.shutdown()


async def _settled(url: str) -> dict[str, Any]:
    """The accounting once the subscriber has written everything it will get."""
    last: Any = None
    stable_since = time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(
            _q,
            url,
            "SELECT scanner_id, boot, published, received, missing, radio_received, filtered, "
            "deduplicated, agent_dropped FROM seq_accounting ORDER BY scanner_id, boot",
        )
        offline = await asyncio.to_thread(
            _q, url, "SELECT count(*) FROM scanners WHERE status = 'offline'"
        )
        state = (rows, offline)
        if state != last:
            last, stable_since = state, time.monotonic()
        elif offline[0][0] == len(SCANNERS) and time.monotonic() - stable_since > 5:
            break
        await asyncio.sleep(0.5)
    stored = await asyncio.to_thread(
        _q,
        url,
        "SELECT scanner_id, boot, count(*), count(DISTINCT seq) FROM raw_advertisements "
        "GROUP BY 1, 2",
    )
    return {"boots": last[0], "stored": {(s, b): (int(n), int(d)) for s, b, n, d in stored}}


def test_every_advert_is_accounted_for_under_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrator, "HEARTBEAT_S", 1)
    res = asyncio.run(_run(tmp_path / "run"))
    radio: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    boots_of: Counter[str] = Counter()
    for sid, boot, published, received, missing, radio_received, filt, dedup, dropped in res[
        "boots"
    ]:
        n, distinct = res["stored"].get((sid, boot), (0, 0))
        assert n == distinct, f"{sid}/{boot}: stored twice"
        assert received == n, f"{sid}/{boot}: the ledger and the archive disagree"
        # published = stored + counted transit loss
        assert published == n + missing, (sid, boot)
        # delivered to the agent = published + the agent's counted drops
        assert radio_received is not None, f"{sid}/{boot}: no heartbeat counters"
        assert radio_received == published + filt + dedup + dropped, (sid, boot)
        radio[sid] += radio_received
        boots_of[sid] += 1
        totals.update(
            published=published,
            stored=n,
            lost_in_transit=missing,
            agent_filtered_or_repeats=filt + dedup,
            agent_dropped=dropped,
        )
    assert dict(radio) == res["delivered"], "what the radios delivered, per scanner"
    assert boots_of[KILLED_AGENT] == 2 and all(boots_of[s] >= 1 for s in SCANNERS)
    totals["radios_delivered"] = sum(res["delivered"].values())
    assert totals["radios_delivered"] == (
        totals["published"] + totals["agent_filtered_or_repeats"] + totals["agent_dropped"]
    )
    assert totals["published"] == totals["stored"] + totals["lost_in_transit"]
    assert totals["published"] > RATE_PER_RADIO * FEED_S  # the stream did run
    figures = {"faults": res["faults"], "per_boot": res["boots"], "totals": dict(totals)}
    (tmp_path / "numbers.json").write_text(json.dumps(figures, indent=2, default=str))
    print("\nNUMBERS", json.dumps(figures, indent=2, default=str))  # noqa: T201
