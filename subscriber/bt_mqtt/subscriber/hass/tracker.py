"""What the HA bridge publishes, and when (pure: the caller passes the time in seconds).

``Tracker`` is fed what each ingest batch heard (``heard``: the planner's parse results, the
latest per device, readings already corrected by ``devicesettings``; ``advert`` is the same for
one advert), scanner heartbeats (``heartbeat``), alerts (``alert``), HA's birth message
(``ha_online``) and a periodic ``tick``; each returns the messages to publish.  Times are Unix
seconds (an advert's is its receive time).

- A device is announced (one retained config per offered metric) on its first decoded advert if
  ``eligible``; its configs are announced again when its best scanner (``via_device``) or its
  ``expire_after`` changes enough to matter.
- A sensor's state is published when its value changes, but not more often than
  ``min_interval_s`` (a newer value waits and is sent by ``tick``); binary sensors at once.
  While the device is heard, an unchanged state is re-published every ``expire_after / 3`` so
  that HA's ``expire_after`` fires only when the device falls silent.
- ``expire_after`` is ``expire_factor`` x the longest of the last ``GAPS`` gaps between the
  device's adverts (any scanner), clamped; ``expire_initial_s`` until ``MIN_GAPS`` are known.
- Each alert kind and subject (a scanner id or a device address) is announced once as a
  ``problem`` binary sensor on that scanner's or device's HA device; it reads the retained
  alert topic itself, so it is on while the alert fires and off once resolved.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import HA_ID_RE, MAC_RE, SCANNER_ID_RE, Topics
from bt_mqtt.parsers.api import ParseResult
from bt_mqtt.subscriber.devicesettings import Devices
from bt_mqtt.subscriber.hass import discovery as disc
from bt_mqtt.subscriber.hass.config import LISTED, HomeAssistantConfig
from bt_mqtt.subscriber.hass.entities import BINARY_SENSOR, describe, offered
from bt_mqtt.subscriber.heard import DeviceHeard, Heard

GAPS: Final = 32
MIN_GAPS: Final = 3
SAME_ADVERT_S: Final = 1.0  # closer arrivals are one advert heard by several scanners
VIA_MARGIN_DB: Final = 5.0  # a scanner must be this much louder to become the device's via
VIA_HOLD_S: Final = 600.0  # and the via changes at most this often
SCANNER_STALE_S: Final = 900.0  # a scanner not heard for this long does not count for via
EXPIRE_CHANGE: Final = 0.5  # re-announce when expire_after moves by more than this fraction
RSSI_ALPHA: Final = 0.2
CHECK_S: Final = 30.0  # via_device and expire_after are reconsidered at most this often


@define(frozen=True, slots=True)
class Publish:
    """One MQTT message for the shell to send (QoS 1)."""

    topic: str
    payload: bytes
    retain: bool = True


@define(slots=True)
class _Metric:
    platform: str
    value: float | None = None  # the latest (corrected) value
    sent: float | None = None  # the value last published
    sent_at: float = float("-inf")


@define(slots=True)
class _Device:
    mac: str
    parser: str
    info: disc.DeviceInfo
    metrics: dict[str, _Metric] = field(factory=dict)  # the metrics offered to HA
    considered: set[str] = field(factory=set)  # every metric seen, offered or not
    rssi: dict[str, tuple[float, float]] = field(factory=dict)  # scanner -> (ewma, last heard)
    via: str | None = None
    via_since: float = float("-inf")
    last_at: float = float("-inf")
    gaps: deque[float] = field(factory=lambda: deque(maxlen=GAPS))
    expire_s: int = 0
    checked_at: float = float("-inf")


@define(slots=True)
class _Scanner:
    scanner_id: str
    version: str | None = None
    announced: bool = False


def random_private(mac: str, address_type: str | None) -> bool:
    """A resolvable or non-resolvable private address (phones, laptops): it changes every few
    minutes, so it is never offered to HA.  Random *static* addresses (top bits 11) are
    stable and used by many sensors."""
    if address_type != "random":
        return False
    return (int(mac[0:2], 16) >> 6) != 0b11


class Tracker:
    """The bridge's state; see the module docstring."""

    def __init__(
        self, cfg: HomeAssistantConfig, devices: Devices, topics: Topics, version: str
    ) -> None:
        self.cfg = cfg
        self.devices = devices
        self.topics = topics
        self.version = version
        self._devices: dict[str, _Device] = {}
        self._scanners: dict[str, _Scanner] = {}
        self._alerts: dict[tuple[str, str], Publish] = {}  # (kind, subject) -> its config
        self.refused: int = 0  # decoded adverts of devices not offered to HA
        self._next_tick = float("inf")  # when the first held-back value is due

    # -- eligibility -------------------------------------------------------------------------
    def eligible(self, mac: str, address_type: str | None) -> bool:
        """Whether a decoded device may appear in HA (see ``HomeAssistantConfig.devices``)."""
        settings = self.devices.get(mac)
        if settings.ignore or settings.homeassistant is False:
            return False
        if settings.homeassistant is True:
            return True
        if self.cfg.devices == LISTED:
            return self.devices.listed(mac)
        return not random_private(mac, address_type)

    def _alert_eligible(self, mac: str) -> bool:
        """A device's alert appears in HA unless the configuration keeps the device out."""
        settings = self.devices.get(mac)
        if settings.ignore or settings.homeassistant is False:
            return False
        return (
            self.cfg.devices != LISTED or settings.homeassistant is True or self.devices.listed(mac)
        )

    # -- inputs ------------------------------------------------------------------------------
    def advert(
        self,
        now: float,
        scanner_id: str,
        advert: Advert,
        result: ParseResult | None,
    ) -> list[Publish]:
        """One advert as received from ``scanner_id`` (decoded or not; readings uncorrected):
        what the planner's ``Heard`` says of it, fed to ``heard``."""
        batch = Heard()
        out = self._known_scanner(scanner_id)
        if result is not None:
            values = {
                k: float(v)
                for k, v in self.devices.readings(advert.mac, result.readings).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if values:
                batch.device(
                    advert.mac, advert.address_type, advert.name, result.parser, result.facts,
                    values, scanner_id, advert.rssi, now,
                )  # fmt: skip
        return out + self.heard(batch)

    def heard(self, batch: Heard) -> list[Publish]:
        """What one ingest batch heard (see ``bt_mqtt.subscriber.heard``)."""
        out: list[Publish] = []
        for heard in batch:
            out += self._device(heard, heard.at)
        return out

    def _device(self, heard: DeviceHeard, at: float) -> list[Publish]:
        out: list[Publish] = []
        dev = self._devices.get(heard.mac)
        if dev is None:
            if not self.eligible(heard.mac, heard.address_type):
                self.refused += heard.adverts
                return out
            dev = self._new_device(heard)
        if at - dev.last_at >= SAME_ADVERT_S and dev.last_at > float("-inf"):
            dev.gaps.append(at - dev.last_at)
        if at - dev.last_at >= SAME_ADVERT_S:
            dev.last_at = at
        for scanner_id, rssi in heard.rssi.items():
            if scanner_id not in self._scanners:
                out += self._known_scanner(scanner_id)
            self._hear(dev, scanner_id, rssi, at)
        metrics = dev.metrics
        if at - dev.checked_at >= CHECK_S or not dev.considered.issuperset(heard.readings):
            out += self._update_configs(dev, heard.readings, at)
        # a state is due no sooner than this after the last one (see _maybe_state)
        soonest = min(self.cfg.min_interval_s, dev.expire_s / 3)
        for metric, value in heard.readings.items():
            m = metrics.get(metric)
            if m is None:
                continue
            m.value = value
            if at - m.sent_at >= soonest or m.platform == BINARY_SENSOR:
                sent = self._maybe_state(dev, metric, m, at)
                if sent:
                    out += sent
                    continue
            if value != m.sent:  # held back: tick sends it
                self._next_tick = min(self._next_tick, m.sent_at + self.cfg.min_interval_s)
        return out

    def alert(self, kind: str, subject: str, present: bool) -> list[Publish]:
        """An alert's retained topic was seen (``present``: a message; not: emptied)."""
        key = (kind, subject)
        if not present:
            old = self._alerts.pop(key, None)
            return [] if old is None else [Publish(old.topic, b"")]
        if key in self._alerts:
            return []
        if MAC_RE.fullmatch(subject):
            if not self._alert_eligible(subject):
                return []
            known = self._devices.get(subject)
            node = disc.device_node(subject)
            block = disc.device_block(known.info) if known else disc.bare_device(subject)
        elif SCANNER_ID_RE.fullmatch(subject):
            node = disc.scanner_node(subject)
            sc = self._scanners.get(subject)
            block = disc.scanner_device(subject, sc.version if sc else None)
        else:
            return []  # about nothing HA shows as a device
        object_id = f"alert_{kind}"
        if not HA_ID_RE.fullmatch(object_id):
            return []
        cfg = disc.alert_config(self.topics, kind, subject, node, block, version=self.version)
        msg = Publish(self.topics.discovery(BINARY_SENSOR, node, object_id), disc.encode(cfg))
        self._alerts[key] = msg
        return [msg]

    def heartbeat(
        self,
        now: float,
        scanner_id: str,
        payload: dict[str, Any],
        loss_pct: float | None = None,
    ) -> list[Publish]:
        """A scanner's status message (heartbeat or last will); ``loss_pct``: its transit loss
        as the ingest's seq ledger counts it (None: not known)."""
        sc = self._scanner(scanner_id)
        out: list[Publish] = []
        version = payload.get("version")
        if isinstance(version, str) and version != sc.version:
            sc.version = version
            sc.announced = False
        if not sc.announced:
            out += self._announce_scanner(sc)
        if payload.get("status") == "online" and loss_pct is not None:
            topic = self.topics.scanner_state(scanner_id, "transit_loss_pct")
            out.append(Publish(topic, disc.format_value(round(loss_pct, 2)).encode()))
        return out

    def tick(self, now: float) -> list[Publish]:
        """Send values held back by ``min_interval_s`` once it has passed (nothing to do, and
        nothing looked at, before the first of them is due)."""
        if now < self._next_tick:
            return []
        out: list[Publish] = []
        next_tick = float("inf")
        for dev in self._devices.values():
            for metric, m in dev.metrics.items():
                if m.value is not None and m.value != m.sent:
                    sent = self._maybe_state(dev, metric, m, now)
                    if sent:
                        out += sent
                    else:
                        next_tick = min(next_tick, m.sent_at + self.cfg.min_interval_s)
        self._next_tick = next_tick
        return out

    def ha_online(self) -> list[Publish]:
        """HA (re)started: every config, then every current state, again."""
        out: list[Publish] = []
        for sc in self._scanners.values():
            out += self._announce_scanner(sc)
        for dev in self._devices.values():
            out += self._configs(dev)
        out += self._alerts.values()
        for dev in self._devices.values():
            for metric, m in dev.metrics.items():
                if m.sent is not None:
                    out.append(self._state(dev, metric, m.sent))
        return out

    def forget(self, mac: str) -> list[Publish]:
        """Remove a device from HA: empty retained configs and states."""
        dev = self._devices.pop(mac, None)
        if dev is None:
            return []
        out = []
        for metric, m in dev.metrics.items():
            node = disc.device_node(mac)
            out.append(Publish(self.topics.discovery(m.platform, node, metric), b""))
            out.append(Publish(self.topics.device_state(mac, metric), b""))
        return out

    # -- figures -----------------------------------------------------------------------------
    def expire_after(self, mac: str) -> int | None:
        dev = self._devices.get(mac)
        return None if dev is None else dev.expire_s

    def via(self, mac: str) -> str | None:
        dev = self._devices.get(mac)
        return None if dev is None else dev.via

    def known(self) -> list[str]:
        return sorted(self._devices)

    # -- internals ---------------------------------------------------------------------------
    def _known_scanner(self, scanner_id: str) -> list[Publish]:
        sc = self._scanner(scanner_id)
        return [] if sc.announced else self._announce_scanner(sc)

    def _scanner(self, scanner_id: str) -> _Scanner:
        sc = self._scanners.get(scanner_id)
        if sc is None:
            sc = self._scanners[scanner_id] = _Scanner(scanner_id)
        return sc

    def _announce_scanner(self, sc: _Scanner) -> list[Publish]:
        sc.announced = True
        node = disc.scanner_node(sc.scanner_id)
        return [
            Publish(
                self.topics.discovery(e.platform, node, e.object_id),
                disc.encode(
                    disc.scanner_config(
                        self.topics,
                        sc.scanner_id,
                        e,
                        agent_version=sc.version,
                        version=self.version,
                    )
                ),
            )
            for e in disc.SCANNER_ENTITIES
        ]

    def _new_device(self, heard: DeviceHeard) -> _Device:
        settings = self.devices.get(heard.mac)
        name = settings.name or heard.name or f"{heard.parser} {heard.mac[-8:]}"
        info = disc.DeviceInfo(
            mac=heard.mac,
            name=name,
            manufacturer=heard.manufacturer,
            model=heard.model or heard.parser,
            area=settings.area,
        )
        dev = _Device(heard.mac, heard.parser, info, expire_s=self.cfg.expire_initial_s)
        self._devices[heard.mac] = dev
        return dev

    def _hear(self, dev: _Device, scanner_id: str, rssi: int, now: float) -> None:
        old = dev.rssi.get(scanner_id)
        ewma = float(rssi) if old is None else old[0] + RSSI_ALPHA * (rssi - old[0])
        dev.rssi[scanner_id] = (ewma, now)

    def _best_scanner(self, dev: _Device, now: float) -> str | None:
        live = {s: r for s, (r, t) in dev.rssi.items() if now - t <= SCANNER_STALE_S}
        if not live:
            return dev.via
        best = max(live, key=lambda s: live[s])
        current = dev.via
        if current is None or current not in live:
            return best
        louder = live[best] >= live[current] + VIA_MARGIN_DB
        if best != current and louder and now - dev.via_since >= VIA_HOLD_S:
            return best
        return current

    def _expire(self, dev: _Device) -> int:
        if len(dev.gaps) < MIN_GAPS:
            return self.cfg.expire_initial_s
        want = round(self.cfg.expire_factor * max(dev.gaps))
        return int(min(self.cfg.expire_max_s, max(self.cfg.expire_min_s, want)))

    def _update_configs(
        self, dev: _Device, readings: dict[str, float], now: float
    ) -> list[Publish]:
        changed = False
        metrics = dev.metrics
        for metric in readings:
            if metric in dev.considered:
                continue
            dev.considered.add(metric)
            if offered(metric, dev.parser) and HA_ID_RE.fullmatch(metric):
                metrics[metric] = _Metric(describe(metric).platform)
                changed = True
        if not changed and now - dev.checked_at < CHECK_S:
            return []
        dev.checked_at = now
        via = self._best_scanner(dev, now)
        if via != dev.via:
            dev.via, dev.via_since = via, now
            dev.info = disc.DeviceInfo(
                dev.info.mac,
                dev.info.name,
                dev.info.manufacturer,
                dev.info.model,
                dev.info.area,
                via,
            )
            changed = True
        expire = self._expire(dev)
        if abs(expire - dev.expire_s) > EXPIRE_CHANGE * dev.expire_s:
            dev.expire_s = expire
            changed = True
        return self._configs(dev) if changed else []

    def _configs(self, dev: _Device) -> list[Publish]:
        node = disc.device_node(dev.mac)
        out = []
        for metric in dev.metrics:
            kind = describe(metric)
            cfg = disc.entity_config(
                self.topics,
                dev.info,
                metric,
                kind,
                expire_after_s=dev.expire_s,
                version=self.version,
            )
            topic = self.topics.discovery(kind.platform, node, metric)
            out.append(Publish(topic, disc.encode(cfg)))
        return out

    def _state(self, dev: _Device, metric: str, value: float) -> Publish:
        return Publish(self.topics.device_state(dev.mac, metric), disc.format_value(value).encode())

    def _maybe_state(self, dev: _Device, metric: str, m: _Metric, now: float) -> list[Publish]:
        assert m.value is not None
        since = now - m.sent_at
        if m.value == m.sent:
            due = since >= dev.expire_s / 3
        elif m.platform == BINARY_SENSOR:
            due = True
        else:
            due = since >= self.cfg.min_interval_s
        if not due:
            return []
        m.sent, m.sent_at = m.value, now
        return [self._state(dev, metric, m.value)]
