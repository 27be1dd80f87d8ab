"""Hostile Device1 properties over a real private dbus-daemon: the BlueZ simulator's bus
connection (which owns ``org.bluez``) sends signals no real bluetoothd would, with wrong types,
out-of-range values, injection attempts in keys and names, odd UUID spellings and a huge
array; the bluez backend and the pipeline must publish only valid wire v1, count the rest,
and keep working."""

from __future__ import annotations

import asyncio

from dbus_fast import Variant

from bt_mqtt.agent.config import FiltersConfig
from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.agent.pipeline import Pipeline
from bt_mqtt.bluezsim.model import SimAdvert
from bt_mqtt.core.advert import Advert
from tests.agent.bluez_helpers import running_backend
from tests.agent.wire_checks import strict_decode
from tests.fixtures.bluez import SimFactory
from tests.fixtures.waiting import until

DEVICE = "org.bluez.Device1"
OM = "org.freedesktop.DBus.ObjectManager"
FCD2 = "0000fcd2-0000-1000-8000-00805f9b34fb"
ENV = "0000181a-0000-1000-8000-00805f9b34fb"
NAME = 'a"b\\c\x1b]0;PWN\x07\u2028'
A = "C0:FF:EE:00:00:01"
B = "C0:FF:EE:00:00:02"


def test_hostile_properties_over_dbus_are_published_valid_or_counted(
    bluez_sim: SimFactory,
) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode="passive") as (backend, got):
            pipe = Pipeline("pi", "0123456789abcdef", Filter(FiltersConfig()), Dedup(0, 0, 10))
            published: list[bytes] = []
            path = f"{sim.adapter().path}/dev_C0_FF_EE_00_00_01"

            def publish_new(n: int) -> None:
                for advert in got[n:]:
                    payload = pipe.offer(advert, float(len(published) + 1), 1.8e9, True)
                    if payload is not None:
                        published.append(payload)

            # 1. announced with every advert field of a wrong type or value, except the name
            sim.send_signal(
                "/",
                OM,
                "InterfacesAdded",
                "oa{sa{sv}}",
                [
                    path,
                    {
                        DEVICE: {
                            "Address": Variant("s", A.lower()),
                            "AddressType": Variant("s", "static"),
                            "Name": Variant("s", NAME),
                            "RSSI": Variant("s", "loud"),
                            "TxPower": Variant("x", 2**62),
                            "ManufacturerData": Variant(
                                "a{sv}",
                                {'76":"00","mac":"EE:EE:EE:EE:EE:EE': Variant("ay", b"\x01")},
                            ),
                            "ServiceData": Variant(
                                "a{sv}",
                                {
                                    "FCD2": Variant("ay", b"\x40"),
                                    'x","mac":"EE:EE:EE:EE:EE:EE': Variant("ay", b"\x41"),
                                    ENV.upper(): Variant("s", "not bytes"),
                                },
                            ),
                            "UUIDs": Variant("as", ["FCD2", "nope", ENV.upper()]),
                            "Paired": Variant("s", "yes"),
                        }
                    },
                ],
            )
            # 2. then an RSSI and manufacturer data with one entry of the wrong type
            sim.emit_changed(
                path,
                DEVICE,
                {
                    "RSSI": Variant("n", -60),
                    "ManufacturerData": Variant(
                        "a{qv}", {76: Variant("ay", b"\x02\x15"), 0x0499: Variant("s", "x")}
                    ),
                },
            )
            await until(lambda: len(got) == 1, "the first valid advert", 5.0)
            expected = Advert(
                mac=A,
                rssi=-60,
                address_type=None,
                tx_power=None,
                name=NAME,
                manufacturer_data={76: b"\x02\x15"},
                service_data={FCD2: b"\x40"},
                service_uuids=[FCD2, ENV],
            )
            assert got[0] == expected
            # RSSI, TxPower, AddressType, ManufacturerData, ServiceData, UUIDs, Paired; then
            # the manufacturer data entry of the wrong type
            assert backend.stats.bluez_errors == 8
            # 3. an RSSI out of range, and service data no subscriber accepts (too large)
            sim.emit_changed(
                path,
                DEVICE,
                {
                    "RSSI": Variant("n", 300),
                    "ServiceData": Variant("a{sv}", {FCD2: Variant("ay", bytes(100_000))}),
                },
            )
            await until(lambda: len(got) == 2, "the oversize advert", 5.0)
            assert got[1].rssi == -60 and got[1].service_data == {FCD2: bytes(100_000)}
            assert backend.stats.bluez_errors == 9
            # 4. a device object whose path and Address are no MAC address: refused
            sim.send_signal(
                "/",
                OM,
                "InterfacesAdded",
                "oa{sa{sv}}",
                [f"{sim.adapter().path}/dev_zz", {DEVICE: {"RSSI": Variant("n", -50)}}],
            )
            sim.emit_changed(
                f"{sim.adapter().path}/dev_zz",
                DEVICE,
                {"RSSI": Variant("n", -51), "Address": Variant("s", "ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ")},
            )
            # 5. an ordinary advert from the simulated radio still goes through
            sim.advertise(SimAdvert(mac=B, rssi=-70, name="ok", manufacturer_data={1: b"x"}))
            await until(lambda: len(got) == 3, "the ordinary advert", 5.0)
            assert (got[2].mac, got[2].rssi, got[2].name) == (B, -70, "ok")
            assert backend.stats.bluez_errors == 11
            await asyncio.sleep(0.2)
            assert len(got) == 3

            publish_new(0)
            assert [strict_decode(p, "pi").advert for p in published] == [got[0], got[2]]
            c = pipe.counters
            assert (c.received, c.published, c.dropped_invalid) == (3, 2, 1)

    asyncio.run(go())
