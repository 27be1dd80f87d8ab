"""The ``privacy`` option: undecoded adverts of random (or unknown) addresses are pseudonymised
by default, or dropped, or kept; decoded sensors always stay as they are.  Real Mosquitto and
PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid16
from bt_mqtt.core.wire import MAC_RE, encode, format_ts
from bt_mqtt.subscriber.privacy import Privacy
from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import free_port
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import (
    count,
    publish,
    scrape,
    start_subscriber,
    stop,
    wait_subscribed,
    write_config,
)
from tests.subscriber.streams import Msg

PHONE = "5A:11:22:33:44:55"  # a resolvable private address (top bits 01)
PASSER = "1B:66:77:88:99:AA"  # non-resolvable private (00), address type unknown
TV = "00:1A:7D:DA:71:13"  # public, undecoded
SENSOR = "E4:12:34:56:78:9A"  # static random, a BTHome sensor: decoded
BTHOME = {uuid16(0xFCD2): bytes.fromhex("40016402ca09")}  # battery 100 %, temperature 25.06 C


def _adverts() -> list[Advert]:
    apple = {0x004C: bytes.fromhex("1005031c0a4e3f")}  # a phone's "nearby" data: no parser
    return [
        Advert(PHONE, -60, "random", name="Alice's iPhone", manufacturer_data=apple),
        Advert(PASSER, -80, None, name="Bob's watch", manufacturer_data={0x0075: b"\x01\x02"}),
        Advert(TV, -70, "public", name="Living room TV", manufacturer_data={0x0075: b"\x42"}),
        Advert(SENSOR, -50, "random", name="sensor", service_data=BTHOME),
    ]


def _stream(n_rounds: int, t0: float, first_seq: int = 1) -> list[Msg]:
    out = []
    seq = first_seq
    for r in range(n_rounds):
        for adv in _adverts():
            payload = encode(adv, "s1", "boot0001", seq, format_ts(t0 + r))
            out.append(Msg("bt-mqtt/raw/s1", payload, adv.mac, "s1", seq))
            seq += 1
    return out


def _rows(db: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def _run(
    broker: Broker, db: str, tmp_path: Path, msgs: list[Msg], stored: int, **privacy: Any
) -> dict[str, float]:
    """Run the subscriber with ``privacy`` until ``stored`` adverts are in; its metrics."""
    port = free_port()
    extra: dict[str, Any] = {"metrics": {"port": port}}
    if privacy:
        extra["privacy"] = privacy
    cfg = write_config(tmp_path / "sub.yaml", broker.port, db, **extra)
    log = tmp_path / "sub.log"
    proc = start_subscriber(cfg, log)
    try:
        wait_subscribed(log, proc)
        publish(broker.port, msgs)
        wait_until(
            lambda: scrape(port).get("received_total") == len(msgs),
            "all received",
            60,
            proc=proc,
            log=log,
            every=0.1,
        )
        raw = "SELECT count(*) FROM raw_advertisements"
        wait_until(
            lambda: count(db, raw) == stored, f"{stored} adverts", 30, proc=proc, log=log, every=0.1
        )
        time.sleep(0.3)  # anything else would be committed by now
        return scrape(port)
    finally:
        assert stop(proc) == 0


@pytest.mark.slow
def test_default_pseudonymises_undecoded_random_addresses(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    msgs = _stream(3, time.time())
    metrics = _run(mosquitto, pg_database, tmp_path, msgs, stored=12)
    rows = _rows(
        pg_database,
        "SELECT mac, parser, payload->>'mac', payload->'name' FROM raw_advertisements ORDER BY seq",
    )
    macs = {r[0] for r in rows}
    assert PHONE not in macs and PASSER not in macs  # never stored, anywhere
    assert {TV, SENSOR} <= macs  # public and decoded: as received
    pseudo = [r for r in rows if r[0] not in (TV, SENSOR)]
    assert len(pseudo) == 6
    for mac, parser, payload_mac, payload_name in pseudo:
        assert MAC_RE.fullmatch(mac) and 0x80 <= int(mac[:2], 16) <= 0xBF
        assert parser is None and payload_mac == mac and payload_name is None
    assert len({r[0] for r in pseudo}) == 2  # one pseudonym per device (within a day)
    assert [r[0] for r in rows if r[0] == SENSOR] == [SENSOR] * 3
    names = dict(_rows(pg_database, "SELECT mac, name FROM devices"))
    assert names[TV] == "Living room TV" and names[SENSOR] == "sensor"
    assert all(names[m] is None for m in {r[0] for r in pseudo})
    everything = str(_rows(pg_database, "SELECT payload::text FROM raw_advertisements"))
    assert "Alice" not in everything and "Bob" not in everything
    assert count(pg_database, "SELECT count(*) FROM sensor_readings WHERE mac = %s", (SENSOR,)) == 6
    assert metrics["pseudonymised_total"] == 6 and metrics["privacy_dropped_total"] == 0


@pytest.mark.slow
def test_drop_stores_nothing_of_them_and_counts_per_scanner(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    msgs = _stream(3, time.time())
    metrics = _run(
        mosquitto,
        pg_database,
        tmp_path,
        msgs,
        stored=6,
        random_addresses="drop",
    )
    macs = [r[0] for r in _rows(pg_database, "SELECT mac FROM raw_advertisements ORDER BY seq")]
    assert macs == [TV, SENSOR] * 3
    assert {r[0] for r in _rows(pg_database, "SELECT mac FROM devices")} == {TV, SENSOR}
    ((stored, dropped),) = _rows(
        pg_database, "SELECT advert_count, privacy_dropped FROM scanners WHERE scanner_id = 's1'"
    )
    assert (stored, dropped) == (6, 6)  # every seq accounted for
    assert metrics["privacy_dropped_total"] == 6
    assert count(pg_database, "SELECT count(*) FROM rejected_messages") == 0


@pytest.mark.slow
def test_keep_and_public_options(mosquitto: Broker, pg_database: str, tmp_path: Path) -> None:
    msgs = _stream(1, time.time())
    _run(
        mosquitto,
        pg_database,
        tmp_path,
        msgs,
        stored=4,
        random_addresses="keep",
        public_addresses="pseudonymise",
    )
    macs = [r[0] for r in _rows(pg_database, "SELECT mac FROM raw_advertisements ORDER BY seq")]
    assert macs[0] == PHONE and macs[1] == PASSER and macs[3] == SENSOR
    assert macs[2] != TV and 0x80 <= int(macs[2][:2], 16) <= 0xBF


@pytest.mark.slow
def test_a_key_file_keeps_pseudonyms_across_restarts(
    mosquitto: Broker, pg_database: str, tmp_path: Path
) -> None:
    key = tmp_path / "privacy.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    t0 = time.time()
    _run(mosquitto, pg_database, tmp_path, _stream(1, t0), stored=4, key_file=str(key))
    first = {r[0] for r in _rows(pg_database, "SELECT mac FROM raw_advertisements")}
    _run(mosquitto, pg_database, tmp_path, _stream(1, t0, 5), stored=8, key_file=str(key))
    both = {r[0] for r in _rows(pg_database, "SELECT mac FROM raw_advertisements")}
    assert both == first and len(first) == 4
    expected = Privacy(key=b"0123456789abcdef0123456789abcdef").pseudonym(PHONE, int(t0 // 86400))
    assert expected in first or int(time.time() // 86400) != int(t0 // 86400)


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ("  random_addresses: hide\n", "privacy.random_addresses: 'hide' is not one of"),
        ("  public_addresses: true\n", "privacy.public_addresses"),
        ("  key_file: /nonexistent/key\n", "privacy.key_file: cannot read '/nonexistent/key'"),
        ("  key_file: {short}\n", "privacy.key_file: '{short}' holds 5 bytes"),
        ("  colour: blue\n", "privacy.colour"),
    ],
)
def test_bad_privacy_settings_exit_2_naming_the_key(
    tmp_path: Path, section: str, needle: str
) -> None:
    short = tmp_path / "short.key"
    short.write_text("abcde\n")
    cfg = tmp_path / "c.yaml"
    text = "database:\n  url: postgresql://127.0.0.1:1/x\nprivacy:\n" + section
    cfg.write_text(text.replace("{short}", str(short)))
    res = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(cfg), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert needle.replace("{short}", str(short)) in res.stderr


def test_pseudonyms_depend_on_key_day_and_address() -> None:
    a, b = Privacy(key=b"k" * 16), Privacy(key=b"j" * 16)
    day = 20000
    p = a.pseudonym(PHONE, day)
    assert MAC_RE.fullmatch(p) and int(p[:2], 16) >> 6 == 0b10
    assert p == a.pseudonym(PHONE, day) == Privacy(key=b"k" * 16).pseudonym(PHONE, day)
    assert len({p, a.pseudonym(PHONE, day + 1), b.pseudonym(PHONE, day), a.pseudonym(TV, day)}) == 4
    assert a.action("random") == a.action(None) == "pseudonymise" and a.action("public") == "keep"
