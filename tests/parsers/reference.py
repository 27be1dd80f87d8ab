"""Input for the Home Assistant decoder libraries the differential tests compare against."""

from __future__ import annotations

import time
from typing import Any, cast


def service_info(
    address: str,
    *,
    name: str = "",
    rssi: int = -60,
    manufacturer_data: dict[int, bytes] | None = None,
    service_data: dict[str, bytes] | None = None,
    service_uuids: list[str] | None = None,
) -> Any:
    """A habluetooth ``BluetoothServiceInfoBleak`` as those libraries' ``update`` takes it."""
    from habluetooth import BluetoothServiceInfoBleak  # noqa: PLC0415 - test-only dependency

    return BluetoothServiceInfoBleak(
        name=name,
        address=address,
        rssi=rssi,
        manufacturer_data=manufacturer_data or {},
        service_data=service_data or {},
        service_uuids=service_uuids or [],
        source="local",
        device=cast(Any, None),  # the decoders never look at it
        advertisement=None,
        connectable=False,
        time=time.monotonic(),
        tx_power=None,
    )
