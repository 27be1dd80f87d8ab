"""``bt-mqtt-console`` as a real process in a pseudo-terminal: what it writes, how it exits."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from types import TracebackType

from bt_mqtt.demo.services import stop_process

MODULE = [sys.executable, "-m", "bt_mqtt.console.main"]


class PtyConsole:
    """A process on the slave side of a pty of ``size`` (columns, rows); everything it writes
    is collected as bytes in ``output``.  Use as a context manager: the process never outlives
    it."""

    def __init__(self, args: list[str], size: tuple[int, int] = (120, 40)) -> None:
        self.args = args
        self.size = size
        self.output = bytearray()
        self.proc: subprocess.Popen[bytes] | None = None
        self._master = -1

    def __enter__(self) -> PtyConsole:
        master, slave = pty.openpty()
        cols, rows = self.size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
        env.update(TERM="xterm-256color", LANG="C.UTF-8", COLUMNS=str(cols), LINES=str(rows))
        self.proc = subprocess.Popen(
            self.args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self._master = master
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.read(0.1)
        os.close(self._master)

    def read(self, seconds: float) -> None:
        """Collect output for up to ``seconds`` (returns early when the pty closes)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self._master], [], [], min(left, 0.05))
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process closed the terminal
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        return self.output.decode("utf-8", "surrogateescape")

    def wait_for(self, pred: Callable[[str], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred(self.text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; output ends {self.tail()!r}")
            if self.proc is not None and self.proc.poll() is not None:
                self.read(0.2)
                raise AssertionError(
                    f"the console exited ({self.proc.returncode}) while waiting for {what}; "
                    f"output ends {self.tail()!r}"
                )
            self.read(0.1)

    def wait_text(self, needle: str, what: str, timeout: float = 20.0) -> None:
        self.wait_for(lambda t: needle in t, what, timeout)

    def send(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the console did not exit; output ends {self.tail()!r}")
            self.read(0.1)
        self.read(0.2)
        return self.proc.returncode

    def tail(self, n: int = 600) -> str:
        return self.text()[-n:]
