"""The shipped Grafana provisioning: every dashboard panel's SQL (and every variable's query),
with Grafana's macros expanded, runs as the console's read-only role against a real PostgreSQL
filled by the real subscriber with the demo's devices, and returns rows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from bt_mqtt.agent.dedup import Dedup, content_of
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.demo.scenario import SCANNERS, build_devices, events
from bt_mqtt.subscriber import history
from bt_mqtt.subscriber.alertconfig import AlertsConfig, ThresholdRule
from bt_mqtt.subscriber.alertservice import AlertEngine
from bt_mqtt.subscriber.compact import compact_day
from tests.deploy.grafana_macros import UnknownMacro, expand
from tests.fixtures.mosquitto import Broker
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import (
    count,
    publish,
    start_subscriber,
    stop,
    wait_subscribed,
    write_config,
)
from tests.subscriber.streams import Msg

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
MINUTES = 16
INTERVALS = ["1m", "1h", "1d"]  # Grafana intervals reaching each rollup level


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in board["panels"]:
        out += panels(p) if p.get("type") == "row" and "panels" in p else [p]
    return out


def test_provisioning_files_fit_together() -> None:
    [ds_file] = (ROOT / "provisioning" / "datasources").glob("*.yaml")
    ds = yaml.safe_load(ds_file.read_text())["datasources"][0]
    assert ds["type"] == "grafana-postgresql-datasource" and ds["user"] == "btmqtt_console"
    [prov] = yaml.safe_load((ROOT / "provisioning" / "dashboards" / "bt-mqtt.yaml").read_text())[
        "providers"
    ]
    assert prov["type"] == "file"
    assert {d.stem for d in DASHBOARDS} == {"bt-mqtt-overview", "bt-mqtt-device", "bt-mqtt-storage"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), path
        for p in panels(board):
            for t in p["targets"]:
                assert t["datasource"]["uid"] == ds["uid"], (path.name, p["title"])
                assert t["rawSql"].strip()


def test_expander_refuses_what_it_does_not_know() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expand("$__timeFilter(time)", now, now, {}) == (
        "time BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-01T00:00:00Z'"
    )
    assert expand("$__timeGroupAlias(t, $__interval)", now, now, {}, "5m") == (
        'floor(extract(epoch from t)/300)*300 AS "time"'
    )
    assert expand("$__interval_ms < 3600000", now, now, {}, "1h") == "3600000 < 3600000"
    with pytest.raises(UnknownMacro):
        expand("$__timeGroupAliasFill(t, '1m', 0)", now, now, {})
    with pytest.raises(UnknownMacro):
        expand("WHERE mac = '$nope'", now, now, {})


def demo_messages(end: datetime) -> list[Msg]:
    """MINUTES of the demo's adverts ending at ``end``, through the agent's dedup."""
    start = end - timedelta(minutes=MINUTES)
    dedup = {s: Dedup(10.0, 300.0, 10000) for s in SCANNERS}
    seq = dict.fromkeys(SCANNERS, 0)
    out = []
    for e in events(build_devices(), seed=5):
        if e.t >= MINUTES * 60:
            break
        a = e.advert
        if not dedup[e.scanner_id].offer(a.mac, content_of(a), e.t):
            continue
        seq[e.scanner_id] += 1
        ts = format_ts(start.timestamp() + e.t)
        payload = encode(a, e.scanner_id, "grafana-boot", seq[e.scanner_id], ts)
        out.append(
            Msg(f"bt-mqtt/raw/{e.scanner_id}", payload, a.mac, e.scanner_id, seq[e.scanner_id])
        )
    return out


@pytest.mark.slow
def test_every_panel_returns_rows_from_demo_data(
    tmp_path: Path, pg_database: str, mosquitto: Broker
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    msgs = demo_messages(now)
    status = [
        Msg(f"bt-mqtt/scanner/{s}/status", b'{"status":"online","interval_s":60}', "", s, 0)
        for s in SCANNERS
    ]
    config = write_config(
        tmp_path / "sub.yaml", mosquitto.port, pg_database, alerts={"enabled": False}
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(config, log)
    try:
        wait_subscribed(log, proc)
        publish(mosquitto.port, status + msgs)
        wait_until(
            lambda: count(pg_database, "SELECT sum(advert_count) FROM scanners") >= len(msgs),
            "the demo's adverts stored",
            120,
            proc=proc,
            log=log,
        )
    finally:
        assert stop(proc) == 0
    # alerts and activity buckets, as the alert loop writes them
    warm = ThresholdRule(name="warm", metric="temperature_c", value=-100.0, for_s=0)
    cfg = AlertsConfig(thresholds=[warm])

    async def alerts() -> None:
        async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
            await conn.execute("SET TimeZone = 'UTC'")
            engine = AlertEngine(cfg, now - timedelta(hours=1))
            stored = await engine.evaluate(conn, now)
            assert stored

    asyncio.run(alerts())
    sql = (
        Path(__file__).resolve().parents[2]
        / "console"
        / "bt_mqtt"
        / "console"
        / "readonly_role.sql"
    ).read_text()
    with psycopg.connect(pg_database, autocommit=True) as conn:
        history.roll_up(conn)  # what the subscriber's job has not rolled up yet
        conn.execute(sql.encode())
        [(mac,)] = conn.execute(
            "SELECT subject FROM alerts WHERE kind = 'warm' ORDER BY subject LIMIT 1"
        ).fetchall()
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    ran = 0
    by_level: dict[tuple[str, int, str], list[tuple[Any, ...]]] = {}
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("SET ROLE btmqtt_console")
        conn.execute("SET default_transaction_read_only = on")
        for path in DASHBOARDS:
            board = json.loads(path.read_text())
            variables: dict[str, str] = {}
            for v in board["templating"]["list"]:
                rows = conn.execute(expand(v["query"], start, end, {}).encode()).fetchall()
                assert rows, (path.name, v["name"])
                assert mac in {r[0] for r in rows}
                variables[v["name"]] = mac
            for p in panels(board):
                for t in p["targets"]:
                    # a panel choosing its source by the interval runs at every level
                    levels = INTERVALS if "$__interval_ms" in t["rawSql"] else ["1m"]
                    for interval in levels:
                        query = expand(t["rawSql"], start, end, variables, interval)
                        try:
                            rows = conn.execute(query.encode()).fetchall()
                        except psycopg.Error as exc:
                            where = f"{path.name}: {p['title']} at {interval}"
                            raise AssertionError(f"{where}: {exc}\n{query}") from None
                        assert rows, f"{path.name}: {p['title']} at {interval}: no rows\n{query}"
                        if t["format"] == "time_series":
                            names = [c.name for c in conn.execute(query.encode()).description or []]
                            assert "time" in names, (path.name, p["title"], names)
                        by_level[path.stem, p["id"], interval] = rows
                        ran += 1
        # the device's metric chart: at 1 min, exactly the 1 min rollups (mean, min and max of
        # each bucket; no other level leaks in); at 1 h and 1 d, one point per metric and stat
        chart = {k[2]: v for k, v in by_level.items() if k[:2] == ("bt-mqtt-device", 2)}
        assert set(chart) == set(INTERVALS)
        minutes = conn.execute(
            "SELECT bucket, metric, sum / n, min, max FROM readings_1m "
            "WHERE mac = %s AND bucket > %s - interval '1 minute' AND bucket <= %s",
            (mac, start, end),
        ).fetchall()
        assert len(minutes) > 1
        want = [
            (bucket.timestamp(), f"{metric} {stat}", round(v, 6))
            for bucket, metric, mean, low, high in minutes
            for stat, v in (("mean", mean), ("min", low), ("max", high))
        ]
        assert sorted((float(t), m, round(v, 6)) for t, m, v in chart["1m"]) == sorted(want)
        metrics = {m for _, m, *_ in minutes}
        for interval in ("1h", "1d"):
            got = {m for _, m, _ in chart[interval]}
            assert got == {f"{m} {s}" for m in metrics for s in ("mean", "min", "max")}
    assert ran >= 16
    # the archived days: once compacted into blocks, the storage dashboard counts them by day
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for day in sorted({(now - timedelta(minutes=MINUTES)).date(), now.date()}):
            compact_day(conn, day)
        conn.execute("SET ROLE btmqtt_console")
        board = json.loads((ROOT / "dashboards" / "bt-mqtt-storage.json").read_text())
        by_day = {p["id"]: p["targets"][0]["rawSql"] for p in panels(board)}
        for pid, wanted in ((1, {"raw_blocks", "reading_blocks"}), (3, {"blocks (raw_blocks)"})):
            rows = conn.execute(expand(by_day[pid], start, end, {}).encode()).fetchall()
            assert wanted <= {r[1] for r in rows if r[2]}, (pid, rows)
