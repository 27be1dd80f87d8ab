"""Theengs Gateway as a baseline: its own virtualenv and a process on a ``Stack``.

The gateway (PyPI ``TheengsGateway``) never enters our dependencies: ``ensure_venv`` creates a
separate virtualenv (default ``.venv-bench`` at the repository root, git-ignored) with
``python -m venv`` from the interpreter running the bench, then
``pip install TheengsGateway==VERSION`` into it, once; later runs reuse it.

``start`` runs it with publish-all on, Home Assistant discovery off, one endless scan (no
pauses between scan windows) and the system bus pointed at the stack's private bus.  bleak,
underneath it, asks ``bluetoothctl --version`` for the BlueZ version; a two-line stand-in that
answers 5.66 goes first on its PATH, so the result does not depend on what this machine has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.harness import Stack

THEENGS_VERSION = "1.8.0"
DEFAULT_VENV = Path(__file__).resolve().parents[1] / ".venv-bench"
PUBLISH_TOPIC = "home/TheengsGateway/BTtoMQTT"


def ensure_venv(venv: Path) -> Path:
    """The python of ``venv`` with TheengsGateway importable; creates/installs if needed."""
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import TheengsGateway"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return python
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"creating {venv} ({base} -m venv; pip install TheengsGateway=={THEENGS_VERSION})")
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"TheengsGateway=={THEENGS_VERSION}"],
        check=True,
    )
    return python


def start(python: Path, stack: Stack, tmp: Path, mode: str) -> subprocess.Popen[bytes]:
    """Run the gateway on ``stack`` (scanning ``mode``: passive or active)."""
    bindir = tmp / "fakebin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "bluetoothctl"
    fake.write_text("#!/bin/sh\necho 5.66\n")
    fake.chmod(0o755)
    env = dict(
        os.environ,
        DBUS_SYSTEM_BUS_ADDRESS=stack.address,
        PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    broker = stack.mqtt
    argv = [
        str(python),
        "-m",
        "TheengsGateway",
        "--config",
        str(tmp / "theengs.conf"),
        "--host",
        broker.host,
        "--port",
        str(broker.port),
        "--discovery",
        "0",
        "--publish_all",
        "1",
        "--scanning_mode",
        mode,
        "--ble_scan_time",
        "1000000",
        "--ble_time_between_scans",
        "0",
        "--enable_multi_gtw_sync",
        "0",
        "--publish_topic",
        PUBLISH_TOPIC,
        "--log_level",
        "WARNING",
    ]
    with open(tmp / "theengs.log", "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
