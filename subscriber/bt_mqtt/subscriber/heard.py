"""What one batch heard, in short, for the HA bridge: the planner's parse results, coalesced.

``plan_chunk`` fills a ``Heard`` (when asked) beside the COPY text, so the bridge never decodes
or parses an advert itself.  It holds, per device, only the latest of the batch: the readings as
stored (offsets applied, see ``devicesettings``), the last RSSI per scanner and the receive time
of its last advert (transit loss comes from the ingest's seq ledger, not from here).

It crosses from the planner's worker process with the plan, so each device is a plain list
(pickled without a Python call per object, unlike a class); ``DeviceHeard`` reads one.
``Window`` is filled by batch after batch and handed over at most every ``period_s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NamedTuple

from attrs import define, field

# positions in a device's list
_ADDRESS_TYPE: Final = 0
_NAME: Final = 1
_PARSER: Final = 2
_MANUFACTURER: Final = 3
_MODEL: Final = 4
_READINGS: Final = 5
_RSSI: Final = 6
_AT: Final = 7
_ADVERTS: Final = 8


class DeviceHeard(NamedTuple):
    """The latest of one decoded device in a batch (``at``: Unix seconds it was received;
    ``rssi``: scanner id -> the RSSI of its last advert)."""

    mac: str
    address_type: str | None
    name: str | None
    parser: str
    manufacturer: str | None
    model: str | None
    readings: dict[str, float]
    rssi: dict[str, int]
    at: float
    adverts: int


@define(slots=True)
class Heard:
    """One batch's decoded devices, by MAC in the order first heard (see the module)."""

    raw: dict[str, list[Any]] = field(factory=dict)

    def device(
        self,
        mac: str,
        address_type: str | None,
        name: str | None,
        parser: str,
        facts: dict[str, object],
        readings: dict[str, float],
        scanner_id: str,
        rssi: int,
        at: float,
    ) -> None:
        """One decoded advert with readings (a dict of its own): newer values replace older."""
        dev = self.raw.get(mac)
        if dev is None:
            manufacturer, model = facts.get("manufacturer"), facts.get("model")
            self.raw[mac] = [
                address_type,
                name,
                parser,
                manufacturer if isinstance(manufacturer, str) else None,
                model if isinstance(model, str) else None,
                readings,
                {scanner_id: rssi},
                at,
                1,
            ]
            return
        dev[_READINGS].update(readings)
        dev[_RSSI][scanner_id] = rssi
        dev[_AT] = max(dev[_AT], at)
        dev[_ADVERTS] += 1
        if name is not None:
            dev[_NAME] = name

    @property
    def devices(self) -> dict[str, DeviceHeard]:
        return {mac: DeviceHeard(mac, *dev) for mac, dev in self.raw.items()}

    def __iter__(self) -> Iterator[DeviceHeard]:
        for mac, dev in self.raw.items():
            yield DeviceHeard(mac, *dev)

    def __len__(self) -> int:
        return len(self.raw)

    def adverts(self) -> int:
        return sum(dev[_ADVERTS] for dev in self.raw.values())


class Window:
    """The ``Heard`` that batches fill (``current``), handed over at most every ``period_s``
    (monotonic seconds passed in): at high rates a device is heard several times a second, and
    the bridge needs only its latest values.  Filling one ``Heard`` across batches costs no
    merging."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.current = Heard()
        self._handed_at = float("-inf")

    def due(self, now: float) -> Heard | None:
        """What to hand over now (None: nothing yet, or nothing heard)."""
        if not self.current or now - self._handed_at < self.period_s:
            return None
        return self.flush(now)

    def flush(self, now: float) -> Heard | None:
        """Everything held, at once (None: nothing)."""
        if not self.current:
            return None
        out, self.current, self._handed_at = self.current, Heard(), now
        return out
