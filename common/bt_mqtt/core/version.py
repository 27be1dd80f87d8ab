"""The package version, read once from the installed metadata."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("bt-mqtt")
except metadata.PackageNotFoundError:  # running from a source tree without an install
    VERSION = "0.0.0+unknown"
