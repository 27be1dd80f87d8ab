"""The subscriber's secrets: password files are read as every program reads them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.subscriber.config import database_password, load_config


def _config(tmp_path: Path, secret: Path) -> Path:
    path = tmp_path / "sub.yaml"
    path.write_text(
        yaml.safe_dump(
            {"database": {"url": "postgresql://u@localhost/db", "password_file": str(secret)}}
        )
    )
    return path


def test_world_readable_database_password_file_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    path = _config(tmp_path, secret)
    cfg = load_config(path, env={})
    with caplog.at_level(logging.WARNING):
        assert database_password(cfg, str(path), {}) == "s3cret"
    assert any(
        str(secret) in r.getMessage() and "-rw-r--r--" in r.getMessage() for r in caplog.records
    )
    caplog.clear()
    secret.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert database_password(cfg, str(path), {}) == "s3cret"
    assert not caplog.records


def test_unreadable_database_password_file_names_the_key(tmp_path: Path) -> None:
    path = _config(tmp_path, tmp_path / "missing")
    cfg = load_config(path, env={})
    with pytest.raises(ConfigError, match=r"database\.password_file"):
        database_password(cfg, str(path), {})
