"""The brokers the Nix side configures keep the subscriber's queue (contract.json ``broker``).

nix/mosquitto-conf.nix (the dev shell's broker) is rendered with nix-instantiate and run as a
real Mosquitto: with the subscriber's session offline, every one of 3,000 QoS 1 messages is
queued, survives a broker restart and is delivered.  The same broker without the contract's
settings drops all but Mosquitto's default 1,000, which shows the test can fail.  The NixOS
module passes the same settings to services.mosquitto.

Needs nix-instantiate (left out of the Nix ``pytest`` check, which has none) and Mosquitto.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bt_mqtt.demo.services import spawn
from tests.fixtures.procs import free_port, require_binary, stop_process, wait_for_port
from tests.nix.helpers import ROOT, contract, nix_eval

COUNT = 3000
TOPIC = "bt-mqtt/queue-test"
CLIENT_ID = "bt-mqtt-subscriber-queue-test"


def broker() -> dict[str, object]:
    data = dict(contract()["broker"])
    data.pop("_comment")
    return data


def render(port: int, directory: Path) -> str:
    text: str = nix_eval(
        '{ root, port, dir }: import (/. + root + "/nix/mosquitto-conf.nix") {'
        ' port = builtins.fromJSON port; address = "127.0.0.1";'
        ' persistenceLocation = dir + "/"; }',
        port=str(port),
        dir=str(directory),
    )
    return text


class Broker:
    """Mosquitto with a given configuration text, restartable on the same port and directory."""

    def __init__(self, directory: Path, port: int, conf: str) -> None:
        self.directory = directory
        self.port = port
        self.conf = directory / "mosquitto.conf"
        # Started as root, Mosquitto would switch to the user "mosquitto", who cannot write the
        # test's directory; run as whoever runs the tests (ignored when that is not root).
        self.conf.write_text(conf + f"user {getpass.getuser()}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = require_binary("mosquitto", "mosquitto")
        self.proc = spawn([exe, "-c", str(self.conf)], self.directory / "mosquitto.log")
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[type[Broker]]:
    started: list[Broker] = []

    class Tracked(Broker):
        def start(self) -> None:
            started.append(self)
            super().start()

    yield Tracked
    for b in started:
        b.stop()


def client(port: int, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    name = "mosquitto_pub" if "-l" in args else "mosquitto_sub"
    exe = require_binary(name, "mosquitto-clients")
    return subprocess.run(
        [exe, "-h", "127.0.0.1", "-p", str(port), "-q", "1", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def queue_while_offline(b: Broker, *, restart: bool, wait_s: int) -> int:
    """Subscribe a persistent session, go offline, publish COUNT messages (restarting the broker
    when asked), come back: how many arrive."""
    sub = ("-i", CLIENT_ID, "-c", "-t", TOPIC)
    res = client(b.port, *sub, "-E")
    assert res.returncode == 0, res.stderr
    payload = "".join(f"{i}\n" for i in range(COUNT))
    res = client(b.port, "-t", TOPIC, "-l", stdin=payload)
    assert res.returncode == 0, res.stderr
    if restart:
        b.stop()
        b.start()
    res = client(b.port, *sub, "-C", str(COUNT), "-W", str(wait_s))
    return len(res.stdout.splitlines())


def test_the_rendered_broker_keeps_the_queue_across_a_restart(
    tmp_path: Path, make_broker: type[Broker]
) -> None:
    port = free_port()
    b = make_broker(tmp_path, port, render(port, tmp_path))
    b.start()
    assert queue_while_offline(b, restart=True, wait_s=60) == COUNT


@pytest.mark.slow
def test_without_the_contract_settings_mosquitto_drops_the_queue(
    tmp_path: Path, make_broker: type[Broker]
) -> None:
    port = free_port()
    keys = set(broker()) - {"persistence"}
    conf = "".join(
        line + "\n" for line in render(port, tmp_path).splitlines() if line.split()[0] not in keys
    )
    b = make_broker(tmp_path, port, conf)
    b.start()
    assert 0 < queue_while_offline(b, restart=False, wait_s=5) < COUNT


def test_the_rendered_conf_has_every_contract_setting(tmp_path: Path) -> None:
    lines = render(1883, tmp_path).splitlines()
    assert "listener 1883 127.0.0.1" in lines
    assert f"persistence_location {tmp_path}/" in lines
    for key, value in broker().items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        assert f"{key} {text}" in lines, key


def test_the_contract_keeps_the_queue_and_bounds_the_crash_window() -> None:
    b = broker()
    assert b["persistence"] is True
    queued = b["max_queued_messages"]
    assert isinstance(queued, int)
    assert queued == 0 or queued >= 1_000_000, "0 (no cap) or a bound far above the default"
    interval = b["autosave_interval"]
    assert isinstance(interval, int)
    assert b["autosave_on_changes"] is False and 0 < interval <= 60, "saved at least every minute"


def test_the_nix_brokers_take_the_contract_settings() -> None:
    module = (ROOT / "nix" / "modules" / "subscriber.nix").read_text()
    assert re.search(r"broker = builtins\.removeAttrs contract\.broker", module)
    assert re.search(r"persistence = lib\.mkDefault broker\.persistence;", module)
    assert re.search(
        r"settings = lib\.mapAttrs \(_: lib\.mkDefault\) \(builtins\.removeAttrs broker", module
    )
    shell = (ROOT / "nix" / "devshell.nix").read_text()
    assert "import ./mosquitto-conf.nix" in shell
    assert "services.mosquitto" not in shell, "devenv v1.6.1 has no Mosquitto service"
