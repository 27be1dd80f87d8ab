"""bleak's BleakScanner, and our bleak backend, see adverts from the BlueZ simulator.

bleak runs ``bluetoothctl --version`` to check the BlueZ version; when that program is missing
it only logs a warning and assumes a recent BlueZ.  So that the result does not depend on the
machine (a real bluetoothctl may or may not be installed), these tests put a tiny fake
``bluetoothctl`` that prints "5.66" first on PATH, for this test module only.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from bleak import BleakScanner

from bt_mqtt.agent.backends.bleak_backend import BleakBackend
from bt_mqtt.bluezsim.model import SimAdvert
from bt_mqtt.core.advert import Advert
from tests.fixtures.bluez import SimFactory
from tests.fixtures.waiting import until

SVC = "0000fcd2-0000-1000-8000-00805f9b34fb"


@pytest.fixture(autouse=True)
def fake_bluetoothctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "bluetoothctl"
    exe.write_text("#!/bin/sh\necho 5.66\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def advert(i: int) -> SimAdvert:
    return SimAdvert(
        mac="A4:C1:38:00:00:01",
        rssi=-55 - i,
        address_type="public",
        name="LYWSD03MMC",
        manufacturer_data={0x0499: bytes([i])},
        service_data={SVC: bytes([0x40, i])},
        service_uuids=[SVC],
    )


@pytest.mark.parametrize("mode", ["active", "passive"])
def test_bleak_scanner_sees_simulated_adverts(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        seen: list[tuple[str, int, dict[int, bytes]]] = []
        async with bluez_sim() as sim:
            kwargs = {"bluez": {"or_patterns": [(0, 0x01, b"\x06")]}} if mode == "passive" else {}
            scanner = BleakScanner(
                lambda d, a: seen.append((d.address, a.rssi, a.manufacturer_data)),
                scanning_mode=mode,  # type: ignore[arg-type]
                **kwargs,  # type: ignore[arg-type]
            )
            async with scanner:
                await until(
                    lambda: bool(
                        sim.adapter().sessions
                        or any(a.monitors for a in sim.adapter().apps.values())
                    ),
                    "bleak to start scanning",
                    5.0,
                )
                for i in range(3):
                    sim.advertise(advert(i))
                await until(lambda: len(seen) == 3, "len(seen) == 3", 5.0)
        assert seen[-1] == ("A4:C1:38:00:00:01", -57, {0x0499: b"\x02"})

    asyncio.run(go())


@pytest.mark.parametrize("mode", ["active", "passive"])
def test_bleak_backend_converts_adverts(bluez_sim: SimFactory, mode: str) -> None:
    async def go() -> None:
        got: list[Advert] = []
        async with bluez_sim() as sim:
            backend = BleakBackend(adapter="hci0", mode=mode)
            task = asyncio.get_running_loop().create_task(backend.run(got.append))
            await until(
                lambda: backend.adapter_state().scan_mode == mode,
                "backend.adapter_state().scan_mode == mode",
                5.0,
            )
            sim.advertise(advert(0))
            await until(lambda: len(got) == 1, "len(got) == 1", 5.0)
            await backend.restart_discovery()
            assert backend.stats.discovery_restarts == 1
            await until(lambda: bool(sim.adapter().sessions or sim.adapter().apps), "rescan", 5.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert got[0] == Advert(
            mac="A4:C1:38:00:00:01",
            rssi=-55,
            address_type="public",
            name="LYWSD03MMC",
            manufacturer_data={0x0499: b"\x00"},
            service_data={SVC: bytes([0x40, 0])},
            service_uuids=[SVC],
        )

    asyncio.run(go())
