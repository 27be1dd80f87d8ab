"""End to end: mosquitto_pub (not our code) -> Mosquitto -> bt-mqtt-subscriber -> PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import free_port
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import (
    count,
    publish,
    publish_raw,
    scrape,
    start_subscriber,
    stop,
    wait_subscribed,
    write_config,
)
from tests.subscriber.streams import expected_readings, stream

RAW = "SELECT count(*) FROM raw_advertisements"
READINGS = "SELECT count(*) FROM sensor_readings"


def test_foreign_stream_lands_in_four_tables(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "sub.yaml", mosquitto.port, pg_database)
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        hb = {
            "status": "online",
            "version": "0.1.0",
            "boot": "boot0001",
            "uptime_s": 5,
            "hostname": "pi",
            "adapter": {"name": "hci0"},
            "interval_s": 60,
        }
        publish_raw(
            mosquitto.port, "bt-mqtt/scanner/s1/status", json.dumps(hb).encode(), retain=True
        )
        msgs = list(stream(600))
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: count(pg_database, RAW) == 600, "600 adverts", 60, proc=proc, log=log, every=0.1
        )
        wait_until(
            lambda: (
                count(pg_database, "SELECT count(*) FROM scanners WHERE status = 'online'") == 1
            ),
            "scanner online",
            10,
            proc=proc,
            log=log,
            every=0.1,
        )
    finally:
        assert stop(proc) == 0
    with psycopg.connect(pg_database) as conn:
        assert count(pg_database, READINGS) == expected_readings(msgs)
        macs = {m.mac for m in msgs}
        assert count(pg_database, "SELECT count(*) FROM devices") == len(macs)
        assert count(pg_database, "SELECT sum(advert_count) FROM devices") == 600
        rows = conn.execute(
            "SELECT scanner_id, status, advert_count FROM scanners ORDER BY 1"
        ).fetchall()
        assert rows == [("s1", "online", 300), ("s2", "unknown", 300)]
        # one BTHome message, checked value by value against the parser's own output
        first = next(m for m in msgs if b"0000fcd2" in m.payload)
        got: dict[str, float] = dict(
            conn.execute(
                "SELECT metric, value FROM sensor_readings r JOIN raw_advertisements a "
                "ON a.id = r.advert_id WHERE a.scanner_id = %s AND a.seq = %s",
                (first.scanner_id, first.seq),
            ).fetchall()
        )
        body = json.loads(first.payload)
        data = bytes.fromhex(body["service_data"]["0000fcd2-0000-1000-8000-00805f9b34fb"])
        assert got["temperature_c"] == int.from_bytes(data[6:8], "little", signed=True) / 100
        assert got["humidity_pct"] == int.from_bytes(data[9:11], "little") / 100
        dev = conn.execute(
            "SELECT parser, last_readings ? 'temperature_c' FROM devices WHERE mac = %s",
            (first.mac,),
        ).fetchone()
        assert dev == ("bthome", True)
        assert conn.execute("SELECT count(*) FROM rejected_messages").fetchone() == (0,)
        ruuvi = conn.execute(
            "SELECT manufacturer, model FROM devices WHERE parser = 'ruuvi' LIMIT 1"
        ).fetchone()
        assert ruuvi == ("Ruuvi Innovations", "RuuviTag")


def test_duplicates_and_redeliveries_stored_once(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    port = free_port()
    cfg = write_config(
        tmp_path / "sub.yaml",
        mosquitto.port,
        pg_database,
        metrics={"port": port},
        ingest={"plan_workers": 0},  # the in-process planner (the other tests use the worker)
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        msgs = list(stream(300, seed=7))
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: count(pg_database, RAW) == 300, "300 adverts", 60, proc=proc, log=log, every=0.1
        )
        publish(mosquitto.port, msgs + msgs[:50])  # a whole replay, some twice in one go

        def settled() -> bool:
            m = scrape(port)
            return m.get("redelivered_total", 0) + m.get("duplicates_total", 0) == 350

        wait_until(settled, "the replay to be processed", 60, proc=proc, log=log, every=0.1)
        m = scrape(port)
        assert m["archived_total"] == 300
        assert m["received_total"] == 650
    finally:
        assert stop(proc) == 0
    assert count(pg_database, RAW) == 300
    assert count(pg_database, READINGS) == expected_readings(msgs)
    assert count(pg_database, "SELECT sum(advert_count) FROM devices") == 300


def test_the_running_subscriber_rolls_up_what_it_stored(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    cfg = write_config(
        tmp_path / "sub.yaml", mosquitto.port, pg_database, ingest={"sweep_s": 0.2, "rollup_s": 0.2}
    )
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    rolled = "SELECT coalesce(sum(n), 0) FROM readings_1d"
    try:
        wait_subscribed(log, proc)
        msgs = list(stream(300))
        publish(mosquitto.port, msgs)
        wait_until(
            lambda: count(pg_database, rolled) == count(pg_database, READINGS) > 0,
            "every reading in the daily rollups",
            60,
            proc=proc,
            log=log,
            every=0.2,
        )
    finally:
        assert stop(proc) == 0
    assert count(pg_database, READINGS) == expected_readings(msgs)
    assert count(pg_database, "SELECT count(*) FROM rollup_marks") == 0
    assert count(pg_database, "SELECT sum(n) FROM readings_1m") == expected_readings(msgs)
