"""The agent over TLS: a real Mosquitto with a TLS listener and certificates made at test time.

Each broker also keeps its plain listener, which the tests read from where TLS is not the point.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bt_mqtt.core import wire
from bt_mqtt.demo.services import TlsListener
from tests.agent.helpers import agent_config, log_events, start_agent, write_config, write_replay
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector, read_retained
from tests.fixtures.procs import stop_process
from tests.fixtures.tls import Pki, make_pki
from tests.fixtures.waiting import wait_until

SID = "tls-scanner"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"
MAC = "AA:00:00:00:00:20"


def _tls_broker(factory: Callable[..., Broker], pki: Pki, require_cert: bool = False) -> Broker:
    listener = TlsListener(pki.ca_file, pki.server_cert, pki.server_key, require_cert)
    return factory(tls=listener)


def _config(
    tmp_path: Path, broker: Broker, tls: dict[str, str], *, loop: bool, name: str = "agent"
) -> Path:
    """The replay backend with one device whose content changes with every advert; the MQTT
    connection goes to the broker's TLS listener."""
    lines = [
        {"t": i * 0.05, "mac": MAC, "rssi": -60, "manufacturer_data": {"76": f"{i:04x}"}}
        for i in range(10)
    ]
    replay = write_replay(tmp_path / f"{name}.jsonl", lines)
    cfg = agent_config(broker, replay, scanner_id=SID, heartbeat={"interval_s": 0.5})
    assert broker.tls is not None
    cfg["mqtt"].update(port=broker.tls.port, tls=tls)
    cfg["bluetooth"]["replay"] = {"file": str(replay), "speed": 1.0 if loop else 0, "loop": loop}
    return write_config(tmp_path / f"{name}.yaml", cfg)


def _status(broker: Broker) -> dict[str, Any] | None:
    raw = read_retained(broker, STATUS)
    return None if raw is None else json.loads(raw)


def test_publishes_adverts_and_retained_heartbeat_over_tls(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Broker],
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    pki = make_pki(tmp_path / "pki")
    broker = _tls_broker(mosquitto_factory, pki)
    assert broker.tls is not None
    conf = _config(tmp_path, broker, {"ca_file": str(pki.ca_file)}, loop=True)
    # this collector reads through the TLS listener too, verifying the broker with the same CA
    col = MqttCollector(broker.host, broker.tls.port, RAW, STATUS)
    col.ssl = ssl.create_default_context(cafile=str(pki.ca_file))
    col.start()
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        raw = col.wait_for(3, timeout=15, predicate=lambda m: m.topic == RAW)
        msgs = [wire.decode(m.payload, SID) for m in raw]
        assert {m.advert.mac for m in msgs} == {MAC}
        seqs = [m.seq for m in msgs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        beat = col.wait_for(
            1,
            timeout=15,
            predicate=lambda m: (
                m.topic == STATUS
                and m.json()["status"] == "online"
                and m.json()["counters"]["published"] > 0
            ),
        )[-1].json()
        assert beat["scanner_id"] == SID
        retained = _status(broker)
        assert retained is not None and retained["status"] == "online"
        assert retained["boot"] == beat["boot"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "agent.log").read_text()
    finally:
        col.stop()
        stop_process(proc)
    events = [e.get("event") for e in log_events(tmp_path / "agent.log")]
    assert "mqtt_connected" in events and "mqtt_connect_failed" not in events
    final = _status(broker)
    assert final is not None and final["status"] == "offline" and final["reason"] == "shutdown"


def test_wrong_ca_refuses_broker_and_keeps_retrying(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Broker],
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    pki = make_pki(tmp_path / "pki")
    stranger = make_pki(tmp_path / "other", ca_name="some other CA")
    broker = _tls_broker(mosquitto_factory, pki)
    conf = _config(tmp_path, broker, {"ca_file": str(stranger.ca_file)}, loop=True)
    col = mqtt_collect(broker, "bt-mqtt/#")
    log_path = tmp_path / "agent.log"
    proc = start_agent(conf, log_path)
    try:

        def failures() -> list[dict[str, Any]]:
            return [e for e in log_events(log_path) if e.get("event") == "mqtt_connect_failed"]

        wait_until(lambda: len(failures()) >= 2, "two refused connects", 10)
        msg = failures()[0]["msg"]
        assert "TLS: the broker's certificate did not verify against" in msg, msg
        assert str(stranger.ca_file) in msg and "CERTIFICATE_VERIFY_FAILED" in msg, msg
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log_path.read_text()
    finally:
        stop_process(proc)
    col.sync()
    assert col.snapshot() == []
    assert "mqtt_connected" not in [e.get("event") for e in log_events(log_path)]


def test_client_certificate_required(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Broker],
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    pki = make_pki(tmp_path / "pki")
    broker = _tls_broker(mosquitto_factory, pki, require_cert=True)
    col = mqtt_collect(broker, RAW)
    tls = {
        "ca_file": str(pki.ca_file),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }
    conf = _config(tmp_path, broker, tls, loop=False)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        assert proc.wait(15) == 0, (tmp_path / "agent.log").read_text()
    finally:
        stop_process(proc)
    got = col.wait_for(10, timeout=10)
    assert [wire.decode(m.payload, SID).seq for m in got] == list(range(1, 11))
    final = _status(broker)
    assert final is not None and final["reason"] == "source ended"
    # without a client certificate the broker drops the agent after the TLS handshake (TLS 1.3
    # checks the client late), before CONNACK; gmqtt then reconnects on its own: the agent never
    # gets online, keeps trying, and still stops cleanly
    col.stop()
    everything = mqtt_collect(broker, "bt-mqtt/#")
    conf = _config(tmp_path, broker, {"ca_file": str(pki.ca_file)}, loop=True, name="nocert")
    log_path = tmp_path / "nocert.log"
    proc = start_agent(conf, log_path)
    try:
        wait_until(
            lambda: sum(e.get("event") == "mqtt_disconnected" for e in log_events(log_path)) >= 2,
            "two dropped connection attempts",
            10,
        )
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log_path.read_text()
    finally:
        stop_process(proc)
    assert "mqtt_connected" not in [e.get("event") for e in log_events(log_path)]
    everything.sync()
    assert [m.topic for m in everything.snapshot()] == [STATUS]  # the first run's offline status


def test_unusable_certificate_file_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"scanner_id: pi\nmqtt: {{tls: {{ca_file: {bogus}}}}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(cfg), "--check-config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{cfg}: mqtt.tls: the certificate files are not usable" in proc.stderr
