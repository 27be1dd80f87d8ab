"""Simulated remote devices: org.bluez.Device1 state and how an advert changes it.

``SimDevice.update`` applies one advert the way bluetoothd does and returns the properties
that changed (one PropertiesChanged per advert, like gdbus batching them in one idle pass).
"""

from __future__ import annotations

from typing import Any, Final

from attrs import define, field
from dbus_fast import Variant

from bt_mqtt.bluezsim.model import SimAdvert

DEVICE_IFACE: Final = "org.bluez.Device1"
RSSI_DELTA_THRESHOLD: Final = 8  # bluetoothd's delta when no discovery filter is set
WRITABLE: Final = frozenset({"Trusted", "Blocked", "Alias", "WakeAllowed"})


def _mfr_variant(data: dict[int, bytes]) -> Variant:
    return Variant("a{qv}", {k: Variant("ay", v) for k, v in data.items()})


def _svc_variant(data: dict[str, bytes]) -> Variant:
    return Variant("a{sv}", {k: Variant("ay", v) for k, v in data.items()})


@define(slots=True)
class SimDevice:
    """One device object under an adapter."""

    path: str
    adapter_path: str
    mac: str
    address_type: str
    name: str | None = None
    alias: str | None = None
    rssi: int | None = None
    tx_power: int | None = None
    manufacturer_data: dict[int, bytes] = field(factory=dict)
    service_data: dict[str, bytes] = field(factory=dict)
    uuids: list[str] = field(factory=list)
    flags: bytes = b""
    paired: bool = False
    bonded: bool = False
    trusted: bool = False
    blocked: bool = False
    connected: bool = False
    services_resolved: bool = False
    found_by: set[str] = field(factory=set)

    @classmethod
    def from_advert(cls, path: str, adapter_path: str, advert: SimAdvert) -> SimDevice:
        return cls(
            path=path,
            adapter_path=adapter_path,
            mac=advert.mac,
            address_type=advert.address_type,
            name=advert.name,
            rssi=advert.rssi,
            tx_power=advert.tx_power,
            manufacturer_data=dict(advert.manufacturer_data),
            service_data=dict(advert.service_data),
            uuids=list(advert.service_uuids),
            flags=b"" if advert.flags is None else bytes([advert.flags]),
        )

    def properties(self) -> dict[str, Variant]:
        """All present Device1 properties (optional ones absent when unknown, like BlueZ)."""
        props: dict[str, Variant] = {
            "Address": Variant("s", self.mac),
            "AddressType": Variant("s", self.address_type),
            "Alias": Variant("s", self.alias or self.name or self.mac.replace(":", "-")),
            "Paired": Variant("b", self.paired),
            "Bonded": Variant("b", self.bonded),
            "Trusted": Variant("b", self.trusted),
            "Blocked": Variant("b", self.blocked),
            "LegacyPairing": Variant("b", False),
            "Connected": Variant("b", self.connected),
            "UUIDs": Variant("as", list(self.uuids)),
            "Adapter": Variant("o", self.adapter_path),
            "ServicesResolved": Variant("b", self.services_resolved),
            "WakeAllowed": Variant("b", False),
        }
        if self.name is not None:
            props["Name"] = Variant("s", self.name)
        if self.rssi is not None:
            props["RSSI"] = Variant("n", self.rssi)
        if self.tx_power is not None:
            props["TxPower"] = Variant("n", self.tx_power)
        if self.manufacturer_data:
            props["ManufacturerData"] = _mfr_variant(self.manufacturer_data)
        if self.service_data:
            props["ServiceData"] = _svc_variant(self.service_data)
        if self.flags:
            props["AdvertisingFlags"] = Variant("ay", self.flags)
        return props

    def update(self, advert: SimAdvert, *, rssi_always: bool, duplicate: bool) -> dict[str, Any]:
        """Apply one advert; the changed properties as variants (maybe empty).

        ``rssi_always``: a discovery filter or monitor is set (RSSI emitted on every advert);
        otherwise only changes of at least 8 dBm are reported.  ``duplicate``: DuplicateData,
        so manufacturer and service data replace the old values and are emitted every time;
        otherwise they are merged in and emitted only when they change.
        """
        changed: dict[str, Any] = {}
        old = self.rssi
        if (
            rssi_always
            or old is None
            or (abs(advert.rssi - old) >= RSSI_DELTA_THRESHOLD and advert.rssi != old)
        ):
            self.rssi = advert.rssi
            changed["RSSI"] = Variant("n", advert.rssi)
        if advert.tx_power is not None and advert.tx_power != self.tx_power:
            self.tx_power = advert.tx_power
            changed["TxPower"] = Variant("n", advert.tx_power)
        if advert.name is not None and advert.name != self.name:
            self.name = advert.name
            changed["Name"] = Variant("s", advert.name)
            if self.alias is None:
                changed["Alias"] = Variant("s", advert.name)
        if advert.manufacturer_data:
            new_m = (
                dict(advert.manufacturer_data)
                if duplicate
                else {**self.manufacturer_data, **advert.manufacturer_data}
            )
            if duplicate or new_m != self.manufacturer_data:
                self.manufacturer_data = new_m
                changed["ManufacturerData"] = _mfr_variant(new_m)
        if advert.service_data:
            new_s = (
                dict(advert.service_data)
                if duplicate
                else {**self.service_data, **advert.service_data}
            )
            if duplicate or new_s != self.service_data:
                self.service_data = new_s
                changed["ServiceData"] = _svc_variant(new_s)
        if advert.service_uuids:
            merged = list(dict.fromkeys([*self.uuids, *advert.service_uuids]))
            if merged != self.uuids:
                self.uuids = merged
                changed["UUIDs"] = Variant("as", merged)
        flags = b"" if advert.flags is None else bytes([advert.flags])
        if flags and flags != self.flags:
            self.flags = flags
            changed["AdvertisingFlags"] = Variant("ay", flags)
        return changed

    def set_property(self, name: str, value: Any) -> None:
        """A client's Properties.Set on a writable property."""
        if name == "Trusted":
            self.trusted = bool(value)
        elif name == "Blocked":
            self.blocked = bool(value)
        elif name == "Alias":
            self.alias = str(value) or None
