"""The agent's YAML configuration (docs/configuration.md), as plain attrs classes.

Every class has defaults and validators only (no converters), so a JSON schema can be generated
from them.  ``load_config`` reads a file with ``bt_mqtt.core.configfile`` and raises
``ConfigError`` naming the file, the key and the problem.  Validator messages start with the
attribute name so the loader can report the full key path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs
from attrs import define, field

from bt_mqtt.agent.spool import DEFAULT_MAX_MB, DEFAULT_MAX_MESSAGES
from bt_mqtt.core import configfile
from bt_mqtt.core.configfields import at_least, each, matches, one_of
from bt_mqtt.core.configfile import ConfigError
from bt_mqtt.core.logs import LogConfig
from bt_mqtt.core.mqttconfig import MqttConfig, register_tls_hook
from bt_mqtt.core.topics import SCANNER_ID_RE, SCANNER_ID_RULE

BACKENDS: Final = ("bluez", "bleak", "replay")
MODES: Final = ("passive", "active")

MAC_RE: Final = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
PREFIX_RE: Final = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){0,4}:?")
UUID_FORMS: Final = re.compile(
    r"(?:0x)?[0-9A-Fa-f]{4}|(?:0x)?[0-9A-Fa-f]{8}"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)


def _company_ids(_: Any, a: attrs.Attribute[list[int]], value: list[int]) -> None:
    for i, item in enumerate(value):
        if not 0 <= item <= 0xFFFF:
            raise ValueError(f"{a.name}[{i}]: {item!r} is not a 16-bit company id (0..65535)")


def _nonempty_argv(_: Any, a: attrs.Attribute[list[str]], value: list[str]) -> None:
    if not value or not all(isinstance(x, str) and x for x in value):
        raise ValueError(f"{a.name}: must be a program and its arguments, e.g. [systemctl, reboot]")


@define(frozen=True)
class MatchList:
    """Devices to match: exact MACs, MAC prefixes, company ids, service UUIDs, name globs."""

    macs: list[str] = field(factory=list, validator=each(MAC_RE, "a MAC address"))
    prefixes: list[str] = field(
        factory=list, validator=each(PREFIX_RE, "a MAC prefix such as 'A4:C1:38'")
    )
    company_ids: list[int] = field(factory=list, validator=_company_ids)
    service_uuids: list[str] = field(
        factory=list, validator=each(UUID_FORMS, "a 16-, 32- or 128-bit UUID")
    )
    names: list[str] = field(factory=list)


@define(frozen=True)
class FiltersConfig:
    """``blocklist`` drops matches; ``allowlist`` (when set) passes only matches."""

    blocklist: MatchList = field(factory=MatchList)
    allowlist: MatchList | None = None
    min_rssi: int | None = None


@define(frozen=True)
class ReplayConfig:
    """The replay backend's input: a file of wire-format JSON lines."""

    file: str | None = None
    speed: float = field(default=1.0, validator=at_least(0.0))
    loop: bool = False


@define(frozen=True)
class BluetoothConfig:
    """Where advertisements come from.  ``watchdog_s`` 0 disables the watchdog."""

    backend: str = field(default="bluez", validator=one_of(BACKENDS))
    adapter: str = "hci0"
    mode: str = field(default="passive", validator=one_of(MODES))
    replay: ReplayConfig = field(factory=ReplayConfig)
    watchdog_s: float = field(default=120.0, validator=at_least(0.0))
    prune_after_s: float = field(default=300.0, validator=at_least(0.0, exclusive=True))


@define(frozen=True)
class DedupConfig:
    """Repeat suppression; ``max_entries`` caps the remembered addresses (LRU)."""

    window_s: float = field(default=10.0, validator=at_least(0.0))
    max_interval_s: float = field(default=300.0, validator=at_least(0.0, exclusive=True))
    max_entries: int = field(default=10000, validator=at_least(1))


@define(frozen=True)
class SpoolConfig:
    """Adverts kept in memory while the broker is unreachable (see docs/configuration.md)."""

    max_messages: int = field(default=DEFAULT_MAX_MESSAGES, validator=at_least(1000))
    max_mb: float = field(default=DEFAULT_MAX_MB, validator=at_least(1.0))

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 2**20)


@define(frozen=True)
class HeartbeatConfig:
    interval_s: float = field(default=60.0, validator=at_least(0.0, exclusive=True))


@define(frozen=True)
class CommandsConfig:
    """Remote commands on ``{prefix}/command/{scanner_id}`` and ``.../command/all``
    (docs/operations-agent.md).  ``state_file`` (default: ``<config>.state.json`` beside the
    configuration file) keeps ``set-filters``/``set-dedup`` across restarts."""

    enabled: bool = False
    allow_reboot: bool = False
    reboot_command: list[str] = field(
        factory=lambda: ["systemctl", "reboot"], validator=_nonempty_argv
    )
    state_file: str | None = None
    log_lines: int = field(default=200, validator=at_least(1))


@define(frozen=True)
class AgentConfig:
    """The whole agent configuration file."""

    scanner_id: str = field(validator=matches(SCANNER_ID_RE, SCANNER_ID_RULE))
    mqtt: MqttConfig = field(factory=MqttConfig)
    spool: SpoolConfig = field(factory=SpoolConfig)
    bluetooth: BluetoothConfig = field(factory=BluetoothConfig)
    dedup: DedupConfig = field(factory=DedupConfig)
    filters: FiltersConfig = field(factory=FiltersConfig)
    heartbeat: HeartbeatConfig = field(factory=HeartbeatConfig)
    log: LogConfig = field(factory=LogConfig)
    commands: CommandsConfig = field(factory=CommandsConfig)


def state_path(
    cfg: AgentConfig,
    config_path: str | os.PathLike[str],
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Where ``set-filters``/``set-dedup`` are kept: ``commands.state_file``; else, under
    systemd with ``StateDirectory=`` (``$STATE_DIRECTORY``, the agent's own writable folder, as
    on the Pi image whose configuration file sits in a folder the agent cannot write),
    ``commands.state.json`` there; else the configuration file's name with ``.state.json`` for
    its suffix, in the same folder."""
    if cfg.commands.state_file is not None:
        return cfg.commands.state_file
    state_dirs = environ.get("STATE_DIRECTORY", "")
    if state_dirs:  # systemd lists several, colon-separated, when several are configured
        return os.path.join(state_dirs.split(":", 1)[0], "commands.state.json")
    base, _ext = os.path.splitext(os.fspath(config_path))
    return base + ".state.json"


def make_converter() -> cattrs.Converter:
    """The strict converter for ``AgentConfig`` (unknown keys rejected, no type coercion)."""
    conv = configfile.make_converter()
    register_tls_hook(conv)
    return conv


def check_semantics(cfg: AgentConfig, source: str) -> None:
    """Checks that span keys or touch the file system; raises ``ConfigError``."""
    problems: list[str] = []
    bt = cfg.bluetooth
    if bt.backend == "replay":
        if bt.replay.file is None:
            problems.append("bluetooth.replay.file: required when bluetooth.backend is replay")
        elif not os.access(bt.replay.file, os.R_OK):
            problems.append(f"bluetooth.replay.file: cannot read {bt.replay.file!r}")
    if cfg.mqtt.password is not None and cfg.mqtt.password_file is not None:
        problems.append("mqtt.password, mqtt.password_file: set only one of them")
    if cfg.mqtt.password_file is not None and not os.access(cfg.mqtt.password_file, os.R_OK):
        problems.append(f"mqtt.password_file: cannot read {cfg.mqtt.password_file!r}")
    problems += cfg.mqtt.tls_problems()
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Read, validate and cross-check an agent configuration file."""
    source = os.fspath(path)
    data = configfile.load_yaml(path)
    cfg = configfile.structure(make_converter(), data, AgentConfig, source)
    check_semantics(cfg, source)
    return cfg
