"""``bt-mqtt demo`` as a user runs it: Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bt_mqtt.cli.main", "demo", "--dir", str(state), "--no-console"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not list(state.glob("agent-*.log")) or len(processes_mentioning(str(state))) < 8:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the demo did not start its parts"
        time.sleep(0.2)
    running = processes_mentioning(str(state), "bt-mqtt-demo-pg-")
    assert any("bt-mqtt-agent" in c for c in running)
    assert any("bt-mqtt-subscriber" in c for c in running)
    assert any("postgres" in c for c in running)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "everything it started has been stopped" in err
    assert processes_mentioning(str(state), "bt-mqtt-demo-pg-") == []
