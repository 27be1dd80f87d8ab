"""The bluez backend's device cache: Device1 properties it cannot read (another type than BlueZ
documents, as python-dbusmock sends) are ignored and counted; the rest of the device is used."""

from __future__ import annotations

from dbus_fast import Variant

from bt_mqtt.agent.backends.base import BackendStats
from bt_mqtt.agent.backends.bluez_cache import DeviceCache

PATH = "/org/bluez/hci0/dev_C0_FF_EE_00_00_01"


def test_wrong_typed_properties_are_ignored_and_counted() -> None:
    stats = BackendStats()
    cache = DeviceCache(stats)
    dev = cache.add(
        PATH,
        {
            "Address": Variant("s", "C0:FF:EE:00:00:01"),
            "AddressType": Variant("s", "random"),
            "Name": Variant("s", "tag"),
            "RSSI": Variant("n", -50),
            "ManufacturerData": Variant("aa{qv}", []),  # an array of dicts, not a{qv}
            "ServiceData": Variant(
                "a{sv}", {"0000FCD2-0000-1000-8000-00805F9B34FB": Variant("ay", b"\x40")}
            ),
        },
        0,
    )
    assert stats.bluez_errors == 1
    advert = dev.advert()
    assert (advert.mac, advert.address_type, advert.name, advert.rssi) == (
        "C0:FF:EE:00:00:01",
        "random",
        "tag",
        -50,
    )
    assert advert.manufacturer_data == {}
    assert advert.service_data == {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40"}

    cache.update_slow(
        PATH,
        dev,
        {
            "RSSI": Variant("n", -40),
            "ServiceData": Variant("aa{sv}", []),
            "UUIDs": Variant("ai", [1, 2]),
            "Name": Variant("s", "new"),
        },
    )
    assert stats.bluez_errors == 3
    assert (dev.rssi, dev.name, dev.uuids) == (-40, "new", [])
    assert dev.svc == {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40"}  # the last good value


def test_documented_types_are_not_counted() -> None:
    cache = DeviceCache()
    dev = cache.add(
        PATH,
        {
            "RSSI": Variant("n", -60),
            "TxPower": Variant("n", 4),
            "ManufacturerData": Variant("a{qv}", {1177: Variant("ay", b"\x01")}),
            "UUIDs": Variant("as", ["0000FCD2-0000-1000-8000-00805F9B34FB"]),
            "Paired": Variant("b", True),
            "AdvertisingFlags": Variant("ay", b"\x06"),  # not an advert field we keep
        },
        0,
    )
    assert cache.stats.bluez_errors == 0
    assert (dev.rssi, dev.tx_power, dev.mfr, dev.uuids, dev.keep) == (
        -60,
        4,
        {1177: b"\x01"},
        ["0000fcd2-0000-1000-8000-00805f9b34fb"],
        True,
    )
