"""What one batch heard, in short, for the HA bridge: the planner's parse results, coalesced.

``plan_chunk`` fills a ``Heard`` (when asked) beside the COPY text, so the bridge never decodes
or parses an advert itself.  It holds, per device, only the latest of the batch: the readings as
stored (offsets applied, see ``devicesettings``), the last RSSI per scanner and the receive time
of its last advert (transit loss comes from the ingest's seq ledger, not from here).  It
crosses from the planner's worker process as plain tuples, dicts and lists, so pickling it costs
little next to the rows.
"""

from __future__ import annotations

from attrs import define, field


@define(slots=True)
class DeviceHeard:
    """The latest of one decoded device in a batch (``at``: Unix seconds it was received)."""

    mac: str
    address_type: str | None
    name: str | None
    parser: str
    manufacturer: str | None
    model: str | None
    readings: dict[str, float]
    rssi: dict[str, int]  # scanner id -> the RSSI of its last advert
    at: float
    adverts: int = 1


@define(slots=True)
class Heard:
    """One batch: ``devices`` by MAC, in the order first heard."""

    devices: dict[str, DeviceHeard] = field(factory=dict)

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
        """One decoded advert with readings: newer values replace older ones."""
        dev = self.devices.get(mac)
        if dev is None:
            manufacturer, model = facts.get("manufacturer"), facts.get("model")
            self.devices[mac] = DeviceHeard(
                mac,
                address_type,
                name,
                parser,
                manufacturer if isinstance(manufacturer, str) else None,
                model if isinstance(model, str) else None,
                readings,
                {scanner_id: rssi},
                at,
            )
            return
        dev.readings.update(readings)
        dev.rssi[scanner_id] = rssi
        dev.at = max(dev.at, at)
        dev.adverts += 1
        if name is not None:
            dev.name = name

    def __bool__(self) -> bool:
        return bool(self.devices)
