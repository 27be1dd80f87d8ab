"""Per-device settings from the subscriber's YAML (``devices:``), keyed by MAC address.

```yaml
devices:
  "A4:C1:38:12:34:56":
    name: Kitchen thermometer       # shown by HA (and the console) instead of the advertised name
    area: Kitchen                   # HA's suggested_area for the device
    offsets: {temperature_c: -0.4, humidity_pct: 2.5}   # added to the decoded value
    ignore: false                   # true: never offered to Home Assistant
    homeassistant: null             # true/false: offer to HA or not; null: homeassistant.devices
```

``check`` lists every problem with its key path; ``Devices`` answers by upper-case MAC.
"""

from __future__ import annotations

import math
import re
from typing import Final

from attrs import define, field

from bt_mqtt.core.wire import MAC_RE

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
    return problems


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
