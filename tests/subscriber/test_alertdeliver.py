"""The webhook over HTTPS against a local server with a self-signed certificate: trusted through
``alerts.webhook.ca_file``, refused without it, and a missing CA file is a configuration error
naming the key."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.subscriber.alertconfig import WebhookConfig, webhook_tls
from bt_mqtt.subscriber.alertdeliver import HttpError, post_json
from bt_mqtt.subscriber.config import load_config
from tests.subscriber.test_alertservice import Hook


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bt-mqtt test hook")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "hook.crt", folder / "hook.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_webhook_with_a_configured_ca_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with Hook(fail=0, tls=server) as hook:
        url = f"https://127.0.0.1:{hook.port}/alerts?x=1"
        trusted = webhook_tls(WebhookConfig(url=url, ca_file=str(cert)))
        status = asyncio.run(post_json(url, b'{"state":"firing"}', tls=trusted))
        assert status == 204
        assert hook.bodies == [{"state": "firing"}]
        with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):  # system CAs only
            asyncio.run(post_json(url, b"{}", timeout_s=5))
        assert len(hook.bodies) == 1


def test_a_missing_ca_file_is_a_configuration_error_naming_the_key(tmp_path: Path) -> None:
    cfg_file = tmp_path / "s.yaml"
    missing = tmp_path / "nowhere.pem"
    cfg_file.write_text(
        f"alerts: {{webhook: {{url: 'https://hook.example/', ca_file: '{missing}'}}}}\n"
    )
    with pytest.raises(ConfigError, match=r"alerts\.webhook\.ca_file: cannot use .*nowhere\.pem"):
        load_config(cfg_file, env={})
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cfg_file.write_text(f"alerts: {{webhook: {{url: 'https://h/', ca_file: '{not_pem}'}}}}\n")
    with pytest.raises(ConfigError, match=r"alerts\.webhook\.ca_file: cannot use .*not\.pem"):
        load_config(cfg_file, env={})
