"""Scratch folders name their owner; a sweep removes only those whose owner is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bt_mqtt.demo import scratch


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    """A prefix no other test or run uses (the folders live in the shared /tmp)."""
    return f"btm-test-{os.getpid()}-{tmp_path.name}-"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_folders_of_dead_owners_only(prefix: str) -> None:
    mine = scratch.make(prefix)
    orphan = scratch.make(prefix)
    (orphan / scratch.OWNER_FILE).write_text(f"{_dead_pid()} 123")
    (orphan / "data").mkdir()
    (orphan / "data" / "PG_VERSION").write_text("15")
    unmarked = Path(f"{mine}-unmarked")
    unmarked.mkdir()
    try:
        assert scratch.sweep(prefix) == [orphan]
        assert not orphan.exists()
        assert mine.exists() and unmarked.exists()
    finally:
        for folder in (mine, orphan, unmarked):
            subprocess.run(["rm", "-rf", str(folder)], check=True)


def test_a_reused_pid_is_not_the_owner(prefix: str) -> None:
    """Same pid, other start time: the owner is gone even though the pid runs again."""
    folder = scratch.make(prefix)
    identity = scratch.owner_identity(os.getpid())
    assert identity is not None and (folder / scratch.OWNER_FILE).read_text() == identity
    (folder / scratch.OWNER_FILE).write_text(f"{os.getpid()} 1")
    assert scratch.sweep(prefix) == [folder]


def test_owner_identity_reads_names_with_parentheses(tmp_path: Path) -> None:
    """The command name in /proc/PID/stat may hold ") (": fields are counted after the last."""
    odd = tmp_path / "a) (b"
    odd.symlink_to(sys.executable)
    proc = subprocess.Popen([str(odd), "-c", "import time; time.sleep(30)"])
    try:
        identity = scratch.owner_identity(proc.pid)
        assert identity is not None
        pid, start = identity.split(" ")
        assert int(pid) == proc.pid and start.isdigit()
        assert scratch.owner_identity(proc.pid) == identity
    finally:
        proc.kill()
        proc.wait()
    assert scratch.owner_identity(proc.pid) is None
