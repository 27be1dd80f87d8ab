"""The bluez backend against the BlueZ simulator on a real private dbus-daemon."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from dbus_fast.errors import DBusError

from bt_mqtt.bluezsim.model import SimAdvert
from bt_mqtt.core.advert import Advert
from tests.agent.bluez_helpers import running_backend, wait_until
from tests.fixtures.bluez import SimFactory

SVC = "0000fcd2-0000-1000-8000-00805f9b34fb"
MAC = "C4:7C:8D:6A:3E:11"


def full_advert(i: int = 0) -> SimAdvert:
    return SimAdvert(
        mac=MAC,
        rssi=-61 - i,
        address_type="random",
        tx_power=4,
        name="ATC_6A3E11",
        manufacturer_data={0x0499: bytes([5, i, 0xFE])},
        service_data={SVC: bytes([0x40, 0x02, i])},
        service_uuids=["0000181a-0000-1000-8000-00805f9b34fb", SVC],
    )


def test_passive_mode_registers_a_monitor_and_converts_every_field(bluez_sim: SimFactory) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode="passive") as (backend, got):
            state = backend.adapter_state()
            assert state.scan_mode == "passive"
            assert state.address == sim.adapter().address and state.powered is True
            assert sim.adapter().apps and not sim.adapter().sessions  # monitor, no discovery
            sim.advertise(full_advert(0))
            await wait_until(lambda: len(got) == 1)
            assert got[0] == Advert(
                mac=MAC,
                rssi=-61,
                address_type="random",
                tx_power=4,
                name="ATC_6A3E11",
                manufacturer_data={0x0499: bytes([5, 0, 0xFE])},
                service_data={SVC: bytes([0x40, 0x02, 0])},
                service_uuids=["0000181a-0000-1000-8000-00805f9b34fb", SVC],
            )
            # A later advert with only manufacturer data: the cache completes it.
            sim.advertise(SimAdvert(mac=MAC, rssi=-70, manufacturer_data={0x0499: b"\x07"}))
            await wait_until(lambda: len(got) == 2)
            assert got[1].rssi == -70 and got[1].manufacturer_data == {0x0499: b"\x07"}
            assert got[1].name == "ATC_6A3E11" and got[1].tx_power == 4
            assert got[1].address_type == "random"

    asyncio.run(go())


@pytest.mark.parametrize("monitors", ["unsupported", "refused"])
def test_falls_back_to_active_discovery(bluez_sim: SimFactory, monitors: str) -> None:
    async def go() -> None:
        async with (
            bluez_sim(monitors=monitors) as sim,
            running_backend(mode="passive") as (
                backend,
                got,
            ),
        ):
            assert backend.adapter_state().scan_mode == "active"
            assert backend.adapter_state().discovering is True or sim.adapter().discovering
            (flt,) = sim.adapter().filters.values()
            assert flt.transport == "le" and flt.duplicate_data is True
            assert len(sim.adapter().sessions) == 1
            if monitors == "refused":
                assert backend.stats.bluez_errors == 1
            sim.advertise(full_advert())
            await wait_until(lambda: len(got) == 1)

    asyncio.run(go())


def test_unactivated_monitor_falls_back_to_active(bluez_sim: SimFactory) -> None:
    """A monitor bluetoothd never activates (here: Release on invalid patterns) -> active."""

    async def go() -> None:
        async with bluez_sim() as sim:
            sim.adapter().register_monitor = lambda sender, root: None  # type: ignore[method-assign]
            async with running_backend(mode="passive", monitor_timeout_s=0.3) as (backend, got):
                assert backend.adapter_state().scan_mode == "active"
                sim.advertise(full_advert())
                await wait_until(lambda: len(got) == 1)

    asyncio.run(go())


@pytest.mark.parametrize("mode", ["passive", "active"])
def test_one_sink_call_per_advert(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode=mode) as (backend, got):
            assert backend.adapter_state().scan_mode == mode
            macs = [f"D0:00:00:00:00:{i:02X}" for i in range(20)]
            for n in range(400):
                # Identical content repeats too: each radio advert is still one call.
                sim.advertise(SimAdvert(mac=macs[n % 20], rssi=-50, manufacturer_data={1: b"x"}))
                if n % 50 == 0:
                    await asyncio.sleep(0)
            await wait_until(lambda: len(got) >= 400, what="400 adverts")
            await asyncio.sleep(0.2)  # and not one more
            assert len(got) == 400
            assert {a.mac for a in got} == set(macs)

    asyncio.run(go())


def test_active_mode_requested_directly(bluez_sim: SimFactory) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode="active") as (backend, _got):
            assert backend.adapter_state().scan_mode == "active"
            assert not sim.adapter().apps

    asyncio.run(go())


def test_pruning_keeps_device_count_bounded_and_keeps_paired(bluez_sim: SimFactory) -> None:
    async def go() -> None:
        rng = random.Random(7)
        async with (
            bluez_sim() as sim,
            running_backend(mode="active", prune_after_s=0.3, tick_s=0.05) as (backend, got),
        ):
            sim.advertise(SimAdvert(mac="00:11:22:33:44:55", rssi=-40))
            sim.set_device("00:11:22:33:44:55", paired=True)
            peak = 0
            for _ in range(60):  # about 1.2 s of churn, 20 new random addresses per 20 ms
                for _ in range(20):
                    mac = ":".join(f"{rng.randrange(256):02X}" for _ in range(6))
                    sim.advertise(SimAdvert(mac=mac, rssi=-80, address_type="random"))
                peak = max(peak, sim.device_count())
                await asyncio.sleep(0.02)
            await wait_until(
                lambda: backend.stats.devices_removed == 1_200, timeout=5, what="pruning"
            )
            assert peak < 900  # 1,200 addresses were heard; never all kept
            assert sim.stats.devices_removed == 1_200
            assert sim.device_count() == 1  # the paired one stays
            assert len(got) == 1_201

    asyncio.run(go())


@pytest.mark.parametrize("mode", ["passive", "active"])
def test_survives_bluetoothd_restart(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode=mode) as (backend, got):
            sim.advertise(full_advert(0))
            await wait_until(lambda: len(got) == 1)
            await sim.restart()
            await wait_until(lambda: backend.stats.bluez_errors >= 1, what="owner change seen")
            await wait_until(lambda: backend.adapter_state().scan_mode == mode, what="rescan")
            assert sim.advertise(full_advert(1))
            await wait_until(lambda: len(got) == 2)
            assert got[1].rssi == -62

    asyncio.run(go())


@pytest.mark.parametrize("mode", ["passive", "active"])
def test_survives_power_off_and_on(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode=mode) as (backend, got):
            sim.power_off()
            await wait_until(lambda: backend.adapter_state().powered is False)
            assert backend.adapter_state().scan_mode == "powered-off"
            assert not sim.advertise(full_advert(0))  # radio off: nothing heard
            sim.power_on()
            await wait_until(lambda: backend.adapter_state().scan_mode == mode, what="rescan")
            assert backend.stats.adapter_resets == 1
            assert sim.advertise(full_advert(1))
            await wait_until(lambda: len(got) == 1)

    asyncio.run(go())


@pytest.mark.parametrize("mode", ["passive", "active"])
def test_watchdog_actions(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode=mode) as (backend, got):
            await backend.restart_discovery()
            assert backend.stats.discovery_restarts == 1
            assert backend.adapter_state().scan_mode == mode
            sim.advertise(full_advert(0))
            await wait_until(lambda: len(got) == 1)
            await backend.power_cycle()
            assert backend.stats.adapter_resets >= 1
            assert backend.adapter_state().scan_mode == mode
            assert backend.adapter_state().powered is True
            sim.advertise(full_advert(1))
            await wait_until(lambda: len(got) == 2)

    asyncio.run(go())


def test_unexpected_discovery_stop_is_restarted(bluez_sim: SimFactory) -> None:
    async def go() -> None:
        async with bluez_sim() as sim, running_backend(mode="active") as (backend, got):
            adapter = sim.adapter()
            adapter.sessions.clear()
            adapter._discovery_stopped()  # bluetoothd ending discovery on its own
            await wait_until(lambda: backend.stats.discovery_restarts == 1)
            await wait_until(lambda: len(adapter.sessions) == 1, what="discovery again")
            sim.advertise(full_advert(0))
            await wait_until(lambda: len(got) == 1)

    asyncio.run(go())


def test_waits_for_adapter_and_bluetoothd(bluez_sim: SimFactory) -> None:
    async def go() -> None:
        async with running_backend(mode="active", adapter="hci1") as _:
            pass

    with pytest.raises(AssertionError, match="timed out"):
        asyncio.run(go())


def test_a_failed_setup_is_retried_after_retry_s(bluez_sim: SimFactory) -> None:
    """SetDiscoveryFilter fails twice: each failure counted, and setup tried again ``retry_s``
    later (injected: 0.3 s instead of 5 s) until scanning runs."""

    async def go() -> None:
        async with bluez_sim() as sim:
            adapter = sim.adapter()
            real = adapter.set_discovery_filter
            failures = [0]

            def flaky(sender: str, raw: dict[str, Any]) -> None:
                if failures[0] < 2:
                    failures[0] += 1
                    raise DBusError("org.bluez.Error.Failed", "simulated failure")
                real(sender, raw)

            adapter.set_discovery_filter = flaky  # type: ignore[method-assign]
            t0 = time.monotonic()
            async with running_backend(mode="active", retry_s=0.3) as (backend, got):
                took = time.monotonic() - t0
                assert backend.adapter_state().scan_mode == "active"
                assert failures[0] == 2 and backend.stats.bluez_errors == 2
                assert 0.5 <= took < 4.0  # two retries 0.3 s apart, far from 2 x 5 s
                sim.advertise(full_advert(0))
                await wait_until(lambda: len(got) == 1)

    asyncio.run(go())
