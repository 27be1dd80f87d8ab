"""Scratch folders under the temporary directory that name the process owning them.

The demo (as root, its PostgreSQL cluster) and deep test folders (a short socket folder) need
folders outside their own directory.  They are removed when the run ends; a run killed with
``kill -9`` cannot.  Each folder made here holds ``OWNER_FILE``: the owner's pid and its start
time (so a reused pid is not taken for the owner), and ``sweep`` removes the folders of a prefix
whose owner is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["OWNER_FILE", "make", "owner_identity", "sweep"]

log = logging.getLogger(__name__)

OWNER_FILE: Final = ".bt-mqtt-owner"


def owner_identity(pid: int) -> str | None:
    """``"<pid> <start time in clock ticks>"`` of a running process; None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields follow the last ")"
    fields = stat.rpartition(")")[2].split()
    return f"{pid} {fields[19]}" if len(fields) > 19 else None


def _base() -> str:
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


def make(prefix: str) -> Path:
    """A new private folder ``<tmp>/<prefix>XXXX`` owned by this process."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=_base()))
    (folder / OWNER_FILE).write_text(owner_identity(os.getpid()) or f"{os.getpid()} ?")
    return folder


def sweep(prefix: str) -> list[Path]:
    """Remove the folders ``make(prefix)`` left behind whose owner no longer runs; the removed
    ones.  Folders without an owner file, or that this user may not read, are left alone."""
    removed: list[Path] = []
    for folder in sorted(Path(_base()).glob(f"{prefix}*")):
        try:
            owner = (folder / OWNER_FILE).read_text().strip()
            pid = int(owner.split(" ", 1)[0])
        except (OSError, ValueError):
            continue
        if owner_identity(pid) == owner:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            log.info("removed %s, left by process %d which is gone", folder, pid)
    return removed
