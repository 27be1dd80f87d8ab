"""Every MQTT topic the product uses: built, subscribed to and classified here, and only here.

Under the configured prefix (``mqtt.topic_prefix``, default ``bt-mqtt``):

- ``{prefix}/raw/{scanner_id}``: one advertisement per message (``RAW``)
- ``{prefix}/scanner/{scanner_id}/status``: the retained heartbeat or offline status (``STATUS``)
- ``{prefix}/command/{scanner_id}`` and ``{prefix}/command/all``: commands (``COMMAND``)
- ``{prefix}/scanner/{scanner_id}/reply``: the answers to commands (``REPLY``)
- ``{prefix}/alert/{alert_kind}/{subject}``: one retained message per alert (``ALERT``)

and Home Assistant MQTT discovery under its own prefix (default ``homeassistant``):
``{ha_prefix}/{component}/{node_id}/{object_id}/config`` (retained, one per entity) and HA's
birth message ``{ha_prefix}/status``; the HA bridge's own topics, all retained:

- ``{prefix}/ha/device/{node}/{metric}``: one metric's state (a number, ``1``/``0`` for a
  binary sensor), ``node`` the 12 hex digits of the device's address
- ``{prefix}/ha/scanner/{scanner_id}/{name}``: a state the bridge computes for a scanner
- ``{prefix}/ha/status``: the bridge's availability, ``online``/``offline`` (its last will)

docs/mqtt-schema.md lists them all.

A scanner id is 1 to 64 characters of ``a-z``, ``0-9``, ``_`` and ``-``
(``SCANNER_ID_RE``); a topic whose scanner id is anything else is not ours (``classify``
returns None), so ``bt-mqtt/raw/BAD ID`` is refused by every reader alike.
"""

from __future__ import annotations

import re
from typing import Final

from attrs import define, field

__all__ = [
    "ALERT",
    "ALL_SCANNERS",
    "COMMAND",
    "DEFAULT_HA_PREFIX",
    "DEFAULT_PREFIX",
    "RAW",
    "REPLY",
    "SCANNER_ID_RE",
    "SCANNER_ID_RULE",
    "STATUS",
    "Route",
    "Topics",
    "check_prefix",
    "check_scanner_id",
    "shared",
]

DEFAULT_PREFIX: Final = "bt-mqtt"
DEFAULT_HA_PREFIX: Final = "homeassistant"
SCANNER_ID_RE: Final = re.compile(r"[a-z0-9_-]{1,64}")
SCANNER_ID_RULE: Final = "1 to 64 characters of a-z, 0-9, '_' and '-'"
# a prefix: no wildcard, no white space, not starting or ending with a level separator
PREFIX_RE: Final = re.compile(r"[^#+\s]+")
ALERT_KIND_RE: Final = re.compile(r"[a-z0-9_]{1,64}")
# what an alert is about: a scanner id, a MAC address, a metric, ...
ALERT_SUBJECT_RE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Home Assistant's own rule for discovery's node and object ids
HA_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,160}")
HA_COMPONENT_RE: Final = re.compile(r"[a-z_]{1,32}")
MAC_RE: Final = re.compile(r"(?:[0-9A-F]{2}:){5}[0-9A-F]{2}")

RAW: Final = "raw"
STATUS: Final = "status"
COMMAND: Final = "command"
REPLY: Final = "reply"
ALERT: Final = "alert"
ALL_SCANNERS: Final = "all"  # the command target meaning every scanner
CACHE_MAX: Final = 4096


def check_scanner_id(scanner_id: str) -> str:
    """``scanner_id`` itself when valid, else ValueError naming it."""
    if not isinstance(scanner_id, str) or not SCANNER_ID_RE.fullmatch(scanner_id):
        raise ValueError(f"scanner id {scanner_id!r} is not {SCANNER_ID_RULE}")
    return scanner_id


def check_prefix(prefix: str) -> str:
    """``prefix`` itself when usable as a topic prefix, else ValueError naming it."""
    if (
        not isinstance(prefix, str)
        or not PREFIX_RE.fullmatch(prefix)
        or prefix.startswith("/")
        or prefix.endswith("/")
    ):
        raise ValueError(f"{prefix!r} is not a usable topic prefix")
    return prefix


def shared(group: str | None, topic_filter: str) -> str:
    """``topic_filter`` as a shared subscription of ``group`` (unchanged when None)."""
    return topic_filter if group is None else f"$share/{group}/{topic_filter}"


@define(frozen=True, slots=True)
class Route:
    """What a topic is: its ``kind`` (``RAW``, ``STATUS``, ``COMMAND``, ``REPLY``, ``ALERT``)
    and whom it concerns: ``scanner_id`` (``ALL_SCANNERS`` for a command to every scanner),
    or for an alert ``alert_kind`` and ``subject``."""

    kind: str
    scanner_id: str | None = None
    alert_kind: str | None = None
    subject: str | None = None


@define(slots=True)
class Topics:
    """The topics under one prefix.  ``classify`` caches its answers (bounded)."""

    prefix: str = field(default=DEFAULT_PREFIX)
    ha_prefix: str = field(default=DEFAULT_HA_PREFIX)
    _raw: str = field(init=False)
    _scanner: str = field(init=False)
    _command: str = field(init=False)
    _alert: str = field(init=False)
    _seen: dict[str, Route | None] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        check_prefix(self.prefix)
        check_prefix(self.ha_prefix)
        self._raw = f"{self.prefix}/raw/"
        self._scanner = f"{self.prefix}/scanner/"
        self._command = f"{self.prefix}/command/"
        self._alert = f"{self.prefix}/alert/"

    # -- building ---------------------------------------------------------------------------
    def raw(self, scanner_id: str) -> str:
        return self._raw + check_scanner_id(scanner_id)

    def status(self, scanner_id: str) -> str:
        return f"{self._scanner}{check_scanner_id(scanner_id)}/status"

    def command(self, scanner_id: str) -> str:
        """The command topic of one scanner, or of every scanner (``ALL_SCANNERS``)."""
        return self._command + check_scanner_id(scanner_id)

    def reply(self, scanner_id: str) -> str:
        return f"{self._scanner}{check_scanner_id(scanner_id)}/reply"

    def alert(self, alert_kind: str, subject: str) -> str:
        if not ALERT_KIND_RE.fullmatch(alert_kind):
            raise ValueError(f"alert kind {alert_kind!r} is not 1 to 64 of a-z, 0-9 and '_'")
        if not ALERT_SUBJECT_RE.fullmatch(subject):
            raise ValueError(f"alert subject {subject!r} is not 1 to 64 of A-Z, a-z, 0-9, _.:-")
        return f"{self._alert}{alert_kind}/{subject}"

    def discovery(self, component: str, node_id: str, object_id: str) -> str:
        """Home Assistant's discovery config topic of one entity."""
        if not HA_COMPONENT_RE.fullmatch(component):
            raise ValueError(f"Home Assistant component {component!r} is not a-z and '_'")
        for what, value in (("node id", node_id), ("object id", object_id)):
            if not HA_ID_RE.fullmatch(value):
                raise ValueError(f"{what} {value!r} is not 1 to 160 of A-Z, a-z, 0-9, '_', '-'")
        return f"{self.ha_prefix}/{component}/{node_id}/{object_id}/config"

    def ha_status(self) -> str:
        """Where Home Assistant announces itself (``online`` after a restart)."""
        return f"{self.ha_prefix}/status"

    def device_state(self, mac: str, metric: str) -> str:
        """The state topic of one metric of the device ``mac`` (the HA bridge's)."""
        return f"{self.prefix}/ha/device/{device_node(mac)}/{metric}"

    def scanner_state(self, scanner_id: str, name: str) -> str:
        """A state the HA bridge computes for a scanner (``transit_loss_pct``)."""
        return f"{self.prefix}/ha/scanner/{check_scanner_id(scanner_id)}/{name}"

    def bridge_status(self) -> str:
        """The HA bridge's availability: ``online``, or ``offline`` (its last will)."""
        return f"{self.prefix}/ha/status"

    # -- subscribing ------------------------------------------------------------------------
    def raw_filter(self) -> str:
        return f"{self._raw}+"

    def status_filter(self) -> str:
        return f"{self._scanner}+/status"

    def reply_filter(self) -> str:
        return f"{self._scanner}+/reply"

    def command_filter(self) -> str:
        """Every command topic (one scanner's and ``all``): what the server records."""
        return f"{self._command}+"

    def alert_filter(self) -> str:
        return f"{self._alert}+/+"

    def discovery_filters(self, components: tuple[str, ...]) -> list[str]:
        """Every discovery config of these components (for cleaning up)."""
        return [f"{self.ha_prefix}/{c}/+/+/config" for c in components]

    def bridge_filter(self) -> str:
        """Every retained state of the HA bridge (for cleaning up)."""
        return f"{self.prefix}/ha/#"

    def ingest_filters(self) -> list[str]:
        """What the subscriber, the console and the demo's witness read: adverts and status."""
        return [self.raw_filter(), self.status_filter()]

    def command_filters(self, scanner_id: str) -> list[str]:
        """What one agent reads: its own commands and those to every scanner."""
        return [self.command(scanner_id), self.command(ALL_SCANNERS)]

    # -- classifying ------------------------------------------------------------------------
    def classify(self, topic: str) -> Route | None:
        """The ``Route`` of a topic under this prefix, or None for a topic we do not handle
        (another prefix or shape, or an invalid scanner id, alert kind or subject)."""
        try:
            return self._seen[topic]
        except KeyError:
            if len(self._seen) >= CACHE_MAX:
                self._seen.clear()
            route = self._seen[topic] = self._classify(topic)
            return route

    def _classify(self, topic: str) -> Route | None:
        if topic.startswith(self._raw):
            return _scanner_route(RAW, topic[len(self._raw) :])
        if topic.startswith(self._scanner):
            rest = topic[len(self._scanner) :]
            sid, _, leaf = rest.partition("/")
            if leaf == "status":
                return _scanner_route(STATUS, sid)
            if leaf == "reply":
                return _scanner_route(REPLY, sid)
            return None
        if topic.startswith(self._command):
            return _scanner_route(COMMAND, topic[len(self._command) :])
        if topic.startswith(self._alert):
            kind, _, subject = topic[len(self._alert) :].partition("/")
            if ALERT_KIND_RE.fullmatch(kind) and ALERT_SUBJECT_RE.fullmatch(subject):
                return Route(ALERT, alert_kind=kind, subject=subject)
        return None


def _scanner_route(kind: str, scanner_id: str) -> Route | None:
    return Route(kind, scanner_id) if SCANNER_ID_RE.fullmatch(scanner_id) else None


def device_node(mac: str) -> str:
    """A device's id in topics: its address, 12 lower-case hex digits (``a4c138123456``)."""
    if not MAC_RE.fullmatch(mac):
        raise ValueError(f"{mac!r} is not an upper-case AA:BB:CC:DD:EE:FF address")
    return mac.replace(":", "").lower()
