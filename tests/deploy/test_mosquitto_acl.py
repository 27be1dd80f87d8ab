"""The shipped Mosquitto ACL (deploy/mosquitto/bt-mqtt.acl) on a real broker with password
authentication: a scanner (MQTT username = scanner id) publishes only its own adverts, status,
last will and replies and reads only its own commands; the subscriber account reads everything
and writes only alerts and commands (the only account that may command scanners); the console
account writes nothing; anonymous clients are refused.

Forged messages go out with ``mosquitto_pub -q 1``, which returns once the broker answered the
PUBLISH, so a message sent afterwards is certainly handled after it: each test ends with such a
sentinel, and when the sentinel has arrived, the forged messages never will.  A test-only
``test-admin`` account (appended to a copy of the shipped file) sends commands and sentinels.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.helpers import start_agent, write_config, write_replay
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector, Received
from tests.fixtures.procs import stop_process

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "bt-mqtt.acl"
A, B = "scanner-a", "scanner-b"
SUB, CON, ADMIN = "bt-mqtt-subscriber", "bt-mqtt-console", "test-admin"
PASSWORDS = {A: "pw-a", B: "pw-b", SUB: "pw-sub", CON: "pw-con", ADMIN: "pw-admin"}
WILL_CLIENT = """
import asyncio, sys, gmqtt
host, port, user, password, topic = sys.argv[1:]
async def main():
    will = gmqtt.Message(topic, b"will", qos=1, retain=True)
    client = gmqtt.Client("will-test", will_message=will)
    client.set_auth_credentials(user, password)
    try:
        await client.connect(host, int(port), keepalive=60)
    except Exception:
        print("REFUSED", flush=True)
        return
    print("CONNECTED", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.fixture
def broker(tmp_path: Path, mosquitto_factory: Callable[..., Broker]) -> Broker:
    passwd = tmp_path / "passwd"
    for i, (user, pw) in enumerate(PASSWORDS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, pw], check=True)
    acl = tmp_path / "acl"
    acl.write_text(ACL.read_text() + f"\nuser {ADMIN}\ntopic readwrite #\n")
    # the fixture's broker runs as whoever runs the tests, so it can read these files
    conf = f"\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    return mosquitto_factory(extra_conf=conf)


@pytest.fixture
def collect(broker: Broker) -> Iterator[Callable[..., MqttCollector]]:
    made: list[MqttCollector] = []

    def make(user: str, *topics: str) -> MqttCollector:
        col = MqttCollector(broker.host, broker.port, *topics)
        col.username, col.password = user, PASSWORDS[user]
        made.append(col.start())
        return col

    yield make
    for col in made:
        col.stop()


def pub(
    broker: Broker, user: str | None, topic: str, payload: str, retain: bool = False
) -> subprocess.CompletedProcess[str]:
    """One QoS 1 publish (MQTT 5); returns after the broker's PUBACK (or refusal)."""
    auth = [] if user is None else ["-u", user, "-P", PASSWORDS[user]]
    argv = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1"]
    argv += [*auth, "-t", topic, "-m", payload, *(["-r"] if retain else [])]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def topics(col: MqttCollector) -> list[str]:
    return [m.topic for m in col.snapshot()]


def sentinel(col: MqttCollector, broker: Broker, topic: str = "bt-mqtt/command/all") -> None:
    assert pub(broker, ADMIN, topic, "sentinel").returncode == 0
    col.wait_for(1, predicate=lambda m: m.topic == topic and m.payload == b"sentinel")


def test_a_scanner_publishes_only_as_itself(
    broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    everything = collect(SUB, "bt-mqtt/#")
    shared = collect(SUB, "$share/ingest/bt-mqtt/raw/+", "bt-mqtt/scanner/+/status")
    assert (
        pub(broker, B, f"bt-mqtt/scanner/{B}/status", '{"status":"online"}', True).returncode == 0
    )
    forged = [
        (f"bt-mqtt/raw/{B}", '{"scanner_id":"scanner-b"}', False),
        (f"bt-mqtt/scanner/{B}/status", '{"status":"offline"}', True),
        (f"bt-mqtt/scanner/{B}/reply", "{}", False),
        (f"bt-mqtt/command/{B}", "{}", False),
        ("bt-mqtt/command/all", "{}", False),
        ("bt-mqtt/alert/scanner_offline/scanner-b", "{}", True),
        ("bt-mqtt/raw/scanner-b/x", "{}", False),
    ]
    for topic, payload, retain in forged:
        pub(broker, A, topic, payload, retain)
    own = [f"bt-mqtt/raw/{A}", f"bt-mqtt/scanner/{A}/status", f"bt-mqtt/scanner/{A}/reply"]
    for topic in own:
        assert pub(broker, A, topic, "own").returncode == 0
    everything.wait_for(1, predicate=lambda m: m.topic == own[-1])
    shared.wait_for(2, predicate=lambda m: m.payload == b"own")
    sentinel(everything, broker)
    got = [(m.topic, m.payload) for m in everything.snapshot()]
    assert got == [
        (f"bt-mqtt/scanner/{B}/status", b'{"status":"online"}'),
        *((t, b"own") for t in own),
        ("bt-mqtt/command/all", b"sentinel"),
    ]
    assert [m.topic for m in shared.snapshot()] == [got[0][0], *own[:2]]
    fresh = collect(SUB, f"bt-mqtt/scanner/{B}/status")  # B's retained status is B's own
    (status,) = fresh.wait_for(1)
    assert status.payload == b'{"status":"online"}' and status.retain


def test_a_scanner_reads_only_commands_for_itself_or_all(
    broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    everything = collect(SUB, "bt-mqtt/#")
    a = collect(A, "bt-mqtt/#", f"bt-mqtt/raw/{B}", f"bt-mqtt/scanner/{B}/status")
    assert pub(broker, B, f"bt-mqtt/raw/{B}", "b-advert").returncode == 0
    assert pub(broker, B, f"bt-mqtt/scanner/{B}/status", "b-status", True).returncode == 0
    everything.wait_for(2, predicate=lambda m: m.payload.startswith(b"b-"))
    for topic in (f"bt-mqtt/command/{B}", "bt-mqtt/command/all", f"bt-mqtt/command/{A}"):
        assert pub(broker, ADMIN, topic, "cmd").returncode == 0
    sentinel(a, broker, f"bt-mqtt/command/{A}")
    assert topics(a) == [
        "bt-mqtt/command/all",
        f"bt-mqtt/command/{A}",
        f"bt-mqtt/command/{A}",
    ]


def test_a_last_will_reaches_only_the_scanners_own_status(
    tmp_path: Path, broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    everything = collect(SUB, "bt-mqtt/#")

    def die_with_will(topic: str) -> None:
        """A client of A with a last will on ``topic``, killed once connected (or refused)."""
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WILL_CLIENT,
                broker.host,
                str(broker.port),
                A,
                PASSWORDS[A],
                topic,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the child prints one line and flushes it
            assert line.strip() in (b"CONNECTED", b"REFUSED"), line
        finally:
            proc.send_signal(signal.SIGKILL)  # an unclean end: the broker sends the will
            proc.wait()

    die_with_will(f"bt-mqtt/scanner/{B}/status")
    die_with_will(f"bt-mqtt/scanner/{A}/status")
    everything.wait_for(1, predicate=lambda m: m.payload == b"will")
    sentinel(everything, broker)
    assert topics(everything) == [f"bt-mqtt/scanner/{A}/status", "bt-mqtt/command/all"]


def test_the_console_account_is_read_only(
    broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    everything = collect(SUB, "bt-mqtt/#")
    console = collect(CON, "bt-mqtt/raw/+", "bt-mqtt/scanner/+/status")
    for topic in (
        f"bt-mqtt/raw/{A}",
        f"bt-mqtt/raw/{CON}",
        f"bt-mqtt/scanner/{A}/status",
        f"bt-mqtt/scanner/{CON}/status",
        f"bt-mqtt/scanner/{CON}/reply",
        "bt-mqtt/command/all",
        f"bt-mqtt/command/{A}",
        "bt-mqtt/alert/x/y",
        "elsewhere",
    ):
        pub(broker, CON, topic, "from-console", retain=True)
        pub(broker, SUB, topic, "from-subscriber", retain=True)
    assert pub(broker, A, f"bt-mqtt/raw/{A}", "advert").returncode == 0
    (seen,) = console.wait_for(1)
    assert (seen.topic, seen.payload) == (f"bt-mqtt/raw/{A}", b"advert")
    sentinel(everything, broker)
    # the subscriber writes only its alerts and commands; the console nothing
    assert [(m.topic, m.payload) for m in everything.snapshot()] == [
        ("bt-mqtt/command/all", b"from-subscriber"),
        (f"bt-mqtt/command/{A}", b"from-subscriber"),
        ("bt-mqtt/alert/x/y", b"from-subscriber"),
        (f"bt-mqtt/raw/{A}", b"advert"),
        (everything.snapshot()[-1].topic, b"sentinel"),
    ]


def test_anonymous_clients_are_refused(broker: Broker) -> None:
    res = pub(broker, None, f"bt-mqtt/raw/{A}", "x")
    assert res.returncode != 0 and "not authori" in (res.stdout + res.stderr).lower()


def _agent_as_a(
    tmp_path: Path, broker: Broker, adverts: list[dict[str, Any]], **sections: Any
) -> Path:
    """The agent's configuration as scanner A (its password in a private file), replaying
    ``adverts`` in a loop, plus ``sections``."""
    pw = tmp_path / "agent-pw"
    pw.write_text(PASSWORDS[A])
    pw.chmod(0o600)
    replay = write_replay(tmp_path / "replay.jsonl", adverts)
    return write_config(
        tmp_path / "agent.yaml",
        {
            "scanner_id": A,
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": A,
                "password_file": str(pw),
            },
            "bluetooth": {"backend": "replay", "replay": {"file": str(replay), "loop": True}},
            **sections,
        },
    )


def test_the_agent_works_under_the_acl(
    tmp_path: Path, broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    """The real agent, logged in as its scanner id: adverts, retained status and last will."""
    everything = collect(SUB, "bt-mqtt/#")
    advert = {"mac": "C0:FF:EE:00:00:01", "rssi": -60, "manufacturer_data": {"76": "0215"}}
    conf = _agent_as_a(
        tmp_path,
        broker,
        [advert] * 3,
        dedup={"window_s": 0},
        log={"level": "info", "format": "json"},
    )
    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        everything.wait_for(2, timeout=30, predicate=lambda m: m.topic == f"bt-mqtt/raw/{A}")
        status = f"bt-mqtt/scanner/{A}/status"
        online = everything.wait_for(1, timeout=30, predicate=lambda m: m.topic == status)
        assert online[0].json()["status"] == "online"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        def will(m: Received) -> bool:
            return m.topic == status and json.loads(m.payload)["status"] == "offline"

        (offline,) = everything.wait_for(1, timeout=60, predicate=will)
        assert offline.json()["reason"] == "connection lost"
    finally:
        stop_process(proc)
    assert "not authori" not in (tmp_path / "agent.log").read_text().lower()


def test_only_the_server_account_commands_a_scanner(
    tmp_path: Path, broker: Broker, collect: Callable[..., MqttCollector]
) -> None:
    """The real agent with commands on, logged in as scanner A: ``bt-mqtt command`` with the
    subscriber's account gets its reply; with the console's account or as scanner B (which may
    not publish commands) nothing reaches the agent and the CLI times out."""
    everything = collect(SUB, "bt-mqtt/#")
    conf = _agent_as_a(
        tmp_path,
        broker,
        [{"mac": "C0:FF:EE:00:00:01", "rssi": -60}],
        commands={"enabled": True},
    )

    def command(user: str, verb: str, timeout: float) -> subprocess.CompletedProcess[str]:
        server = write_config(
            tmp_path / f"{user}.yaml",
            {
                "mqtt": {
                    "host": broker.host,
                    "port": broker.port,
                    "username": user,
                    "password": PASSWORDS[user],
                }
            },
        )
        argv = [sys.executable, "-m", "bt_mqtt.cli.main", "command", A, verb]
        argv += ["--config", str(server), "--timeout", str(timeout)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    proc = start_agent(conf, tmp_path / "agent.log")
    try:
        status = f"bt-mqtt/scanner/{A}/status"
        everything.wait_for(1, timeout=30, predicate=lambda m: m.topic == status)
        ok = command(SUB, "status", 10)
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["result"]["scanner_id"] == A
        for user in (CON, B):
            assert command(user, "restart-agent", 2).returncode == 3
        pub(broker, B, f"bt-mqtt/command/{A}", '{"id": "forged", "command": "restart-agent"}')
        sentinel(everything, broker, f"bt-mqtt/command/{B}")  # a topic agent A does not read
        assert proc.poll() is None
        replies = [m.json() for m in everything.snapshot() if m.topic.endswith("/reply")]
        assert [r["command"] for r in replies] == ["status"]
        PASSWORDS["intruder"] = "wrong"
        try:
            refused = command("intruder", "status", 5)
        finally:
            del PASSWORDS["intruder"]
        assert refused.returncode == 1 and "refused" in refused.stderr, refused.stderr
    finally:
        stop_process(proc)
