"""The BlueZ simulator speaks the BlueZ D-Bus API: checked with a plain dbus-fast client."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from bt_mqtt.bluezsim.control import SimClient
from bt_mqtt.bluezsim.model import ScenarioError, SimAdvert, read_scenario
from tests.fixtures.bluez import SimFactory, SimProcess
from tests.fixtures.dbus import PrivateBus
from tests.fixtures.waiting import until

HCI0 = "/org/bluez/hci0"


async def client(address: str) -> MessageBus:
    return await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()


async def call(
    bus: MessageBus, path: str, iface: str, member: str, sig: str = "", *body: object
) -> Message:
    return await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=iface,
            member=member,
            signature=sig,
            body=list(body),
        )
    )


def signals(bus: MessageBus) -> list[Message]:
    got: list[Message] = []
    bus.add_message_handler(
        lambda m: got.append(m) if m.message_type == MessageType.SIGNAL else None
    )
    return got


async def add_match(bus: MessageBus, rule: str) -> None:
    await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=[rule],
        )
    )


def test_object_manager_and_discovery_semantics(
    bluez_sim: SimFactory, dbus_bus: PrivateBus
) -> None:
    async def go() -> None:
        async with bluez_sim(adapters=["hci0", "hci1"]) as sim:
            bus = await client(dbus_bus.address)
            got = signals(bus)
            await add_match(bus, "type='signal',sender='org.bluez'")
            reply = await call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
            objects = reply.body[0]
            assert {HCI0, "/org/bluez/hci1"} <= set(objects)
            adapter = objects[HCI0]["org.bluez.Adapter1"]
            assert adapter["Powered"].value is True and adapter["Discovering"].value is False
            assert "central" in adapter["Roles"].value
            assert objects[HCI0]["org.bluez.AdvertisementMonitorManager1"][
                "SupportedMonitorTypes"
            ].value == ["or_patterns"]
            # Not discovering: nothing is heard.
            assert not sim.advertise(SimAdvert(mac="AA:BB:CC:DD:EE:01"))
            bad = await call(
                bus,
                HCI0,
                "org.bluez.Adapter1",
                "SetDiscoveryFilter",
                "a{sv}",
                {"Bogus": Variant("b", True)},
            )
            assert bad.error_name == "org.bluez.Error.InvalidArguments"
            ok = await call(
                bus,
                HCI0,
                "org.bluez.Adapter1",
                "SetDiscoveryFilter",
                "a{sv}",
                {"Transport": Variant("s", "le"), "DuplicateData": Variant("b", True)},
            )
            assert ok.message_type == MessageType.METHOD_RETURN
            await call(bus, HCI0, "org.bluez.Adapter1", "StartDiscovery")
            again = await call(bus, HCI0, "org.bluez.Adapter1", "StartDiscovery")
            assert again.error_name == "org.bluez.Error.InProgress"
            for rssi in (-60, -60):
                assert sim.advertise(
                    SimAdvert(mac="AA:BB:CC:DD:EE:01", rssi=rssi, manufacturer_data={76: b"\x01"})
                )
            await until(
                lambda: (
                    sum(
                        m.member == "PropertiesChanged" and m.body[0] == "org.bluez.Device1"
                        for m in got
                    )
                    == 1
                ),
                "one Device1 PropertiesChanged",
                5.0,
            )
            added = [m for m in got if m.member == "InterfacesAdded"]
            assert len(added) == 1 and added[0].path == "/"
            assert added[0].body[0] == HCI0 + "/dev_AA_BB_CC_DD_EE_01"
            changed = next(
                m
                for m in got
                if m.member == "PropertiesChanged" and m.body[0] == "org.bluez.Device1"
            )
            # Same RSSI and data again: still reported (filter set, DuplicateData on).
            assert set(changed.body[1]) == {"RSSI", "ManufacturerData"}
            gone = await call(
                bus,
                HCI0,
                "org.bluez.Adapter1",
                "RemoveDevice",
                "o",
                HCI0 + "/dev_AA_BB_CC_DD_EE_01",
            )
            assert gone.message_type == MessageType.METHOD_RETURN and sim.device_count() == 0
            sim.power_off()
            nr = await call(bus, HCI0, "org.bluez.Adapter1", "StartDiscovery")
            assert nr.error_name == "org.bluez.Error.NotReady"
            assert not sim.adapter().discovering
            bus.disconnect()

    asyncio.run(go())


def test_restart_changes_owner_and_forgets_state(
    bluez_sim: SimFactory, dbus_bus: PrivateBus
) -> None:
    async def go() -> None:
        async with bluez_sim(monitors="unsupported") as sim:
            bus = await client(dbus_bus.address)
            got = signals(bus)
            await add_match(bus, "type='signal',member='NameOwnerChanged',arg0='org.bluez'")
            await call(bus, HCI0, "org.bluez.Adapter1", "StartDiscovery")
            sim.advertise(SimAdvert(mac="AA:BB:CC:DD:EE:02"))
            assert sim.device_count() == 1
            await sim.restart()
            await until(
                lambda: len([m for m in got if m.member == "NameOwnerChanged"]) == 2,
                'len([m for m in got if m.member == "NameOwnerChanged"]) == 2',
                5.0,
            )
            lost, back = [m.body for m in got if m.member == "NameOwnerChanged"]
            assert lost[2] == "" and back[1] == "" and back[2] != lost[1]
            assert sim.device_count() == 0 and not sim.adapter().sessions
            reply = await call(
                bus, HCI0, "org.bluez.AdvertisementMonitorManager1", "RegisterMonitor", "o", "/x"
            )
            assert reply.error_name == "org.freedesktop.DBus.Error.UnknownMethod"
            bus.disconnect()

    asyncio.run(go())


def test_scenario_errors_name_the_line() -> None:
    lines = ['{"mac": "aa:bb:cc:dd:ee:ff", "rssi": -40, "t": 0.5}', "", '{"mac": "nope"}']
    with pytest.raises(ScenarioError, match=r"s.jsonl:3: mac 'nope'"):
        list(read_scenario(lines, "s.jsonl"))
    t, advert = next(read_scenario(lines[:1]))
    assert t == 0.5 and advert.mac == "AA:BB:CC:DD:EE:FF"


def test_simulator_process_is_driven_over_the_bus(bluez_sim_proc: SimProcess) -> None:
    async def go() -> None:
        ctl = await SimClient.connect(bluez_sim_proc.address)
        bus = await client(bluez_sim_proc.address)
        await call(bus, HCI0, "org.bluez.Adapter1", "StartDiscovery")
        assert await ctl.advertise({"mac": "AA:BB:CC:DD:EE:03", "rssi": -50})
        assert await ctl.device_count() == 1
        await ctl.power_off()
        assert not await ctl.advertise({"mac": "AA:BB:CC:DD:EE:04", "rssi": -50})
        await ctl.power_on()
        await ctl.restart()
        stats = await ctl.stats()
        assert stats["restarts"] == 1 and stats["adverts_delivered"] == 1
        assert await ctl.device_count() == 0
        with pytest.raises(RuntimeError, match="InvalidArguments"):
            await ctl.advertise({"mac": "bad"})
        ctl.close()
        bus.disconnect()

    asyncio.run(go())
