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
    assert dev is not None
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

    cache.update(
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
    assert dev is not None
    assert cache.stats.bluez_errors == 0
    assert (dev.rssi, dev.tx_power, dev.mfr, dev.uuids, dev.keep) == (
        -60,
        4,
        {1177: b"\x01"},
        ["0000fcd2-0000-1000-8000-00805f9b34fb"],
        True,
    )


def test_values_out_of_range_or_in_odd_forms() -> None:
    """Right D-Bus type, wrong content: ignored and counted; UUID spellings made canonical."""
    stats = BackendStats()
    cache = DeviceCache(stats)
    dev = cache.add(
        PATH,
        {
            "RSSI": Variant("n", -300),
            "TxPower": Variant("n", 1000),
            "AddressType": Variant("s", 'public","mac":"x'),
            "Name": Variant("s", "x" * 249),
            "ManufacturerData": Variant(
                "a{qv}", {76: Variant("ay", b"\x01"), 77: Variant("s", "0102")}
            ),
            "ServiceData": Variant(
                "a{sv}", {"FCD2": Variant("ay", b"\x40"), '"},"mac":"x': Variant("ay", b"")}
            ),
            "UUIDs": Variant("as", ["181a", "0000181A", "not-a-uuid"]),
        },
        0,
    )
    assert dev is not None
    assert stats.bluez_errors == 7
    assert (dev.rssi, dev.tx_power, dev.address_type, dev.name) == (None, None, None, None)
    assert dev.mfr == {76: b"\x01"}
    assert dev.svc == {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40"}
    assert dev.uuids == ["0000181a-0000-1000-8000-00805f9b34fb"]


def test_a_device_without_a_valid_address_is_refused_and_counted() -> None:
    cache = DeviceCache()
    assert cache.add("/org/bluez/hci0/dev_zz", {"RSSI": Variant("n", -5)}, 0) is None
    bad_address = {"Address": Variant("s", "ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ"), "RSSI": Variant("n", -5)}
    assert cache.add("/org/bluez/hci0/dev_zz", bad_address, 0) is None
    assert cache.stats.bluez_errors == 2 and not cache.devices
    good = cache.add("/org/bluez/hci0/dev_zz", {"Address": Variant("s", "c0:ff:ee:00:00:01")}, 0)
    assert good is not None and good.mac == "C0:FF:EE:00:00:01"
