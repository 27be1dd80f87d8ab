"""Per-advertisement cost of the registry, side by side with the reference decoders.

``python -m bench.parsers [--repeat N] [--number N]``: for BTHome, Ruuvi 5, ATC/pvvx, iBeacon
and an unknown advertisement, the median cost per call of ``Registry.parse`` and, on the same
inputs in the same run, of bthome-ble / ruuvitag-ble (``update`` on a prepared service info,
as Home Assistant calls them) and TheengsDecoder's ``decodeBLE`` (on the JSON it takes).
Targets: ours <= 10 us (unknown <= 2 us), >= 10x faster than the HA libraries, >= 50x faster
than TheengsDecoder.  The reference decoders are test-only (requirements-test.txt).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

MAC = "54:48:E6:8F:80:A5"
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
ATC_UUID = "0000181a-0000-1000-8000-00805f9b34fb"

# name -> (advert, target us)
CASES: dict[str, tuple[Advert, float]] = {
    "BTHome v2": (
        Advert(MAC, -60, service_data={BTHOME_UUID: bytes.fromhex("4000090161025d0903b718")}),
        10.0,
    ),
    "Ruuvi 5": (
        Advert(
            MAC,
            -60,
            manufacturer_data={
                1177: bytes.fromhex("0512fc5394c37c0004fffc040cac364200cdcbb8334c884f")
            },
        ),
        10.0,
    ),
    "ATC pvvx": (
        Advert(MAC, -60, service_data={ATC_UUID: bytes.fromhex("b2188d38c1a4590aad13b6091f1e05")}),
        10.0,
    ),
    "ATC1441": (
        Advert(MAC, -60, service_data={ATC_UUID: bytes.fromhex("a4c1388d18b201122f640ca025")}),
        10.0,
    ),
    "iBeacon": (
        Advert(
            MAC,
            -60,
            manufacturer_data={76: bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")},
        ),
        10.0,
    ),
    "MiBeacon": (  # LYWSDCGQ temperature + humidity (0x100D), plain v2 with MAC
        Advert(
            MAC,
            -60,
            service_data={
                "0000fe95-0000-1000-8000-00805f9b34fb": bytes.fromhex(
                    "5020aa01b0a5808fe648540d1004fe004802"
                )
            },
        ),
        10.0,
    ),
    "unknown": (
        Advert(MAC, -60, manufacturer_data={0x0087: bytes.fromhex("0109200a")}),
        2.0,
    ),
}


def median_us(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean cost of ``number`` calls, in microseconds."""
    runs = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


def _service_info(advert: Advert) -> Any:
    from habluetooth import BluetoothServiceInfoBleak  # noqa: PLC0415

    return BluetoothServiceInfoBleak(
        name=advert.name or "",
        address=advert.mac,
        rssi=advert.rssi,
        manufacturer_data=dict(advert.manufacturer_data),
        service_data=dict(advert.service_data),
        service_uuids=list(advert.service_uuids),
        source="local",
        device=None,  # type: ignore[arg-type]  # not needed to parse
        advertisement=None,
        connectable=False,
        time=time.monotonic(),
        tx_power=None,
    )


def _ha_lib(case: str) -> Callable[[], Any] | None:
    advert = CASES[case][0]
    try:
        if case.startswith("BTHome"):
            from bthome_ble import BTHomeBluetoothDeviceData  # noqa: PLC0415

            bthome = BTHomeBluetoothDeviceData()
            info = _service_info(advert)
            return lambda: bthome.update(info)
        if case.startswith("Ruuvi"):
            from ruuvitag_ble import RuuvitagBluetoothDeviceData  # noqa: PLC0415

            ruuvi = RuuvitagBluetoothDeviceData()
            info = _service_info(advert)
            return lambda: ruuvi.update(info)
    except ImportError:
        return None
    return None


def _theengs(case: str) -> Callable[[], Any] | None:
    try:
        from TheengsDecoder import decodeBLE  # noqa: PLC0415
    except ImportError:
        return None
    advert = CASES[case][0]
    obj: dict[str, Any] = {"id": advert.mac, "rssi": advert.rssi}
    for cid, data in advert.manufacturer_data.items():
        obj["manufacturerdata"] = cid.to_bytes(2, "little").hex() + data.hex()
    for uuid, data in advert.service_data.items():
        obj["servicedata"] = data.hex()
        obj["servicedatauuid"] = "0x" + uuid[4:8]
    text = json.dumps(obj)
    return lambda: decodeBLE(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15, help="timing runs per figure (median)")
    ap.add_argument("--number", type=int, default=2000, help="calls per timing run")
    args = ap.parse_args()
    registry = Registry.default(plugins=False)
    ctx = ParseContext()
    print(
        f"{'case':<10} {'parser':<10} {'ours us':>8} {'target':>7} "
        f"{'HA lib us':>10} {'ratio':>7} {'Theengs us':>11} {'ratio':>7}"
    )
    failed = []
    for case, (advert, target) in CASES.items():
        outcome = registry.decode(advert, ctx)
        if case == "unknown":
            assert outcome.parser is None, f"the unknown case is claimed by {outcome.parser}"
        elif outcome.result is None:
            raise SystemExit(f"{case}: not decoded ({outcome.error})")
        ours = median_us(lambda a=advert: registry.parse(a, ctx), args.number, args.repeat)  # type: ignore[misc]
        row = f"{case:<10} {outcome.parser or '-':<10} {ours:8.2f} {target:7.1f}"
        ha = _ha_lib(case)
        if ha is not None:
            ha_us = median_us(ha, max(100, args.number // 10), args.repeat)
            row += f" {ha_us:10.1f} {ha_us / ours:6.0f}x"
        else:
            row += f" {'-':>10} {'-':>7}"
        th = _theengs(case)
        if th is not None:
            th_us = median_us(th, max(50, args.number // 40), args.repeat)
            row += f" {th_us:11.1f} {th_us / ours:6.0f}x"
        print(row)
        if ours > target:
            failed.append(f"{case}: {ours:.2f} us > {target} us")
    print("all within targets" if not failed else "OVER TARGET: " + "; ".join(failed))


if __name__ == "__main__":
    main()
