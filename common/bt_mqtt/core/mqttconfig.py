"""MQTT connection settings shared by the agent, the subscriber and the console.

``tls`` is ``false`` or a mapping ``{ca_file, cert_file, key_file}`` (``true`` means TLS with the
system's CA store).  ``password_file`` is read at start (a world-readable one is logged as a
warning); ``password`` and ``password_file`` are exclusive.  Topics are built from
``topic_prefix`` by ``core.topics`` (``MqttConfig.topics``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import cattrs
from attrs import define, field

from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.secretfile import read_secret
from bt_mqtt.core.topics import SCANNER_ID_RE, Topics, check_prefix

# SCANNER_ID_RE is re-exported for existing callers: the rule lives in core.topics
__all__ = ["SCANNER_ID_RE", "MqttConfig", "TlsConfig", "register_tls_hook"]

if TYPE_CHECKING:
    import ssl


@define(frozen=True)
class TlsConfig:
    """TLS material; all optional (empty means: verify the broker with the system CA store)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def _port(_: Any, a: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError(f"{a.name}: port {value} is outside 1..65535")


def _prefix(_: Any, a: attrs.Attribute[str], value: str) -> None:
    try:
        check_prefix(value)
    except ValueError as exc:
        raise ValueError(f"{a.name}: {exc}") from None


@define(frozen=True)
class MqttConfig:
    """Broker address, credentials, TLS and the topic prefix."""

    host: str = "localhost"
    port: int = field(default=1883, validator=_port)
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    tls: TlsConfig | None = None
    topic_prefix: str = field(default="bt-mqtt", validator=_prefix)
    keepalive_s: int = 30

    def resolved_password(self, source: str) -> str | None:
        """The password, read from ``password_file`` when that is set."""
        if self.password is not None and self.password_file is not None:
            raise ConfigError(f"{source}: mqtt.password and mqtt.password_file are exclusive")
        if self.password_file is None:
            return self.password
        return read_secret(self.password_file, "mqtt.password_file", source)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """An SSL context for gmqtt, or False for plain TCP (ssl is imported only for TLS)."""
        if self.tls is None:
            return False
        import ssl  # noqa: PLC0415 - OpenSSL costs ~3 MB of RSS on the Pi; load it only for TLS

        ctx = ssl.create_default_context(cafile=self.tls.ca_file)
        if self.tls.cert_file:
            ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        return ctx

    def topics(self) -> Topics:
        """The topics under ``topic_prefix``."""
        return Topics(self.topic_prefix)

    def tls_problems(self) -> list[str]:
        """What is wrong with the ``tls`` files (unreadable, not a certificate, a key that does
        not match), each naming its key; empty when TLS is off or usable.  Shared by every
        program's configuration check, so a bad file is exit 2 before anything connects."""
        if self.tls is None:
            return []
        import os  # noqa: PLC0415

        problems = []
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(self.tls, key)
            if path is not None and not os.access(path, os.R_OK):
                problems.append(f"mqtt.tls.{key}: cannot read {path!r}")
        if not problems:  # readable: do they hold certificates and a matching key?
            try:
                self.ssl_context()
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                problems.append(f"mqtt.tls: the certificate files are not usable: {exc}")
        return problems


def register_tls_hook(conv: cattrs.Converter) -> None:
    """Teach ``conv`` that ``tls`` is ``false``/``true``/``null`` or a ``TlsConfig`` mapping."""

    def hook(value: Any, _: Any) -> TlsConfig | None:
        if value is None or value is False:
            return None
        if value is True:
            return TlsConfig()
        if isinstance(value, dict):
            return conv.structure(value, TlsConfig)
        raise TypeError(
            f"expected false, true or a mapping of ca_file/cert_file/key_file, got {value!r}"
        )

    conv.register_structure_hook(TlsConfig | None, hook)
