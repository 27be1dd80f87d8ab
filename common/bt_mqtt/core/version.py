"""The package version, read once from the installed metadata.

The ``Version:`` line of ``bt_mqtt-*.dist-info/METADATA`` on ``sys.path`` is read directly:
``importlib.metadata`` would pull in email, zipfile and csv, about 3.5 MB of RSS and 15 ms of
start-up here (20-40x the time on a Pi Zero W) for one string.
"""

from __future__ import annotations

import os
import sys

_DIST = "bt_mqtt-"
UNKNOWN = "0.0.0+unknown"  # running from a source tree without an install


def installed_version(paths: list[str] | None = None) -> str:
    """The version in the first ``bt_mqtt`` dist-info found on ``paths`` (``sys.path``)."""
    for entry in sys.path if paths is None else paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not (name.startswith(_DIST) and name.endswith(".dist-info")):
                continue
            try:
                with open(os.path.join(entry, name, "METADATA"), encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():
                            break  # end of the headers
            except OSError:
                continue
    return UNKNOWN


VERSION = installed_version()
