"""Secrets are masked in messages for people."""

from __future__ import annotations

import pytest

from bt_mqtt.core.redact import redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "f: database.url: 'mysql://u:S3cretPW@db.lan/x' is not a postgresql:// URL",
            "f: database.url: 'mysql://u:***@db.lan/x' is not a postgresql:// URL",
        ),
        ("postgresql://u:p@ss/w@host/db", "postgresql://u:***@host/db"),
        ("host=x password=S3cret dbname=y", "host=x password=*** dbname=y"),
        ("host=x password='S3 cret' dbname=y", "host=x password=*** dbname=y"),
        ("http://h/?user=a&Password=S3cret&x=1", "http://h/?user=a&Password=***&x=1"),
        (
            "f: mqtt.password: expected str, got int 12345",
            "f: mqtt.password: expected str, got int ***",
        ),
        ("f: database.password: 'S3cret' is bad", "f: database.password: '***' is bad"),
        (
            "f: parsers.bindkeys['A4:C1:38:00:00:01']: 'ab12' is not 32 hex digits",
            "f: parsers.bindkeys['A4:C1:38:00:00:01']: '***' is not 32 hex digits",
        ),
    ],
)
def test_secrets_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "f: database.url: 'postgresql://db.lan:5432/btmqtt' is fine",
        "f: mqtt.password_file: cannot read '/etc/bt-mqtt/pw'",
        "f: mqtt.host: 'broker' is not reachable",
        "f: mqtt.port: port 70000 is outside 1..65535\nf: log.level: 'loud' is not one of ...",
    ],
)
def test_other_text_is_unchanged(text: str) -> None:
    assert redact(text) == text
