"""``bt-mqtt-agent`` (bluez backend) against an org.bluez fake that is not ours: python-dbusmock's
``bluez5`` template (Debian ``python3-dbusmock``), with a real Mosquitto and a configuration that
uses only the keys of DESIGN.md.

The template has an ObjectManager, Adapter1 (StartDiscovery, StopDiscovery, SetDiscoveryFilter,
RemoveDevice) and Device1 objects, but no AdvertisementMonitorManager1, so the agent configured
for ``passive`` must fall back to active discovery by itself and say so (``scan_mode``).

Where dbusmock 0.28 differs from a real bluetoothd (the test works around these; the agent is
not bent to them, it only treats a wrongly typed property like any malformed input):

- ``AddDevice`` announces every device with fixed defaults: ``RSSI`` -79, ``TxPower`` 0,
  ``AddressType`` public, and ``ManufacturerData``/``ServiceData``/``AdvertisingFlags``/
  ``AdvertisingData`` as *arrays of* the real types (``aa{qv}``, ``aa{sv}``, ``aay``,
  ``aa{yv}``); bluetoothd sends ``a{qv}``/``a{sv}``/``ay``/``a{yv}`` and leaves out what the
  device did not advertise.  The agent must survive them (it used to exit on them in
  GetManagedObjects); it ignores such values and counts them in ``bluez_errors``.
  Devices that appear with real advert content are announced like bluetoothd does, with all
  properties in one InterfacesAdded, through dbusmock's generic AddObject + EmitSignal.
- ``Mock.UpdateProperties`` cannot carry dict-typed values (ManufacturerData, ServiceData):
  it fails wrapping a ``dbus.Dictionary``.  ``Properties.Set`` can, one property per signal.
  bluetoothd sends one PropertiesChanged per received advert with RSSI and the fields that
  changed, so most adverts here are that signal sent through ``Mock.EmitSignal`` (the mock's
  stored properties then lag, which only GetManagedObjects would show).
- The mock does not scan: ``Discovering`` follows Start/StopDiscovery, adverts come from the test.
  Its StartDiscovery/StopDiscovery raise KeyError('DiscoveryFilter') until SetDiscoveryFilter
  was called once (the agent always sets the filter first).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Variant

from bt_mqtt.core import wire
from tests.agent.helpers import start_agent, write_config
from tests.fixtures.dbusmock import ADAPTER_IFACE, DEVICE_IFACE, BluezDBusMock
from tests.fixtures.mosquitto import Broker
from tests.fixtures.mqtt import MqttCollector, Received, read_retained
from tests.fixtures.procs import stop_process
from tests.fixtures.waiting import wait_until

SID = "dbusmock-pi"
RAW = f"bt-mqtt/raw/{SID}"
STATUS = f"bt-mqtt/scanner/{SID}/status"
HCI0 = "/org/bluez/hci0"
HCI0_ADDRESS = "00:01:02:03:04:05"  # what the template derives from "hci0"

P = "C0:FF:EE:00:00:10"  # known to bluetoothd before the agent starts (template AddDevice)
A = "C0:FF:EE:00:00:0A"  # template AddDevice, then adverts
B = "C0:FF:EE:00:00:0B"  # announced with real advert content, then Set / UpdateProperties
G = "C0:FF:EE:00:00:06"  # first seen after bluetoothd restarted
BLOCKED_MAC = "C0:FF:EE:00:00:0C"
BLOCKED_PREFIX = "DE:AD:BE:EF:00:01"
BLOCKED_COMPANY = "C0:FF:EE:00:00:0E"
BLOCKED_NAME = "C0:FF:EE:00:00:0D"
APPLE = 76
UUID_FCD2 = "0000fcd2-0000-1000-8000-00805f9b34fb"
UUID_180F = "0000180f-0000-1000-8000-00805f9b34fb"


def mfr(company: int, data: bytes) -> Variant:
    return Variant("a{qv}", {company: Variant("ay", data)})


def svc(uuid: str, data: bytes) -> Variant:
    return Variant("a{sv}", {uuid: Variant("ay", data)})


def rssi(value: int) -> Variant:
    return Variant("n", value)


def seen(msg: Received) -> tuple[Any, ...]:
    """What the wire message says about the device, as sent (after the wire decoder accepts it)."""
    wire.decode(msg.payload, SID)
    o = msg.json()
    return (
        o["mac"],
        o["address_type"],
        o["rssi"],
        o["tx_power"],
        o["name"],
        o["manufacturer_data"],
        o["service_data"],
        o["service_uuids"],
    )


def beat_where(col: MqttCollector, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first heartbeat (at 1 s intervals) that satisfies ``pred``."""
    got = col.wait_for(1, timeout=15, predicate=lambda m: m.topic == STATUS and pred(m.json()))
    return got[0].json()  # type: ignore[no-any-return]


@pytest.mark.slow
def test_agent_on_dbusmock_bluez(
    tmp_path: Path,
    bluez_dbusmock: BluezDBusMock,
    mosquitto: Broker,
    mqtt_collect: Callable[..., MqttCollector],
) -> None:
    mock = bluez_dbusmock
    assert mock.add_adapter("hci0", "dbusmock") == HCI0
    path_p = mock.add_device("hci0", P, "papa")  # bluetoothd already knows P
    conf = write_config(
        tmp_path / "agent.yaml",
        {
            "scanner_id": SID,
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "username": None,
                "tls": False,
                "topic_prefix": "bt-mqtt",
            },
            "bluetooth": {
                "backend": "bluez",
                "adapter": "hci0",
                "mode": "passive",
                "replay": {"file": None, "speed": 1.0, "loop": False},
            },
            "dedup": {"window_s": 60, "max_interval_s": 300},
            "filters": {
                "blocklist": {
                    "macs": [BLOCKED_MAC],
                    "prefixes": ["DE:AD:BE"],
                    "company_ids": [APPLE],
                    "service_uuids": [],
                    "names": ["secret-*"],
                },
                "allowlist": None,
                "min_rssi": None,
            },
            "heartbeat": {"interval_s": 1},
            "log": {"level": "info", "format": "json"},
        },
    )
    col = mqtt_collect(mosquitto, RAW, STATUS)
    log = tmp_path / "agent.log"
    proc = start_agent(conf, log)
    try:
        # -- no AdvertisementMonitorManager1: active discovery, and the heartbeat says so -------
        online = beat_where(
            col, lambda b: b["status"] == "online" and b["adapter"]["discovering"] is True
        )
        assert online["adapter"] == {
            "name": "hci0",
            "address": HCI0_ADDRESS,
            "powered": True,
            "discovering": True,
            "scan_mode": "active",
        }
        assert "advertisement monitors unsupported" in log.read_text()
        (filt,) = mock.method_calls(HCI0, "SetDiscoveryFilter")
        assert {k: v.value for k, v in filt[0].items()} == {
            "Transport": "le",
            "DuplicateData": True,
        }
        assert len(mock.method_calls(HCI0, "StartDiscovery")) == 1

        # -- adverts ---------------------------------------------------------------------------
        # P: a device from GetManagedObjects (template defaults) advertises
        mock.properties_changed(
            path_p, {"RSSI": rssi(-55), "ManufacturerData": mfr(1177, b"\x10\x01")}
        )
        # A: the template's AddDevice is an advert (its defaults), then adverts and repeats
        path_a = mock.add_device("hci0", A, "alpha")
        mock.properties_changed(
            path_a, {"RSSI": rssi(-60), "ManufacturerData": mfr(1177, b"\x0a\x01")}
        )
        mock.properties_changed(path_a, {"RSSI": rssi(-61)})  # repeat: RSSI only
        mock.properties_changed(
            path_a, {"RSSI": rssi(-62), "ManufacturerData": mfr(1177, b"\x0a\x01")}
        )
        # B: appears with real advert content; then the mock's own stateful updates
        path_b = mock.announce_device(
            "hci0",
            B,
            {
                "AddressType": Variant("s", "random"),
                "Name": Variant("s", "bravo"),
                "RSSI": rssi(-70),
                "TxPower": Variant("n", 4),
                "ServiceData": svc(UUID_FCD2, b"\x40\x00\x01"),
                "UUIDs": Variant("as", [UUID_FCD2]),
            },
        )
        mock.set_property(path_b, DEVICE_IFACE, "ServiceData", svc(UUID_FCD2, b"\x40\x00\x02"))
        mock.update_properties(
            path_b,
            DEVICE_IFACE,
            {"RSSI": rssi(-71), "UUIDs": Variant("as", [UUID_FCD2, UUID_180F])},
        )
        mock.update_properties(path_b, DEVICE_IFACE, {"RSSI": rssi(-72)})  # repeat
        # blocklisted by MAC, prefix, company id and name glob: two adverts each
        for mac, company, name in (
            (BLOCKED_MAC, 1177, "ok"),
            (BLOCKED_PREFIX, 1177, "ok"),
            (BLOCKED_COMPANY, APPLE, "ok"),
            (BLOCKED_NAME, 1177, "secret-tag"),
        ):
            path = mock.announce_device(
                "hci0",
                mac,
                {
                    "AddressType": Variant("s", "random"),
                    "Name": Variant("s", name),
                    "RSSI": rssi(-50),
                    "ManufacturerData": mfr(company, b"\x02\x15\x01"),
                },
            )
            mock.properties_changed(
                path, {"RSSI": rssi(-51), "ManufacturerData": mfr(company, b"\x99")}
            )

        col.wait_for(6, timeout=15, predicate=lambda m: m.topic == RAW)
        beat = beat_where(col, lambda b: b["counters"]["received"] >= 17)
        assert beat["last_advert_age_s"] is not None and beat["last_advert_age_s"] < 10
        col.sync()
        got = [seen(m) for m in col.snapshot(RAW)]
        assert got == [
            (P, "public", -55, 0, "papa", {"1177": "1001"}, {}, []),
            (A, "public", -79, 0, "alpha", {}, {}, []),
            (A, "public", -60, 0, "alpha", {"1177": "0a01"}, {}, []),
            (B, "random", -70, 4, "bravo", {}, {UUID_FCD2: "400001"}, [UUID_FCD2]),
            (B, "random", -70, 4, "bravo", {}, {UUID_FCD2: "400002"}, [UUID_FCD2]),
            (B, "random", -71, 4, "bravo", {}, {UUID_FCD2: "400002"}, [UUID_FCD2, UUID_180F]),
        ]
        assert [wire.decode(m.payload, SID).seq for m in col.snapshot(RAW)] == [1, 2, 3, 4, 5, 6]
        c = beat["counters"]
        assert (c["received"], c["published"], c["deduplicated"], c["filtered"]) == (17, 6, 3, 8)
        # the template's array-typed ManufacturerData/ServiceData of P and A: ignored, counted
        assert c["bluez_errors"] == 4
        assert "ignoring Device1.ManufacturerData of unexpected type 'aa{qv}'" in log.read_text()
        retained = read_retained(mosquitto, STATUS)
        assert retained is not None and b'"status":"online"' in retained

        # -- bluetoothd crashes and comes back: the same agent process keeps publishing --------
        mock.restart()
        assert mock.add_adapter("hci0", "dbusmock") == HCI0
        wait_until(
            lambda: mock.get_property(HCI0, ADAPTER_IFACE, "Discovering") is True,
            "the agent to start discovery on the new bluetoothd",
            15.0,
        )
        assert proc.poll() is None
        (filt,) = mock.method_calls(HCI0, "SetDiscoveryFilter")
        assert {k: v.value for k, v in filt[0].items()} == {
            "Transport": "le",
            "DuplicateData": True,
        }
        # A comes back with the content it had: still a repeat inside the window
        path_a = mock.announce_device(
            "hci0",
            A,
            {
                "AddressType": Variant("s", "public"),
                "Name": Variant("s", "alpha"),
                "RSSI": rssi(-65),
                "TxPower": Variant("n", 0),
                "ManufacturerData": mfr(1177, b"\x0a\x01"),
            },
        )
        path_g = mock.announce_device(
            "hci0", G, {"AddressType": Variant("s", "random"), "RSSI": rssi(-45)}
        )
        mock.properties_changed(
            path_a, {"RSSI": rssi(-66), "ManufacturerData": mfr(1177, b"\x0a\x03")}
        )
        mock.properties_changed(path_g, {"RSSI": rssi(-44)})  # repeat
        col.wait_for(8, timeout=15, predicate=lambda m: m.topic == RAW)
        beat = beat_where(
            col,
            lambda b: b["counters"]["received"] >= 21 and b["adapter"]["scan_mode"] == "active",
        )
        col.sync()
        got = [seen(m) for m in col.snapshot(RAW)][6:]
        assert got == [
            (G, "random", -45, None, None, {}, {}, []),
            (A, "public", -66, 0, "alpha", {"1177": "0a03"}, {}, []),
        ]
        c = beat["counters"]
        assert (c["received"], c["published"], c["deduplicated"], c["filtered"]) == (21, 8, 5, 8)
        assert c["bluez_errors"] == 5  # bluetoothd leaving the bus is counted
        retained = read_retained(mosquitto, STATUS)
        assert retained is not None
        status = json.loads(retained)
        assert status["status"] == "online" and status["adapter"]["discovering"] is True

        # -- SIGKILL: the broker publishes the retained last will ------------------------------
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        will = col.wait_for(
            1, timeout=15, predicate=lambda m: m.topic == STATUS and m.json()["status"] == "offline"
        )[0].json()
        assert will["scanner_id"] == SID and will["reason"] == "connection lost"
    finally:
        stop_process(proc)
    retained = read_retained(mosquitto, STATUS)
    assert retained is not None and json.loads(retained)["status"] == "offline"
