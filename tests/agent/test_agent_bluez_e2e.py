"""End to end: ``bt-mqtt-agent`` on the bluez backend against the BlueZ simulator process and a
real Mosquitto, with a configuration that uses only the keys of DESIGN.md."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bt_mqtt.bluezsim.control import SimClient
from bt_mqtt.core import wire
from tests.agent.helpers import start_agent, write_config
from tests.fixtures.bluez import SimProcess
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector, read_retained
from tests.fixtures.procs import stop_process

SID = "e2e-pi"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"
A, B, C, D = (f"C0:FF:EE:00:00:0{i}" for i in range(1, 5))


def sim_call(sim: SimProcess, fn: Callable[[SimClient], Any]) -> Any:
    async def go() -> Any:
        client = await SimClient.connect(sim.address)
        try:
            return await fn(client)
        finally:
            client.close()

    return asyncio.run(go())


def test_agent_on_simulated_bluez(
    tmp_path: Path,
    bluez_sim_proc: SimProcess,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    conf = write_config(
        tmp_path / "agent.yaml",
        {
            "scanner_id": SID,
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "bt-mqtt"},
            "bluetooth": {"backend": "bluez", "adapter": "hci0", "mode": "passive"},
            "dedup": {"window_s": 10, "max_interval_s": 300},
            "filters": {"blocklist": {"macs": [C]}, "allowlist": None, "min_rssi": None},
            "heartbeat": {"interval_s": 1},
            "log": {"level": "info", "format": "json"},
        },
    )
    col = mqtt_collect(mosquitto, RAW, STATUS)
    log = tmp_path / "agent.log"
    proc = start_agent(conf, log)
    try:
        online = col.wait_for(
            1,
            timeout=30,
            predicate=lambda m: (
                m.topic == STATUS
                and m.json()["status"] == "online"
                and m.json()["adapter"]["scan_mode"] in ("passive", "active")
            ),
        )[-1].json()
        assert online["adapter"]["name"] == "hci0" and online["adapter"]["powered"] is True

        def adv(mac: str, rssi: int, data: str) -> dict[str, Any]:
            return {"mac": mac, "rssi": rssi, "manufacturer_data": {"1177": data}}

        burst = [
            adv(A, -60, "0a01"),
            adv(A, -61, "0a01"),  # repeats (RSSI only)
            adv(A, -62, "0a01"),
            adv(B, -70, "0b01"),
            adv(C, -50, "0c01"),  # blocklisted
            adv(A, -63, "0a02"),  # new content
        ]
        sim_call(bluez_sim_proc, lambda s: s.advertise_many(burst))
        col.wait_for(3, timeout=15, predicate=lambda m: m.topic == RAW)
        beat = col.wait_for(
            1,
            timeout=15,
            predicate=lambda m: (
                m.topic == STATUS
                and m.json()["counters"]["deduplicated"] >= 2
                and m.json()["counters"]["filtered"] >= 1
            ),
        )[-1].json()
        assert beat["last_advert_age_s"] is not None and beat["last_advert_age_s"] < 10
        col.sync()
        msgs = [wire.decode(m.payload, SID) for m in col.snapshot(RAW)]
        seen = [(m.advert.mac, m.advert.manufacturer_data[1177].hex()) for m in msgs]
        assert seen == [(A, "0a01"), (B, "0b01"), (A, "0a02")]
        assert [m.seq for m in msgs] == [1, 2, 3]

        # org.bluez restarts (bluetoothd crash): the same agent process keeps publishing
        sim_call(bluez_sim_proc, lambda s: s.restart())
        deadline = time.monotonic() + 20
        while not any(m.json()["mac"] == D for m in col.snapshot(RAW)):
            assert time.monotonic() < deadline, "nothing published after org.bluez restarted"
            assert proc.poll() is None
            sim_call(bluez_sim_proc, lambda s: s.advertise(adv(D, -40, "0d01")))
            time.sleep(0.2)  # retry pace while the backend re-finds the adapter
        assert sum(m.json()["mac"] == D for m in col.snapshot(RAW)) == 1  # repeats deduplicated
        assert not any(m.json()["mac"] == C for m in col.snapshot(RAW))
        retained = read_retained(mosquitto, STATUS)
        assert retained is not None and b'"status":"online"' in retained

        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        will = col.wait_for(
            1, timeout=15, predicate=lambda m: m.topic == STATUS and m.json()["status"] == "offline"
        )[-1].json()
        assert will["reason"] == "connection lost"
    finally:
        stop_process(proc)
    retained = read_retained(mosquitto, STATUS)
    assert retained is not None and b'"status":"offline"' in retained
