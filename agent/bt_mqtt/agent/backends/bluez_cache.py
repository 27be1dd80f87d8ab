"""Per-device property cache for the bluez backend: Device1 properties in, ``Advert`` out.

BlueZ announces a device once (InterfacesAdded, all properties) and then sends only what
changed (PropertiesChanged).  The cache keeps the latest value of every advert field so each
partial update becomes a full ``Advert``.  Pure: no D-Bus calls, no clocks (``tick`` is passed
in).  The dicts and lists handed to an ``Advert`` are replaced, never mutated, on update, so
adverts already emitted stay intact.
"""

from __future__ import annotations

import logging
from sys import intern
from typing import Any, Final

from bt_mqtt.agent.backends.base import BackendStats
from bt_mqtt.core.advert import Advert

log = logging.getLogger(__name__)

DEVICE_IFACE: Final = "org.bluez.Device1"
# Keys whose presence in a PropertiesChanged means "an advertisement was just received".
ADVERT_KEYS: Final = frozenset(
    {"RSSI", "ManufacturerData", "ServiceData", "TxPower", "Name", "UUIDs", "AdvertisingFlags"}
)
_KEEP: Final = ("Paired", "Bonded", "Trusted", "Connected")
# Shared empty values, and interned strings (address types, UUIDs), keep a cache of 10,000
# random addresses small.  Like every value here they are replaced, never mutated.
NO_MFR: Final[dict[int, bytes]] = {}
NO_SVC: Final[dict[str, bytes]] = {}
NO_UUIDS: Final[list[str]] = []


def mac_from_path(path: str) -> str:
    """``/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF`` -> ``AA:BB:CC:DD:EE:FF``."""
    return path.rsplit("/dev_", 1)[-1].replace("_", ":").upper()


class CachedDevice:
    """The latest advert fields of one device object, plus what pruning needs."""

    __slots__ = (
        "address_type",
        "keep",
        "mac",
        "mfr",
        "name",
        "rssi",
        "seen",
        "svc",
        "tx_power",
        "uuids",
    )

    def __init__(self, mac: str, tick: int) -> None:
        self.mac = mac
        self.address_type: str | None = None
        self.rssi: int | None = None
        self.tx_power: int | None = None
        self.name: str | None = None
        self.mfr: dict[int, bytes] = NO_MFR
        self.svc: dict[str, bytes] = NO_SVC
        self.uuids: list[str] = NO_UUIDS
        self.keep = False  # paired, bonded, trusted or connected: never pruned
        self.seen = tick

    def apply(
        self, changed: dict[str, Any], flags: dict[str, bool] | None = None
    ) -> list[str] | None:
        """Apply Device1 properties (name -> Variant); ``flags`` collects Paired & co.

        A value that cannot be read as the type BlueZ documents (``a{qv}``, ``a{sv}``, ``as``,
        ``s``; a fake or a future bluetoothd may send others) is skipped, not fatal to the
        device: returns the names of skipped properties, or None.
        """
        bad: list[str] | None = None
        for key, variant in changed.items():
            value = variant.value
            try:
                if key == "RSSI":
                    self.rssi = value
                elif key == "ManufacturerData":
                    self.mfr = {k: v.value for k, v in value.items()}
                elif key == "ServiceData":
                    self.svc = {intern(k.lower()): v.value for k, v in value.items()}
                elif key == "TxPower":
                    self.tx_power = value
                elif key == "Name":
                    self.name = value
                elif key == "UUIDs":
                    self.uuids = [intern(u.lower()) for u in value] or NO_UUIDS
                elif key == "AddressType":
                    self.address_type = intern(value)
                elif key == "Address":
                    self.mac = value.upper()
                elif key in _KEEP and flags is not None:
                    flags[key] = bool(value)
            except (AttributeError, TypeError):
                if bad is None:
                    bad = []
                bad.append(key)
        return bad

    def invalidate(self, names: list[str]) -> None:
        """Properties BlueZ dropped (RSSI and TxPower when discovery stops)."""
        for key in names:
            if key == "RSSI":
                self.rssi = None
            elif key == "TxPower":
                self.tx_power = None
            elif key == "ManufacturerData":
                self.mfr = NO_MFR
            elif key == "ServiceData":
                self.svc = NO_SVC
            elif key == "Name":
                self.name = None

    def advert(self) -> Advert:
        """The device's current content as one advertisement (``rssi`` must be known)."""
        return Advert(
            self.mac,
            self.rssi,  # type: ignore[arg-type]  # callers check rssi is not None
            self.address_type,
            self.tx_power,
            self.name,
            self.mfr,
            self.svc,
            self.uuids,
        )


class DeviceCache:
    """All device objects under one adapter; ``flags`` per path tracks Paired & co.

    Properties ``apply`` cannot read are ignored, logged (once per name) and counted in
    ``stats.bluez_errors``.
    """

    def __init__(self, stats: BackendStats | None = None) -> None:
        self.devices: dict[str, CachedDevice] = {}
        self.flags: dict[str, dict[str, bool]] = {}
        self.stats = stats if stats is not None else BackendStats()
        self._bad_logged: set[str] = set()

    def clear(self) -> None:
        self.devices.clear()
        self.flags.clear()

    def add(self, path: str, props: dict[str, Any], tick: int) -> CachedDevice:
        """A device object appeared (InterfacesAdded or GetManagedObjects)."""
        dev = CachedDevice(mac_from_path(path), tick)
        flags: dict[str, bool] = {}
        bad = dev.apply(props, flags)
        if bad:
            self._rejected(path, bad, props)
        self._set_flags(path, dev, flags)
        self.devices[path] = dev
        return dev

    def update_slow(self, path: str, dev: CachedDevice, changed: dict[str, Any]) -> None:
        """Apply a change that may touch Paired/Connected/... (the non-advert path)."""
        flags = self.flags.get(path, {})
        bad = dev.apply(changed, flags)
        if bad:
            self._rejected(path, bad, changed)
        self._set_flags(path, dev, flags)

    def _rejected(self, path: str, names: list[str], props: dict[str, Any]) -> None:
        self.stats.bluez_errors += len(names)
        for name in names:
            if name not in self._bad_logged:
                self._bad_logged.add(name)
                log.warning(
                    "ignoring Device1.%s of unexpected type %r from %s; "
                    "further ones are only counted (bluez_errors)",
                    name,
                    props[name].signature,
                    path,
                )

    def _set_flags(self, path: str, dev: CachedDevice, flags: dict[str, bool]) -> None:
        dev.keep = any(flags.values())
        if dev.keep:  # all false (the usual case) is the same as none: keep no dict for it
            self.flags[path] = flags
        else:
            self.flags.pop(path, None)

    def remove(self, path: str) -> None:
        self.devices.pop(path, None)
        self.flags.pop(path, None)

    def stale(self, tick: int, max_age: int) -> list[str]:
        """Paths of devices not heard for more than ``max_age`` ticks and not worth keeping."""
        return [p for p, d in self.devices.items() if not d.keep and tick - d.seen > max_age]
