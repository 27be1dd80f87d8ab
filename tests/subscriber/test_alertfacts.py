"""The alert facts as PostgreSQL computes them (real schema) agree with the in-memory world the
rule tests use, on the same adverts; the activity rollup counts late adverts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bt_mqtt.subscriber import alertfacts
from bt_mqtt.subscriber.alertloss import LossWindow
from bt_mqtt.subscriber.migrate import migrate
from tests.subscriber.alertsim import LOOKBACK_S, LOSS_WINDOW_S, World

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def insert_adverts(
    url: str, rows: list[tuple[Any, ...]], last_seq: dict[str, int] | None = None
) -> None:
    """rows: (time, scanner_id, boot, seq, mac, parser); the seq ledger as the ingest keeps it
    (``last_seq``: per scanner, the heartbeat's highest seq published)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, "
            "rssi, parser, payload) VALUES (%s, %s, %s, %s, %s, %s, -60, %s, '{}')",
            [(t, t, sid, boot, seq, mac, parser) for t, sid, boot, seq, mac, parser in rows],
        )
        cur.execute(
            "INSERT INTO seq_ledger AS l (scanner_id, boot, seqs) "
            "SELECT scanner_id, boot, range_agg(int8range(seq, seq, '[]')) "
            "FROM raw_advertisements GROUP BY scanner_id, boot "
            "ON CONFLICT (scanner_id, boot) DO UPDATE SET seqs = EXCLUDED.seqs"
        )
        for sid, last_seq_ in (last_seq or {}).items():
            cur.execute(
                "UPDATE seq_ledger SET last_seq = %s WHERE scanner_id = %s", (last_seq_, sid)
            )
        for sid in {r[1] for r in rows}:
            last = max(r[0] for r in rows if r[1] == sid)
            cur.execute(
                "INSERT INTO scanners (scanner_id, status, status_since, first_seen, last_seen, "
                "last_advert_at) VALUES (%s, 'online', %s, %s, %s, %s) "
                "ON CONFLICT (scanner_id) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
                "last_advert_at = EXCLUDED.last_advert_at",
                (sid, T0, T0, last, last),
            )


def test_sql_facts_match_the_simulated_world(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    rng = random.Random(3)
    world = World(T0, ["garden", "kitchen"])
    rows: list[tuple[Any, ...]] = []
    macs = [f"A4:C1:38:00:01:{i:02X}" for i in range(12)]
    seqs = {"garden": 0, "kitchen": 0}
    t = 0.0
    split = 6500.0  # the loss window's mark is taken here (the window is 600 s)
    first: list[tuple[Any, ...]] = []
    first_seqs: dict[str, int] = {}
    while t < 7099:
        t += rng.expovariate(2.0)
        if t > split and not first_seqs:
            world.facts(T0 + timedelta(seconds=split))
            first, first_seqs = list(rows), dict(seqs)
        sid = rng.choice(["garden", "kitchen"])
        mac = rng.choice(macs[: 6 if sid == "garden" and t > 6000 else 12])
        seqs[sid] += 1
        lost = rng.random() < 0.08
        when = T0 + timedelta(seconds=round(t, 3))
        parser = "bthome" if mac < macs[8] else None
        readings = {"temperature_c": 1.0} if parser else None
        world.scanners[sid].seq = seqs[sid] - 1
        world.advert(when, sid, mac, readings=readings, lost=lost)
        if not lost:
            rows.append((when, sid, "b0", seqs[sid], mac, parser))
    now = T0 + timedelta(seconds=7100)
    window = LossWindow(LOSS_WINDOW_S)

    async def read() -> tuple[Any, ...]:
        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            await conn.execute("SET TimeZone = 'UTC'")
            insert_adverts(pg_database, first, first_seqs)
            marks = await alertfacts.scanner_facts(conn, T0 + timedelta(seconds=split), window)
            assert [(f.published, f.arrived) for f in marks] == [(0, 0), (0, 0)]  # marks only
            insert_adverts(pg_database, rows[len(first) :], seqs)
            for k in range((7100 // 300) + 1):  # as the loop does, bucket after bucket
                await alertfacts.rollup(conn, T0 + timedelta(seconds=300 * k + 1))
            facts = await alertfacts.scanner_facts(conn, now, window)
            est = await alertfacts.intervals(conn, now, LOOKBACK_S, 10)
            devs = await alertfacts.device_facts(conn, now, est)
            return facts, est, devs

    sql, est, devs = asyncio.run(read())
    mem = {f.scanner_id: f for f in world.facts(now)}
    for f in sql:
        m = mem[f.scanner_id]
        assert (f.adverts, f.devices, f.published, f.arrived) == (
            m.adverts,
            m.devices,
            m.published,
            m.arrived,
        ), f.scanner_id
        assert f.published > f.arrived > 0
        assert [(b.start, b.adverts, b.devices) for b in f.history] == [
            (b.start, b.adverts, b.devices) for b in m.history
        ]
        assert len(f.history) >= 20
    garden = {f.scanner_id: f for f in sql}["garden"]
    assert garden.devices == 6  # the later hour hears half the devices
    mem_est = {d.mac: d.interval_s for d in world.device_facts(now, True)}
    assert set(est) == {m for m, v in mem_est.items() if v is not None}
    for mac_, interval in est.items():
        assert abs(interval - (mem_est[mac_] or 0)) < 1e-6
    assert devs == []  # devices has no rows: the ingest fills it, not this test


def test_rollup_recounts_late_adverts(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    insert_adverts(
        pg_database, [(T0 + timedelta(seconds=10), "garden", "b", 1, "AA:00:00:00:00:01", None)]
    )

    async def go() -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            await alertfacts.rollup(conn, T0 + timedelta(seconds=301))
            await conn.execute(
                "INSERT INTO raw_advertisements (time, received_at, scanner_id, boot, seq, mac, "
                "payload) VALUES (%s, %s, 'garden', 'b', 2, 'AA:00:00:00:00:02', '{}')",
                (T0 + timedelta(seconds=20), T0 + timedelta(seconds=400)),
            )
            await alertfacts.rollup(conn, T0 + timedelta(seconds=601))
            cur = await conn.execute("SELECT bucket, adverts, devices FROM scanner_activity")
            return await cur.fetchall()

    assert asyncio.run(go()) == [(T0, 2, 2)]


def test_transit_loss_reads_the_seq_ledger_not_the_archive(pg_database: str) -> None:
    """Loss is the ledger's: seqs the privacy policy dropped (in the ledger as received, absent
    from the archive) are not lost; a gap in the ledger is; a new boot counts whole."""
    migrate({"conninfo": pg_database})
    window = LossWindow(600.0)

    async def go() -> list[tuple[str, int, int]]:
        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO scanners (scanner_id, status, first_seen, last_seen) VALUES "
                "('garden', 'online', %s, %s), ('porch', 'online', %s, %s)",
                (T0, T0, T0, T0),
            )
            await conn.execute(
                "INSERT INTO seq_ledger (scanner_id, boot, seqs, last_seq) VALUES "
                "('garden', 'a', '{[1,101)}', 100), ('porch', 'p', '{[1,51)}', 50)"
            )
            await alertfacts.scanner_facts(conn, T0, window)  # the marks
            # garden: 1000 more, every one received (the archive holds none: privacy-dropped);
            # porch: 1000 more of which 200 never arrived, and a new boot with 10 of 20
            await conn.execute(
                "UPDATE seq_ledger SET seqs = '{[1,1101)}', last_seq = 1100 "
                "WHERE scanner_id = 'garden'"
            )
            await conn.execute(
                "UPDATE seq_ledger SET seqs = '{[1,851)}', last_seq = 1050 "
                "WHERE scanner_id = 'porch'"
            )
            await conn.execute(
                "INSERT INTO seq_ledger (scanner_id, boot, seqs, last_seq) VALUES "
                "('porch', 'q', '{[1,6), [11,16)}', 20)"
            )
            facts = await alertfacts.scanner_facts(conn, T0 + timedelta(seconds=600), window)
            return [(f.scanner_id, f.published, f.arrived) for f in facts]

    assert asyncio.run(go()) == [("garden", 1000, 1000), ("porch", 1020, 810)]
