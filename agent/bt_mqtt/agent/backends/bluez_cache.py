"""Per-device property cache for the bluez backend: Device1 properties in, ``Advert`` out.

BlueZ announces a device once (InterfacesAdded, all properties) and then sends only what
changed (PropertiesChanged).  The cache keeps the latest value of every advert field so each
partial update becomes a full ``Advert``.  Pure: no D-Bus calls, no clocks (``tick`` is passed
in).  The dicts and lists handed to an ``Advert`` are replaced, never mutated, on update, so
adverts already emitted stay intact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from dbus_fast import Variant

from bt_mqtt.agent.backends import values
from bt_mqtt.agent.backends.base import BackendStats
from bt_mqtt.agent.backends.values import MAX_DBM, MIN_DBM
from bt_mqtt.agent.backends.values import UUID_CACHE as _UUIDS
from bt_mqtt.core.advert import Advert

log = logging.getLogger(__name__)

DEVICE_IFACE: Final = "org.bluez.Device1"
# Keys whose presence in a PropertiesChanged means "an advertisement was just received".
ADVERT_KEYS: Final = frozenset(
    {"RSSI", "ManufacturerData", "ServiceData", "TxPower", "Name", "UUIDs", "AdvertisingFlags"}
)
_KEEP: Final = ("Paired", "Bonded", "Trusted", "Connected")
# Shared empty values, and shared strings (address types, UUIDs: see ``values``), keep a cache
# of 10,000 random addresses small.  Like every value here they are replaced, never mutated.
NO_MFR: Final[dict[int, bytes]] = {}
NO_SVC: Final[dict[str, bytes]] = {}
NO_UUIDS: Final[list[str]] = []


def mac_from_path(path: str) -> str:
    """``/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF`` -> ``AA:BB:CC:DD:EE:FF`` ("" if it is not one)."""
    return values.mac(path.rsplit("/dev_", 1)[-1].replace("_", ":")) or ""


def _data_map(value: Any, key_of: Callable[[Any], Any]) -> tuple[dict[Any, bytes] | None, bool]:
    """A ``a{qv}``/``a{sv}`` of ``ay`` as a dict of canonical keys to bytes, and whether every
    entry was valid (invalid entries are left out; None when ``value`` is not a dict)."""
    if type(value) is not dict:
        return None, False
    out: dict[Any, bytes] = {}
    ok = True
    for k, x in value.items():
        key = key_of(k)
        raw = values.data(x.value) if type(x) is Variant else None
        if key is None or raw is None:
            ok = False
        else:
            out[key] = raw
    return out, ok


def _uuid_list(value: Any) -> tuple[list[str] | None, bool]:
    """An ``as`` of UUIDs in canonical form (duplicates and invalid entries left out)."""
    if type(value) is not list:
        return None, False
    out = [u for u in map(values.uuid, value) if u is not None]
    return list(dict.fromkeys(out)) or NO_UUIDS, len(out) == len(value)


class CachedDevice:
    """The latest advert fields of one device object, plus what pruning needs.

    Every field holds a value ``values`` accepts (the wire v1 form) or its empty default.
    ``flags``: Paired, Bonded, Trusted, Connected as last reported, kept only while one is true
    (None otherwise, the usual case).
    """

    __slots__ = (
        "address_type",
        "flags",
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
        self.flags: dict[str, bool] | None = None
        self.seen = tick

    @property
    def keep(self) -> bool:
        """Paired, bonded, trusted or connected: never pruned."""
        return self.flags is not None

    def apply(self, changed: dict[str, Any]) -> list[str] | None:
        """Apply Device1 properties (name -> Variant), from InterfacesAdded, GetManagedObjects
        or PropertiesChanged alike: the one place an advert's properties are read.

        A value that is not of the type BlueZ documents (``n``, ``a{qv}``, ``a{sv}``, ``as``,
        ``s``, ``b``; a fake or a misbehaving bluetoothd may send others), out of range or not
        in the form ``values`` accepts, is skipped (the field keeps its last good value; a map
        or list keeps its valid entries), not fatal to the device: returns the names of such
        properties, or None.  The usual values (RSSI, manufacturer and service data of the
        documented types, UUID spellings seen before) take a short path with the same rules;
        ``tests/agent/test_bluez_fuzz.py`` checks both paths against one model.
        """
        # The short path: the three fields of nearly every PropertiesChanged, in the documented
        # D-Bus types (dbus-fast has checked an ``a{qv}``'s keys and that its values are
        # variants), with the same rules as the general path below.
        done = hits = 0  # done, bits: 1 RSSI, 2 ManufacturerData, 4 ServiceData applied here
        try:
            v = changed.get("RSSI")
            if v is not None:
                value = v.value
                if type(value) is int and MIN_DBM <= value <= MAX_DBM:  # ``values.dbm``
                    self.rssi = value
                    done = hits = 1
            v = changed.get("ManufacturerData")
            if v is not None and v.signature == "a{qv}":
                mfr: dict[int, bytes] = {}
                for cid, x in v.value.items():
                    raw = x.value
                    if type(raw) is not bytes:
                        break
                    mfr[cid] = raw
                else:
                    self.mfr = mfr or NO_MFR
                    done |= 2
                    hits += 1
            v = changed.get("ServiceData")
            if v is not None and v.signature == "a{sv}":
                svc: dict[str, bytes] = {}
                for key, x in v.value.items():
                    uuid = _UUIDS.get(key)  # spellings seen before -> the canonical UUID
                    raw = x.value
                    if uuid is None or type(raw) is not bytes:
                        break
                    svc[uuid] = raw
                else:
                    self.svc = svc or NO_SVC
                    done |= 4
                    hits += 1
        except (AttributeError, TypeError):  # not a Variant: the general path says so
            done = hits = 0
        if len(changed) == hits:
            return None
        bad: list[str] | None = None
        for key, variant in changed.items():
            ok = True
            try:
                value = variant.value
                if key == "RSSI":
                    if done & 1:
                        continue
                    rssi = values.dbm(value)
                    if rssi is None:
                        ok = False
                    else:
                        self.rssi = rssi
                elif key == "ManufacturerData":
                    if done & 2:
                        continue
                    mfr_map, ok = _data_map(value, values.company_id)
                    if mfr_map is not None:
                        self.mfr = mfr_map or NO_MFR
                elif key == "ServiceData":
                    if done & 4:
                        continue
                    svc_map, ok = _data_map(value, values.uuid)
                    if svc_map is not None:
                        self.svc = svc_map or NO_SVC
                elif key == "TxPower":
                    tx = values.dbm(value)
                    if tx is None:
                        ok = False
                    else:
                        self.tx_power = tx
                elif key == "Name":
                    name = values.name(value)
                    if name is None:
                        ok = False
                    else:
                        self.name = name
                elif key == "UUIDs":
                    uuids, ok = _uuid_list(value)
                    if uuids is not None:
                        self.uuids = uuids
                elif key == "AddressType":
                    at = values.address_type(value)
                    if at is None:
                        ok = False
                    else:
                        self.address_type = at
                elif key == "Address":
                    mac = values.mac(value)
                    if mac is None:
                        ok = False
                    else:
                        self.mac = mac
                elif key in _KEEP:
                    if type(value) is bool:
                        flags = dict(self.flags or ())
                        flags[key] = value
                        self.flags = flags if any(flags.values()) else None
                    else:
                        ok = False
            except (AttributeError, TypeError, ValueError):
                ok = False
            if not ok:
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
    """All device objects under one adapter.

    Properties ``apply`` cannot read are ignored, logged (once per name) and counted in
    ``stats.bluez_errors``; so is a device object with no valid address (neither its path nor
    its ``Address``), which is not kept.
    """

    def __init__(self, stats: BackendStats | None = None) -> None:
        self.devices: dict[str, CachedDevice] = {}
        self.stats = stats if stats is not None else BackendStats()
        self._bad_logged: set[str] = set()

    def clear(self) -> None:
        self.devices.clear()

    def add(self, path: str, props: dict[str, Any], tick: int) -> CachedDevice | None:
        """A device object appeared (InterfacesAdded or GetManagedObjects); None (counted) when
        it has no valid address."""
        dev = CachedDevice(mac_from_path(path), tick)
        bad = dev.apply(props)
        if bad:
            self.rejected(path, bad, props)
        if not dev.mac:
            if bad is None or "Address" not in bad:
                self.rejected(path, ["Address"], props)
            return None
        self.devices[path] = dev
        return dev

    def update(self, path: str, dev: CachedDevice, changed: dict[str, Any]) -> bool:
        """Apply a PropertiesChanged to ``dev``; True when it carried advert content (an
        advertisement was just received)."""
        bad = dev.apply(changed)
        if bad is not None:
            self.rejected(path, bad, changed)
        return not ADVERT_KEYS.isdisjoint(changed)

    def rejected(self, path: str, names: list[str], props: dict[str, Any]) -> None:
        """Properties ``apply`` could not read: counted in ``bluez_errors``, logged once each."""
        self.stats.bluez_errors += len(names)
        for name in names:
            if name not in self._bad_logged:
                self._bad_logged.add(name)
                log.warning(
                    "ignoring Device1.%s of unexpected type %r (or an invalid value) from %s; "
                    "further ones are only counted (bluez_errors)",
                    name,
                    getattr(props.get(name), "signature", None),
                    path,
                )

    def remove(self, path: str) -> None:
        self.devices.pop(path, None)

    def stale(self, tick: int, max_age: int) -> list[str]:
        """Paths of devices not heard for more than ``max_age`` ticks and not worth keeping."""
        return [p for p, d in self.devices.items() if d.flags is None and tick - d.seen > max_age]
