"""Scanner commands end to end: ``bt-mqtt-agent`` (bluez backend) on the BlueZ simulator and a
real Mosquitto, driven by the ``bt-mqtt command`` CLI and by hand-made (malformed, forged)
messages; the effect of each command is checked where it lands (adverts published or not, the
simulator's monitor registrations, the state file)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.agent.helpers import log_events, start_agent, write_config
from tests.agent.test_agent_bluez_e2e import sim_call
from tests.fixtures.bluez import SimProcess
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector
from tests.fixtures.procs import stop_process

SID = "cmd-pi"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"
REPLY = f"bt-mqtt/scanner/{SID}/reply"
A, B, C = (f"C0:FF:EE:00:01:0{i}" for i in range(1, 4))


def adv(mac: str, data: str) -> dict[str, Any]:
    return {"mac": mac, "rssi": -60, "manufacturer_data": {"1177": data}}


def config(tmp_path: Path, broker: Broker, **commands: Any) -> Path:
    return write_config(
        tmp_path / "agent.yaml",
        {
            "scanner_id": SID,
            "mqtt": {"host": broker.host, "port": broker.port},
            "bluetooth": {"backend": "bluez", "adapter": "hci0", "mode": "passive"},
            "heartbeat": {"interval_s": 1},
            "log": {"level": "info", "format": "json"},
            "commands": commands,
        },
    )


def command(
    broker: Broker, scanner: str, verb: str, *args: str, timeout: float = 10
) -> tuple[int, list[dict[str, Any]], str]:
    """``bt-mqtt command``: (exit status, replies printed, stderr)."""
    argv = [sys.executable, "-m", "bt_mqtt.cli.main", "command", scanner, verb, *args]
    argv += ["--host", broker.host, "--port", str(broker.port), "--timeout", str(timeout)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, check=False)
    replies = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return res.returncode, replies, res.stderr


def raw_pub(broker: Broker, topic: str, payload: str, retain: bool = False) -> None:
    argv = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1"]
    argv += ["-t", topic, "-m", payload, *(["-r"] if retain else [])]
    subprocess.run(argv, check=True, timeout=30)


def macs(col: MqttCollector) -> list[str]:
    return [m.json()["mac"] for m in col.snapshot(RAW)]


def wait_online(col: MqttCollector) -> None:
    col.wait_for(
        1,
        timeout=30,
        predicate=lambda m: (
            m.topic == STATUS
            and m.json()["status"] == "online"
            and m.json()["adapter"]["scan_mode"] in ("passive", "active")
        ),
    )


def test_commands_act_and_bad_ones_change_nothing(
    tmp_path: Path,
    bluez_sim_proc: SimProcess,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    conf = config(tmp_path, mosquitto, enabled=True)
    state = tmp_path / "agent.state.json"
    col = mqtt_collect(mosquitto, RAW, STATUS, REPLY)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        wait_online(col)
        # status: a heartbeat now, returned in the reply
        beats = len(col.snapshot(STATUS))
        t0 = time.monotonic()
        rc, (reply,), _ = command(mosquitto, SID, "status")
        assert time.monotonic() - t0 < 10
        assert rc == 0 and reply["ok"] and reply["error"] is None and reply["ms"] < 2000
        assert reply["result"]["scanner_id"] == SID and reply["result"]["status"] == "online"
        col.wait_for(beats + 1, predicate=lambda m: m.topic == STATUS)

        # set-filters: A is blocked from the next advert on, and the state file keeps it
        sim_call(bluez_sim_proc, lambda s: s.advertise(adv(A, "01")))
        col.wait_for(1, predicate=lambda m: m.topic == RAW)
        rc, (reply,), _ = command(
            mosquitto, SID, "set-filters", json.dumps({"blocklist": {"macs": [A]}})
        )
        assert rc == 0 and reply["ok"] and reply["ms"] < 2000
        assert reply["result"]["filters"]["blocklist"]["macs"] == [A]
        kept = json.loads(state.read_text())
        assert kept["filters"]["blocklist"]["macs"] == [A] and "dedup" not in kept
        sim_call(bluez_sim_proc, lambda s: s.advertise_many([adv(A, "02"), adv(B, "01")]))
        col.wait_for(1, predicate=lambda m: m.topic == RAW and m.json()["mac"] == B)
        assert macs(col) == [A, B]

        # restart-scan: the agent registers its monitor with (simulated) BlueZ again
        before = sim_call(bluez_sim_proc, lambda s: s.call("Stats"))
        rc, (reply,), _ = command(mosquitto, SID, "restart-scan")
        assert rc == 0 and reply["ok"] and reply["ms"] < 2000
        assert reply["result"]["scan_mode"] in ("passive", "active")
        after = sim_call(bluez_sim_proc, lambda s: s.call("Stats"))
        assert after["monitors_registered"] == before["monitors_registered"] + 1
        sim_call(bluez_sim_proc, lambda s: s.advertise(adv(C, "01")))
        col.wait_for(1, predicate=lambda m: m.topic == RAW and m.json()["mac"] == C)

        # power-cycle-adapter: Powered off and on in (simulated) BlueZ, scanning again after
        rc, (reply,), _ = command(mosquitto, SID, "power-cycle-adapter")
        assert rc == 0 and reply["ok"] and reply["result"]["powered"] is True
        cycled = sim_call(bluez_sim_proc, lambda s: s.call("Stats"))
        assert cycled["power_changes"] == after["power_changes"] + 2
        sim_call(bluez_sim_proc, lambda s: s.advertise(adv(C, "02")))
        col.wait_for(2, predicate=lambda m: m.topic == RAW and m.json()["mac"] == C)

        # rejected, with a reason on the reply topic, and nothing changed
        cmd_topic = f"bt-mqtt/command/{SID}"
        replies_before = len(col.snapshot(REPLY))
        bad = [
            ("not json", None, "not JSON"),
            ('{"id": "x1", "command": "explode"}', "x1", "is not one of"),
            ('{"id": "x2", "command": "reboot"}', "x2", "allow_reboot"),
            (
                '{"id": "x3", "command": "set-filters", "args": {"blocklist": {"macs": ["nope"]}}}',
                "x3",
                "blocklist.macs[0]",
            ),
            ('{"id": "x4", "command": "set-dedup", "args": {"window_s": -1}}', "x4", "window_s"),
            ('{"id": "x5", "command": "status", "args": {"extra": 1}}', "x5", "takes none"),
            ('{"id": "x1", "command": "status"}', "x1", None),  # x1 was rejected: not "seen"
        ]
        for payload, _rid, _why in bad:
            raw_pub(mosquitto, cmd_topic, payload)
        got = col.wait_for(replies_before + len(bad), predicate=lambda m: m.topic == REPLY)
        answers = [m.json() for m in got[replies_before:]]
        for answer, (_payload, rid, why) in zip(answers, bad, strict=True):
            assert answer["id"] == rid
            if why is None:
                assert answer["ok"], answer
            else:
                assert answer["ok"] is False and why in answer["error"], answer
        raw_pub(mosquitto, cmd_topic, '{"id": "x1", "command": "status"}')  # a repeated id
        (dup,) = col.wait_for(replies_before + len(bad) + 1, predicate=lambda m: m.topic == REPLY)[
            -1:
        ]
        assert dup.json()["ok"] is False and "already handled" in dup.json()["error"]
        # another scanner's topic: not subscribed, no reply, no effect
        raw_pub(mosquitto, "bt-mqtt/command/other-pi", '{"id": "o1", "command": "restart-agent"}')
        rc, (cfg,), _ = command(mosquitto, SID, "get-config")
        assert rc == 0 and cfg["result"]["filters"]["blocklist"]["macs"] == [A]
        assert cfg["result"]["dedup"]["window_s"] == 10.0
        assert json.loads(state.read_text())["filters"]["blocklist"]["macs"] == [A]
        assert not any(m.json()["id"] == "o1" for m in col.snapshot(REPLY))
        rc, (st,), _ = command(mosquitto, SID, "status")
        counters = st["result"]["counters"]
        assert counters["commands_rejected"] == len(bad) - 1 + 1
        assert counters["commands_ok"] == 6 and counters["commands_failed"] == 0

        # get-logs and set-log-level
        rc, (logs,), _ = command(mosquitto, SID, "get-logs", "lines=5")
        assert rc == 0 and 0 < len(logs["result"]["lines"]) <= 5
        assert any("command" in line for line in logs["result"]["lines"])
        rc, (lvl,), _ = command(mosquitto, SID, "set-log-level", "level=debug")
        assert rc == 0 and lvl["result"] == {"level": "debug"}
        rc, (cfg,), _ = command(mosquitto, SID, "get-config")
        assert cfg["result"]["log"]["level"] == "debug"

        # a CLI usage error, and a failing command exits 1
        assert command(mosquitto, SID, "set-dedup", "window_s")[0] == 2
        rc, (failed,), err = command(mosquitto, SID, "set-dedup", "window_s=-2")
        assert rc == 1 and failed["ok"] is False and "window_s" in err
        assert proc.poll() is None
    finally:
        stop_process(proc)
    assert proc.returncode == 0


def test_state_survives_a_restart_and_restart_agent_exits_for_systemd(
    tmp_path: Path,
    bluez_sim_proc: SimProcess,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    conf = config(tmp_path, mosquitto, enabled=True)
    col = mqtt_collect(mosquitto, RAW, STATUS, REPLY)
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        wait_online(col)
        assert (
            command(mosquitto, SID, "set-filters", f"blocklist={json.dumps({'macs': [A]})}")[0] == 0
        )
        assert command(mosquitto, SID, "set-dedup", "window_s=0")[0] == 0
        rc, (reply,), _ = command(mosquitto, SID, "restart-agent")
        assert rc == 0 and reply["result"] == {"exit_code": 4}
        assert proc.wait(20) == 4
    finally:
        stop_process(proc)
    offline = [m.json() for m in col.snapshot(STATUS) if m.json()["status"] == "offline"]
    assert offline[-1]["reason"] == "restart-agent command"

    col2 = mqtt_collect(mosquitto, RAW, STATUS)
    proc = start_agent(conf, tmp_path / "agent2.log")
    try:
        wait_online(col2)
        rc, (cfg,), _ = command(mosquitto, SID, "get-config")
        assert cfg["result"]["filters"]["blocklist"]["macs"] == [A]
        assert cfg["result"]["dedup"]["window_s"] == 0.0
        sim_call(bluez_sim_proc, lambda s: s.advertise_many([adv(A, "01"), adv(B, "01")]))
        sim_call(bluez_sim_proc, lambda s: s.advertise(adv(B, "01")))  # window 0: not a repeat
        col2.wait_for(2, predicate=lambda m: m.topic == RAW)
        assert macs(col2) == [B, B]
    finally:
        stop_process(proc)


def test_a_broken_state_file_is_reported_not_fatal_and_reboot_runs_its_command(
    tmp_path: Path,
    bluez_sim_proc: SimProcess,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    marker = tmp_path / "rebooted"
    reboot = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('now'); print('bye')"]
    conf = config(tmp_path, mosquitto, enabled=True, allow_reboot=True, reboot_command=reboot)
    state = tmp_path / "agent.state.json"
    state.write_text('{"filters": {"blocklist": {"macs": ["zz"]}}}')
    col = mqtt_collect(mosquitto, RAW, STATUS)
    log = tmp_path / "agent.log"
    proc = start_agent(conf, log)
    try:
        wait_online(col)
        rc, (cfg,), _ = command(mosquitto, SID, "get-config")
        assert rc == 0 and cfg["result"]["filters"]["blocklist"]["macs"] == []
        # reboot, allowed here: the configured command runs, its outcome is the reply's
        rc, (reply,), _ = command(mosquitto, SID, "reboot")
        assert rc == 0 and reply["result"]["output"] == "bye" and marker.read_text() == "now"
    finally:
        stop_process(proc)
    (err,) = [e for e in log_events(log) if e.get("event") == "command_state_invalid"]
    assert str(state) in err["msg"] and "blocklist.macs[0]" in err["msg"]


def test_commands_disabled_means_no_subscription_and_no_effect(
    tmp_path: Path,
    bluez_sim_proc: SimProcess,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    conf = config(tmp_path, mosquitto)  # commands: {} -> enabled false
    col = mqtt_collect(mosquitto, RAW, STATUS, REPLY)
    log = tmp_path / "agent.log"
    proc = start_agent(conf, log)
    try:
        wait_online(col)
        rc, replies, err = command(mosquitto, SID, "set-filters", '{"min_rssi": 0}', timeout=2)
        assert rc == 3 and replies == [] and "no reply" in err
        rc, _, _ = command(mosquitto, "all", "restart-agent", timeout=2)
        assert rc == 3
        sim_call(bluez_sim_proc, lambda s: s.advertise(adv(A, "01")))
        col.wait_for(1, predicate=lambda m: m.topic == RAW)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        stop_process(proc)
    assert not (tmp_path / "agent.state.json").exists()
    assert not any(str(e.get("event", "")).startswith("command") for e in log_events(log))
    assert col.snapshot(REPLY) == []
