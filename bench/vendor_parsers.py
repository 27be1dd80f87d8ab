"""Per-advertisement cost of the SwitchBot, Mopeka and SensorPush parsers through the registry.

``python -m bench.vendor_parsers [--repeat N] [--number N]``: each case alternates two adverts
of one device with different readings (so decoders that skip unchanged data cannot), and prints
the median cost per call of ``Registry.parse`` next to, in the same run and on the same
inputs, mopeka-iot-ble / sensorpush-ble (``update`` on prepared service infos, as Home
Assistant calls them; test-only, see requirements-test.txt).  Target: ours <= 10 us.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from typing import Any

from bench.parsers import _service_info, median_us
from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

TARGET_US = 10.0
FD3D = "0000fd3d-0000-1000-8000-00805f9b34fb"
FEE5 = "0000fee5-0000-1000-8000-00805f9b34fb"
SP_V2 = "ef090000-11d6-42ba-93b8-9dd7ec090ab0"
SP_HT1 = "ef090000-11d6-42ba-93b8-9dd7ec090aa9"


def _sb(sd: str | None, mfr: str) -> Advert:
    svc = {FD3D: bytes.fromhex(sd)} if sd else {}
    return Advert("AA:BB:CC:DD:EE:FF", -60, service_data=svc,
                  manufacturer_data={0x0969: bytes.fromhex(mfr)})  # fmt: skip


def _mk(
    cid: int, data: str, name: str = "", uuid: str = "", mac: str = "C9:F3:32:E0:F5:09"
) -> Advert:
    return Advert(mac, -60, name=name or None, manufacturer_data={cid: bytes.fromhex(data)},
                  service_uuids=[uuid] if uuid else [])  # fmt: skip


# case -> (two adverts, reference library or "")
CASES: dict[str, tuple[tuple[Advert, Advert], str]] = {
    "SwitchBot Meter (active)": (
        (_sb("5400e4069835", "d7c17d5deb43de03069835"),
         _sb("5400e4079836", "d7c17d5deb43de03079836")),
        "",
    ),
    "SwitchBot Meter Pro CO2 (passive)": (
        (_sb(None, "b0e9fe543215b7e4079ba4003702d500"),
         _sb(None, "b0e9fe543215b7e4089ba4003702d600")),
        "",
    ),
    "SwitchBot Hub 3 (active)": (
        (_sb("0000640010b940", "b0e9fe6e5e2900ff6826d6648303993480"),
         _sb("0000640010b940", "b0e9fe6e5e2901ff6826d6648304993400")),
        "",
    ),
    "Mopeka Pro Plus": (
        (_mk(0x0059, "087043b6c3e0f509fae3", uuid=FEE5),
         _mk(0x0059, "087044b7c3e0f509fae3", uuid=FEE5)),
        "mopeka",
    ),
    "SensorPush HT.w": (
        (_mk(0x9A04, "c9a546", "SensorPush HT.w 0CA1", SP_V2),
         _mk(0x7504, "536446", "SensorPush HT.w 0CA1", SP_V2)),
        "sensorpush",
    ),
    "SensorPush HTP.xw": (
        (_mk(0x8900, "e456bea6b4", "SensorPush HTP.xw 2B25", SP_V2),
         _mk(0x8900, "e457bea6b4", "SensorPush HTP.xw 2B25", SP_V2)),
        "sensorpush",
    ),
    "SensorPush HT1": (
        (_mk(0x4834, "6205", "s", SP_HT1), _mk(0x4835, "6205", "s", SP_HT1)),
        "sensorpush",
    ),
}  # fmt: skip


def _alternate(fn: Callable[[Any], Any], args: tuple[Any, Any]) -> Callable[[], Any]:
    cycle = itertools.cycle(args)
    return lambda: fn(next(cycle))


def _reference(lib: str, adverts: tuple[Advert, Advert]) -> Callable[[], Any] | None:
    infos = (_service_info(adverts[0]), _service_info(adverts[1]))
    try:
        if lib == "mopeka":
            from mopeka_iot_ble import MopekaIOTBluetoothDeviceData  # noqa: PLC0415

            return _alternate(MopekaIOTBluetoothDeviceData().update, infos)
        if lib == "sensorpush":
            from sensorpush_ble import SensorPushBluetoothDeviceData  # noqa: PLC0415

            return _alternate(SensorPushBluetoothDeviceData().update, infos)
    except ImportError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15, help="timing runs per figure (median)")
    ap.add_argument("--number", type=int, default=2000, help="calls per timing run")
    args = ap.parse_args()
    registry = Registry.default(plugins=False)
    ctx = ParseContext()
    print(f"{'case':<36} {'parser':<11} {'ours us':>8} {'ref lib us':>11} {'ratio':>7}")
    over = []
    for case, (adverts, lib) in CASES.items():
        parser = ""
        for adv in adverts:
            result = registry.parse(adv, ctx)
            if result is None or not result.readings:
                raise SystemExit(f"{case}: not decoded")
            parser = result.parser
        ours = median_us(
            _alternate(lambda a: registry.parse(a, ctx), adverts), args.number, args.repeat
        )
        row = f"{case:<36} {parser:<11} {ours:8.2f}"
        ref = _reference(lib, adverts) if lib else None
        if ref is not None:
            ref_us = median_us(ref, max(100, args.number // 10), args.repeat)
            row += f" {ref_us:11.1f} {ref_us / ours:6.0f}x"
        else:
            row += f" {'-':>11} {'-':>7}"
        print(row)
        if ours > TARGET_US:
            over.append(f"{case}: {ours:.2f} us")
    print("all within the target" if not over else "OVER TARGET: " + "; ".join(over))


if __name__ == "__main__":
    main()
