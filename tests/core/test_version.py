"""The version comes from the installed metadata without importlib.metadata."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from bt_mqtt.core.version import UNKNOWN, VERSION, installed_version


def test_version_matches_importlib_metadata() -> None:
    assert metadata.version("bt-mqtt") == VERSION


def test_reads_the_first_dist_info_on_the_path(tmp_path: Path) -> None:
    info = tmp_path / "site" / "bt_mqtt-9.8.7.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bt-mqtt\nVersion: 9.8.7\n\nBody\n")
    other = tmp_path / "other" / "bt_mqtt_extra-1.0.dist-info"  # another package's prefix
    other.mkdir(parents=True)
    paths = [str(tmp_path / "missing"), str(tmp_path / "other"), str(tmp_path / "site")]
    assert installed_version(paths) == "9.8.7"
    assert installed_version([str(tmp_path / "other")]) == UNKNOWN
