"""``bt-mqtt demo`` as a user runs it: Ctrl-C stops every process it started, ``kill -9``
leaves none behind, and the headless run says what it is doing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bt_mqtt.demo import scratch
from bt_mqtt.demo.orchestrator import PG_SCRATCH_PREFIX
from bt_mqtt.demo.services import die_with_parent
from tests.fixtures.proctree import descendants, survivors


def processes_mentioning(*needles: str) -> list[str]:
    """Command lines of running processes that contain any of ``needles``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.append(cmd)
    return found


def _start_demo(state: Path) -> subprocess.Popen[str]:
    """A headless demo with every part started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bt_mqtt.cli.main", "demo", "--dir", str(state), "--no-console"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl runs there
    )
    deadline = time.monotonic() + 90
    while not list(state.glob("agent-*.log")) or len(processes_mentioning(str(state))) < 8:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the demo did not start its parts"
        time.sleep(0.2)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "demo"
    proc = _start_demo(state)
    parts = descendants(proc.pid)
    running = " ".join(parts.values())
    for part in ("bt-mqtt-agent", "bt-mqtt-subscriber", "postgres"):
        assert part in running, f"{part} is not running under the demo: {parts}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "everything it started has been stopped" in err
    assert survivors(parts, timeout=0) == {}
    assert processes_mentioning(str(state)) == []


@pytest.mark.slow
def test_kill_9_leaves_nothing_running(tmp_path: Path) -> None:
    proc = _start_demo(tmp_path / "demo")
    parts = descendants(proc.pid)
    names = " ".join(parts.values())
    for part in ("mosquitto", "postgres", "dbus-daemon", "bt-mqtt-agent", "bt-mqtt-subscriber"):
        assert part in names, f"{part} is not running under the demo: {parts}"
    assert any("multiprocessing" in cmd for cmd in parts.values()), "no planner worker"
    proc.kill()
    proc.communicate(timeout=30)
    # PostgreSQL's server processes, the subscriber's worker, the brokers and buses: all gone
    assert survivors(parts) == {}
    # As root the cluster lives in a scratch folder under /tmp, which kill -9 leaves behind;
    # the next demo's sweep removes it (and nothing another live run owns).
    pg_dirs = {
        Path(cmd.split(" -D ", 1)[1].split(" ", 1)[0]).parent
        for cmd in parts.values()
        if " -D " in cmd and "postgres" in cmd
    }
    assert len(pg_dirs) == 1, parts
    (pg_dir,) = pg_dirs
    if os.geteuid() == 0:
        assert pg_dir.name.startswith(PG_SCRATCH_PREFIX) and pg_dir.exists()
        assert pg_dir in scratch.sweep(PG_SCRATCH_PREFIX)
        assert not pg_dir.exists()


@pytest.mark.slow
def test_headless_run_reports_progress_without_library_chatter(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bt_mqtt.cli.main",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--no-console",
            "--seconds",
            "9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines and all(line.startswith("demo ") for line in lines), res.stderr
    text = "\n".join(lines)
    for step in ("Mosquitto listening", "PostgreSQL ready", "scanners started", "archived"):
        assert step in text, f"no {step!r} step in:\n{text}"
    assert "of 9: " in text, f"no progress line in:\n{text}"  # "  3 s of 9: ... archived"
    assert "gmqtt" not in text and "INFO" not in text
    assert json.loads(res.stdout)["all_archived"] is True
