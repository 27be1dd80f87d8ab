"""The agent as a subprocess on the replay backend against a real Mosquitto."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bt_mqtt.core import wire
from tests.agent.helpers import agent_config, log_events, start_agent, write_config, write_replay
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector, read_retained
from tests.fixtures.procs import require_binary, stop_process
from tests.fixtures.waiting import wait_until

SID = "test-scanner"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"


def _adv(mac: str, t: float, rssi: int = -60, **fields: Any) -> dict[str, Any]:
    return {"t": t, "mac": mac, "rssi": rssi, **fields}


def _retained_status(broker: Broker) -> dict[str, Any] | None:
    raw = read_retained(broker, STATUS)
    return None if raw is None else json.loads(raw)


def test_distinct_once_repeats_dropped_blocklist_never(
    tmp_path: Path, mosquitto: Broker, mqtt_collect: Callable[..., MqttCollector]
) -> None:
    a, b = "AA:00:00:00:00:01", "AA:00:00:00:00:02"
    replay = write_replay(
        tmp_path / "r.jsonl",
        [
            _adv(a, 0, manufacturer_data={"76": "0102"}),
            _adv(a, 0, rssi=-70, manufacturer_data={"76": "0102"}),  # repeat: RSSI only
            _adv(b, 0, name="thermo", service_uuids=["0000181a-0000-1000-8000-00805f9b34fb"]),
            _adv(a, 0, rssi=-65, manufacturer_data={"76": "0102"}),  # repeat again
            _adv(a, 0, manufacturer_data={"76": "0103"}),  # changed content
            _adv("BB:00:00:00:00:01", 0),  # blocked MAC
            _adv("CC:11:22:00:00:01", 0),  # blocked prefix
            _adv("AA:00:00:00:00:03", 0, manufacturer_data={"6": "00"}),  # blocked company id
            _adv(
                "AA:00:00:00:00:04", 0, service_data={"0000fe95-0000-1000-8000-00805f9b34fb": "01"}
            ),
            _adv("AA:00:00:00:00:05", 0, name="Hidden tag"),  # blocked name glob
            _adv("AA:00:00:00:00:06", 0, rssi=-99),  # below min_rssi
            "this line is not JSON",
        ],
    )
    cfg = agent_config(
        mosquitto,
        replay,
        filters={
            "blocklist": {
                "macs": ["bb:00:00:00:00:01"],
                "prefixes": ["CC:11:22"],
                "company_ids": [6],
                "service_uuids": ["fe95"],
                "names": ["Hidden*"],
            },
            "min_rssi": -90,
        },
    )
    conf = write_config(tmp_path / "agent.yaml", cfg)
    raw = mqtt_collect(mosquitto, RAW)
    proc = start_agent(conf, tmp_path / "agent.log")
    assert proc.wait(30) == 0, (tmp_path / "agent.log").read_text()

    raw.sync()
    msgs = [wire.decode(m.payload, SID) for m in raw.snapshot()]
    assert [(m.advert.mac, m.seq) for m in msgs] == [(a, 1), (b, 2), (a, 3)]
    assert msgs[0].advert.manufacturer_data == {76: b"\x01\x02"}
    assert msgs[2].advert.manufacturer_data == {76: b"\x01\x03"}
    assert msgs[1].advert.name == "thermo"
    assert len({m.boot for m in msgs}) == 1
    assert all(not m.retain and m.qos == 1 for m in raw.snapshot())

    status = _retained_status(mosquitto)
    assert status is not None
    assert status["status"] == "offline" and status["reason"] == "source ended"
    c = status["counters"]
    assert (c["received"], c["published"], c["deduplicated"], c["filtered"]) == (11, 3, 2, 6)
    assert c["bad_lines"] == 1


def _looping_config(tmp_path: Path, broker: Broker, n: int = 20, **extra: Any) -> Path:
    # one device whose content changes with every advert, 20 adverts a second, forever
    lines = [
        _adv("AA:00:00:00:00:10", i * 0.05, manufacturer_data={"76": f"{i:04x}"}) for i in range(n)
    ]
    replay = write_replay(tmp_path / "loop.jsonl", lines)
    cfg = agent_config(broker, replay, heartbeat={"interval_s": 0.5}, **extra)
    cfg["bluetooth"]["replay"] = {"file": str(replay), "speed": 1.0, "loop": True}
    return write_config(tmp_path / "agent.yaml", cfg)


def test_heartbeat_retained_then_sigterm_leaves_offline(
    tmp_path: Path, mosquitto: Broker, mqtt_collect: Callable[..., MqttCollector]
) -> None:
    conf = _looping_config(tmp_path, mosquitto)
    status = mqtt_collect(mosquitto, STATUS)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        # the start-up heartbeat, then periodic ones proving that adverts flow
        beats = status.wait_for(2, timeout=20, predicate=lambda m: m.json()["status"] == "online")
        first = beats[0].json()
        assert first["scanner_id"] == SID and first["adapter"]["scan_mode"] == "replay"
        assert beats[0].retain is False  # live delivery; retained copy checked below
        later = status.wait_for(
            1,
            timeout=20,
            predicate=lambda m: (
                m.json()["status"] == "online" and (m.json()["received_per_s"] or 0) > 5
            ),
        )[-1].json()
        assert later["counters"]["published"] > 0
        assert later["last_advert_age_s"] is not None and later["last_advert_age_s"] < 2
        assert later["devices_seen"] == 1
        assert later["cpu_pct"] is not None and later["rss_mb"] > 5
        retained = _retained_status(mosquitto)
        assert retained is not None and retained["status"] == "online"
        assert retained["boot"] == first["boot"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        stop_process(proc)
    final = _retained_status(mosquitto)
    assert final is not None
    assert final["status"] == "offline" and final["reason"] == "shutdown"
    assert final["counters"]["published"] >= later["counters"]["published"]


def test_sigkill_leaves_last_will(
    tmp_path: Path, mosquitto: Broker, mqtt_collect: Callable[..., MqttCollector]
) -> None:
    conf = _looping_config(tmp_path, mosquitto)
    status = mqtt_collect(mosquitto, STATUS)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        boot = status.wait_for(1, timeout=20)[0].json()["boot"]
        proc.kill()
        proc.wait(10)
        will = status.wait_for(1, timeout=15, predicate=lambda m: m.json()["status"] == "offline")[
            -1
        ].json()
    finally:
        stop_process(proc)
    assert will["reason"] == "connection lost" and will["boot"] == boot
    retained = _retained_status(mosquitto)
    assert retained is not None and retained["status"] == "offline"


def test_keeps_publishing_after_broker_restart(
    tmp_path: Path, mosquitto: Broker, mqtt_collect: Callable[..., MqttCollector]
) -> None:
    conf = _looping_config(tmp_path, mosquitto)
    before = mqtt_collect(mosquitto, RAW)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        seq_before = json.loads(before.wait_for(5, timeout=20)[-1].payload)["seq"]
        before.stop()
        mosquitto.stop()
        time.sleep(1.0)  # the outage being simulated, not synchronisation
        mosquitto.start()
        after = mqtt_collect(mosquitto, RAW, STATUS)
        got = after.wait_for(5, timeout=30, predicate=lambda m: m.topic == RAW)
        seqs = [json.loads(m.payload)["seq"] for m in got]
        assert seqs == sorted(seqs) and seqs[-1] > seq_before
        # The broker keeps (persists) the last will it published when it went down; the agent's
        # first heartbeat after reconnecting replaces it.  The outage was ridden out in the
        # spool: nothing dropped.
        beat = after.wait_for(
            1,
            timeout=20,
            predicate=lambda m: (
                m.topic == STATUS
                and m.json()["status"] == "online"
                and m.json()["counters"]["spooled"] > 0
            ),
        )[-1].json()
        assert beat["counters"]["dropped_offline"] == 0
        assert beat["counters"]["mqtt_connects"] >= 2
        retained = _retained_status(mosquitto)
        assert retained is not None and retained["status"] == "online"
        assert proc.poll() is None
    finally:
        stop_process(proc)
    wait_until(lambda: proc.poll() is not None, "agent exit")
    assert proc.returncode == 0


@pytest.mark.slow
def test_username_and_password_file(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Broker],
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    pwfile = tmp_path / "passwd"
    exe = require_binary("mosquitto_passwd", "apt-get install mosquitto")
    subprocess.run([exe, "-c", "-b", str(pwfile), "agent", "s3cret"], check=True)
    acl = tmp_path / "acl"
    acl.write_text("user agent\ntopic readwrite #\n")
    broker = mosquitto_factory(extra_conf=f"allow_anonymous false\npassword_file {pwfile}\n")
    secret = tmp_path / "agent-password"
    secret.write_text("s3cret\n")
    replay = write_replay(tmp_path / "r.jsonl", [_adv("AA:00:00:00:00:01", 0)])
    cfg = agent_config(broker, replay)
    cfg["mqtt"].update(username="agent", password_file=str(secret))
    conf = write_config(tmp_path / "agent.yaml", cfg)
    # the collector must log in too: reuse the agent's account
    col = MqttCollector(broker.host, broker.port, RAW)
    col.username, col.password = "agent", "s3cret"
    col.start()
    try:
        proc = start_agent(conf, tmp_path / "agent.log")
        assert proc.wait(30) == 0, (tmp_path / "agent.log").read_text()
        assert col.wait_for(1)[0].json()["mac"] == "AA:00:00:00:00:01"
    finally:
        col.stop()
    # a wrong password is refused: the agent says so and keeps retrying until stopped
    secret.write_text("wrong\n")
    log2 = tmp_path / "agent2.log"
    proc = start_agent(conf, log2)
    try:
        wait_until(
            lambda: any(e.get("event") == "mqtt_connect_failed" for e in log_events(log2)),
            "a logged connect failure",
        )
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop_process(proc)
