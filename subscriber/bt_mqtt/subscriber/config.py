"""The subscriber's configuration file (the console reads the same file).

Keys beyond DESIGN.md have defaults, so a file with only the documented keys works.  The
environment overrides secrets: ``BT_MQTT_DATABASE_URL`` replaces ``database.url``,
``BT_MQTT_DATABASE_PASSWORD`` and ``BT_MQTT_MQTT_PASSWORD`` supply passwords.  Every problem is a
``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

import attrs
import cattrs
from attrs import define, field

from bt_mqtt.core import configfile
from bt_mqtt.core.configfields import at_least, matches, one_of
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.logs import LogConfig
from bt_mqtt.core.mqttconfig import MqttConfig, register_tls_hook
from bt_mqtt.core.secretfile import read_secret
from bt_mqtt.core.wire import MAC_RE
from bt_mqtt.subscriber import devicesettings
from bt_mqtt.subscriber import privacy as privacymod
from bt_mqtt.subscriber.alertconfig import AlertsConfig, check_alerts
from bt_mqtt.subscriber.devicesettings import DeviceSettings
from bt_mqtt.subscriber.hass import config as hassconfig
from bt_mqtt.subscriber.hass.config import HomeAssistantConfig

ENV_DATABASE_URL: Final = "BT_MQTT_DATABASE_URL"
ENV_DATABASE_PASSWORD: Final = "BT_MQTT_DATABASE_PASSWORD"  # noqa: S105 - a variable name
ENV_MQTT_PASSWORD: Final = "BT_MQTT_MQTT_PASSWORD"  # noqa: S105 - a variable name
CLIENT_ID_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")
GROUP_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@define(frozen=True)
class SubscriberMqttConfig(MqttConfig):
    """Broker settings plus the subscriber's session identity and optional share group.

    ``receive_maximum`` is how many unacknowledged messages the broker may have in flight to us
    (acks wait for the database commit, so it bounds memory and must exceed ``batch_size``).
    """

    client_id: str = field(
        default="bt-mqtt-subscriber", validator=matches(CLIENT_ID_RE, "a valid client id")
    )
    share_group: str | None = field(default=None, validator=matches(GROUP_RE, "a valid group name"))
    session_expiry_s: int = field(default=7 * 24 * 3600, validator=at_least(0))
    receive_maximum: int = field(default=20000, validator=at_least(2))


@define(frozen=True)
class DatabaseConfig:
    """Where PostgreSQL is.  ``password``/``password_file`` complete a URL without one.

    A connection that goes silent (a cable pulled, a NAT entry dropped: no RST) is noticed by
    TCP keepalives after ``keepalive_s`` idle (then probes every ``keepalive_s / 3``, three of
    them), by ``tcp_user_timeout_s`` when sent data stays unacknowledged, and by
    ``statement_timeout_s``: the server's statement timeout of the ingest connection, and the
    longest the subscriber waits for one batch's answer before it drops the connection and
    writes the batch again on a new one."""

    url: str = "postgresql://localhost/btmqtt"
    password: str | None = None
    password_file: str | None = None
    connect_timeout_s: float = field(default=10.0, validator=at_least(0.1))
    keepalive_s: int = field(default=30, validator=at_least(3))
    tcp_user_timeout_s: float = field(default=30.0, validator=at_least(1.0))
    statement_timeout_s: float = field(default=120.0, validator=at_least(1.0))


@define(frozen=True)
class ParsersConfig:
    bindkeys: dict[str, str] = field(factory=dict)
    plugins: bool = True
    theengs: bool = False  # TheengsDecoder as last resort (optional GPL-3.0 extra)


@define(frozen=True)
class RetentionConfig:
    """Days of history kept; ``readings_days``/``rejected_days`` default to ``raw_days``."""

    raw_days: int = field(default=90, validator=at_least(1))
    readings_days: int | None = field(default=None, validator=at_least(1))
    rejected_days: int | None = field(default=None, validator=at_least(1))
    future_days: int = field(default=7, validator=at_least(1))
    # rollups (readings_1m/_1h/_1d); None keeps them forever
    rollup_1m_days: int | None = field(default=730, validator=at_least(1))
    rollup_1h_days: int | None = field(default=None, validator=at_least(1))
    rollup_1d_days: int | None = field(default=None, validator=at_least(1))
    # alerts' tables (deleted row by row): activity buckets (the baselines need 8 days) and
    # resolved alerts with their events
    activity_days: int = field(default=35, validator=at_least(8))
    alerts_days: int = field(default=365, validator=at_least(1))
    commands_days: int = field(default=365, validator=at_least(1))  # scanner_commands
    # days kept as rows (today, yesterday, ...); older days are compacted into blocks
    hot_days: int = field(default=2, validator=at_least(1))


@define(frozen=True)
class IngestConfig:
    """Batching and validation limits of ``run``."""

    batch_size: int = field(default=2000, validator=at_least(1))
    batch_ms: int = field(default=50, validator=at_least(1))
    max_payload_bytes: int = field(default=16 * 1024, validator=at_least(64))
    max_pending_bytes: int = field(default=32 * 1024 * 1024, validator=at_least(1024 * 1024))
    clock_skew_s: float = field(default=300.0, validator=at_least(1.0))
    clock_max_ahead_s: float = field(default=300.0, validator=at_least(0.0))
    clock_max_delay_s: float = field(default=8 * 86400.0, validator=at_least(0.0))
    missed_heartbeats: int = field(default=3, validator=at_least(1))
    db_retry_cap_s: float = field(default=30.0, validator=at_least(0.1))
    sweep_s: float = field(default=5.0, validator=at_least(0.1))
    rollup_s: float = field(default=60.0, validator=at_least(0.1))  # rollup job (history.py)
    plan_workers: int = field(default=1, validator=[at_least(0), attrs.validators.le(1)])


@define(frozen=True)
class PrivacyConfig:
    """What is stored of adverts no parser decodes (see ``bt_mqtt.subscriber.privacy``):
    ``keep``, ``pseudonymise`` or ``drop``, for random/unknown and for public addresses."""

    random_addresses: str = field(
        default=privacymod.PSEUDONYMISE, validator=one_of(privacymod.ACTIONS)
    )
    public_addresses: str = field(default=privacymod.KEEP, validator=one_of(privacymod.ACTIONS))
    key_file: str | None = None


@define(frozen=True)
class MetricsConfig:
    """The Prometheus text endpoint; off when ``port`` is null."""

    port: int | None = None
    host: str = "127.0.0.1"


@define(frozen=True)
class SubscriberConfig:
    """The whole subscriber configuration file."""

    mqtt: SubscriberMqttConfig = field(factory=SubscriberMqttConfig)
    database: DatabaseConfig = field(factory=DatabaseConfig)
    parsers: ParsersConfig = field(factory=ParsersConfig)
    retention: RetentionConfig = field(factory=RetentionConfig)
    ingest: IngestConfig = field(factory=IngestConfig)
    privacy: PrivacyConfig = field(factory=PrivacyConfig)
    metrics: MetricsConfig = field(factory=MetricsConfig)
    alerts: AlertsConfig = field(factory=AlertsConfig)
    homeassistant: HomeAssistantConfig = field(factory=HomeAssistantConfig)
    devices: dict[str, DeviceSettings] = field(factory=dict)
    log: LogConfig = field(factory=LogConfig)

    @property
    def readings_days(self) -> int:
        return self.retention.readings_days or self.retention.raw_days

    @property
    def rejected_days(self) -> int:
        return self.retention.rejected_days or self.retention.raw_days


def make_converter() -> cattrs.Converter:
    conv = configfile.make_converter()
    register_tls_hook(conv)
    return conv


def privacy_policy(cfg: SubscriberConfig, source: str) -> privacymod.Privacy:
    """The privacy policy with its key: the ``privacy.key_file``'s bytes (surrounding
    whitespace removed), or random bytes held in memory only."""
    p = cfg.privacy
    if p.key_file is None:
        key = os.urandom(32)
    else:
        try:
            key = Path(p.key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"{source}: privacy.key_file: cannot read {p.key_file!r}: {exc.strerror}"
            ) from None
        if len(key) < privacymod.MIN_KEY_BYTES:
            raise ConfigError(
                f"{source}: privacy.key_file: {p.key_file!r} holds {len(key)} bytes; "
                f"a key is at least {privacymod.MIN_KEY_BYTES}"
            )
    return privacymod.Privacy(random=p.random_addresses, public=p.public_addresses, key=key)


def bindkeys(cfg: SubscriberConfig) -> dict[str, bytes]:
    """The bind keys as bytes by upper-case MAC (validated by ``load_config``)."""
    return {mac.upper(): bytes.fromhex(key) for mac, key in cfg.parsers.bindkeys.items()}


def check_semantics(cfg: SubscriberConfig, source: str) -> None:
    problems: list[str] = []
    for mac, key in cfg.parsers.bindkeys.items():
        if not MAC_RE.fullmatch(mac.upper()):
            problems.append(f"parsers.bindkeys: {mac!r} is not a MAC address")
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            problems.append(f"parsers.bindkeys.{mac}: the key is not hex")
            continue
        if len(raw) not in (16, 32):
            problems.append(f"parsers.bindkeys.{mac}: a key is 16 bytes (32 hex digits)")
    if cfg.parsers.theengs:
        from bt_mqtt.parsers.theengs import TheengsUnavailable, load_decoder  # noqa: PLC0415

        try:
            load_decoder()
        except TheengsUnavailable as exc:
            problems.append(f"parsers.theengs: true, but {exc}")
    for sect, obj in (("mqtt", cfg.mqtt), ("database", cfg.database)):
        if obj.password is not None and obj.password_file is not None:
            problems.append(f"{sect}.password, {sect}.password_file: set only one of them")
    if cfg.ingest.max_pending_bytes < 4 * cfg.ingest.max_payload_bytes:
        problems.append("ingest.max_pending_bytes: must be at least 4 x ingest.max_payload_bytes")
    if cfg.ingest.batch_size * 2 > cfg.mqtt.receive_maximum:
        problems.append("mqtt.receive_maximum: must be at least twice ingest.batch_size")
    if cfg.metrics.port is not None and not 0 <= cfg.metrics.port <= 65535:
        problems.append(f"metrics.port: {cfg.metrics.port} is outside 0..65535")
    problems += cfg.mqtt.tls_problems()
    if not cfg.database.url.startswith(("postgresql://", "postgres://")):
        problems.append(f"database.url: {cfg.database.url!r} is not a postgresql:// URL")
    problems += check_alerts(cfg.alerts)
    problems += hassconfig.check(cfg.homeassistant) + devicesettings.check(cfg.devices)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))


def load_config(
    path: str | os.PathLike[str] | None, env: dict[str, str] | None = None
) -> SubscriberConfig:
    """Read and validate a configuration file (``None``: defaults), then apply the environment."""
    env = dict(os.environ) if env is None else env
    source = os.fspath(path) if path is not None else "(defaults)"
    data = configfile.load_yaml(path) if path is not None else {}
    cfg = configfile.structure(make_converter(), data, SubscriberConfig, source)
    if env.get(ENV_DATABASE_URL):
        cfg = attrs.evolve(cfg, database=attrs.evolve(cfg.database, url=env[ENV_DATABASE_URL]))
        source_url = ENV_DATABASE_URL
    else:
        source_url = "database.url"
    try:
        check_semantics(cfg, source)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("database.url", source_url)) from None
    return cfg


def database_password(cfg: SubscriberConfig, source: str, env: dict[str, str]) -> str | None:
    """The database password from the environment, ``password_file`` or ``password``."""
    if env.get(ENV_DATABASE_PASSWORD):
        return env[ENV_DATABASE_PASSWORD]
    if cfg.database.password_file is not None:
        return read_secret(cfg.database.password_file, "database.password_file", source)
    return cfg.database.password


def mqtt_password(cfg: SubscriberConfig, source: str, env: dict[str, str]) -> str | None:
    """The broker password from the environment, ``password_file`` or ``password``."""
    if env.get(ENV_MQTT_PASSWORD):
        return env[ENV_MQTT_PASSWORD]
    return cfg.mqtt.resolved_password(source)


def conninfo(cfg: SubscriberConfig, password: str | None) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` (the URL plus the password, if any)."""
    kw: dict[str, Any] = {"conninfo": cfg.database.url}
    if password is not None:
        kw["password"] = password
    db = cfg.database
    kw["connect_timeout"] = max(1, int(db.connect_timeout_s))
    kw["application_name"] = "bt-mqtt-subscriber"
    kw["keepalives"] = 1
    kw["keepalives_idle"] = db.keepalive_s
    kw["keepalives_interval"] = max(1, db.keepalive_s // 3)
    kw["keepalives_count"] = 3
    kw["tcp_user_timeout"] = int(db.tcp_user_timeout_s * 1000)
    return kw
