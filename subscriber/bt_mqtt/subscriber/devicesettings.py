"""Per-device settings from the subscriber's YAML (``devices:``), keyed by MAC address.

```yaml
devices:
  "A4:C1:38:12:34:56":
    name: Kitchen thermometer       # shown by HA and the console instead of the advertised name
    area: Kitchen                   # HA's suggested_area for the device
    offsets: {temperature_c: -0.4, humidity_pct: 2.5}   # added to the decoded value
    ignore: false                   # true: raw adverts archived, no readings, not offered to HA
    homeassistant: null             # true/false: offer to HA or not; null: homeassistant.devices
    switchbot_model: Meter          # parser hint: the SwitchBot model of a passively heard device
    mopeka_medium: fresh_water      # parser hint: what a Mopeka tank sensor measures
```

The same settings apply everywhere a reading is made: the ingest (``readings``: offsets added,
nothing for an ignored device), ``reprocess`` (the current settings, re-applied), the console
(names) and the HA bridge.  ``check`` lists every problem with its key path; ``Devices``
answers by upper-case MAC; ``apply_hints`` hands the parser hints to a ``ParseContext``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from attrs import define, field

from bt_mqtt.core.wire import MAC_RE
from bt_mqtt.parsers import mopeka, switchbot
from bt_mqtt.parsers.api import ParseContext

METRIC_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
# offsets are calibration of a linear reading; other metrics (counts, booleans) make no sense
OFFSET_BASES: Final = ("temperature", "humidity", "pressure", "dewpoint", "moisture")


@define(frozen=True)
class DeviceSettings:
    """What the operator says about one device (every key optional)."""

    name: str | None = None
    area: str | None = None
    offsets: dict[str, float] = field(factory=dict)
    ignore: bool = False
    homeassistant: bool | None = None
    switchbot_model: str | None = None
    mopeka_medium: str | None = None


def _hint_problems(key: str, dev: DeviceSettings) -> list[str]:
    problems = []
    if dev.switchbot_model is not None:
        try:
            switchbot.set_model(ParseContext(), "00:00:00:00:00:00", dev.switchbot_model)
        except ValueError as exc:
            problems.append(f"devices.{key}.switchbot_model: {exc}")
    if dev.mopeka_medium is not None:
        try:
            mopeka.set_medium(ParseContext(), "00:00:00:00:00:00", dev.mopeka_medium)
        except ValueError as exc:
            problems.append(f"devices.{key}.mopeka_medium: {exc}")
    return problems


def check(devices: dict[str, DeviceSettings]) -> list[str]:
    """Problems in a ``devices:`` section, each starting with its key path."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for key, dev in devices.items():
        mac = key.upper()
        if not MAC_RE.fullmatch(mac):
            problems.append(f"devices: {key!r} is not a MAC address (AA:BB:CC:DD:EE:FF)")
            continue
        if mac in seen:
            problems.append(f"devices.{key}: the same device as devices.{seen[mac]}")
        seen[mac] = key
        for text_key, text in (("name", dev.name), ("area", dev.area)):
            if text is not None and (not text.strip() or len(text) > 100 or not text.isprintable()):
                problems.append(
                    f"devices.{key}.{text_key}: {text!r} must be 1 to 100 printable characters"
                )
        for metric, offset in dev.offsets.items():
            where = f"devices.{key}.offsets.{metric}"
            if not METRIC_RE.fullmatch(metric):
                problems.append(f"{where}: {metric!r} is not a metric name (e.g. temperature_c)")
            elif not metric.startswith(OFFSET_BASES):
                problems.append(f"{where}: offsets apply to {', '.join(OFFSET_BASES)} metrics only")
            if not math.isfinite(offset):
                problems.append(f"{where}: {offset!r} is not a finite number")
        problems += _hint_problems(key, dev)
    return problems


def apply_hints(ctx: ParseContext, devices: Devices) -> ParseContext:
    """Hand the per-device parser hints (SwitchBot model, Mopeka medium) to ``ctx``."""
    for mac in devices.macs():
        dev = devices.get(mac)
        if dev.switchbot_model is not None:
            switchbot.set_model(ctx, mac, dev.switchbot_model)
        if dev.mopeka_medium is not None:
            mopeka.set_medium(ctx, mac, dev.mopeka_medium)
    return ctx


class Devices:
    """Settings by upper-case MAC; a MAC without an entry gets the defaults."""

    DEFAULT: Final = DeviceSettings()

    def __init__(self, devices: dict[str, DeviceSettings] | None = None) -> None:
        self._by_mac = {k.upper(): v for k, v in (devices or {}).items()}

    def get(self, mac: str) -> DeviceSettings:
        return self._by_mac.get(mac, self.DEFAULT)

    def listed(self, mac: str) -> bool:
        return mac in self._by_mac

    def macs(self) -> list[str]:
        return sorted(self._by_mac)

    def corrected(self, mac: str, metric: str, value: float) -> float:
        """``value`` plus the device's offset for ``metric`` (if any)."""
        offset = self.get(mac).offsets.get(metric)
        return value if offset is None else value + offset

    def readings(self, mac: str, readings: dict[str, Any]) -> dict[str, Any]:
        """The readings as stored and shown: offsets added (numbers only), none for an ignored
        device.  Returns ``readings`` itself when the device has no settings (the usual case)."""
        dev = self._by_mac.get(mac)
        if dev is None or (not dev.offsets and not dev.ignore):
            return readings
        if dev.ignore:
            return {}
        out = dict(readings)
        for metric, offset in dev.offsets.items():
            value = out.get(metric)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[metric] = value + offset
        return out

    def name(self, mac: str) -> str | None:
        """The configured name of a device (None: none configured)."""
        dev = self._by_mac.get(mac)
        return None if dev is None else dev.name
