"""``devices:`` applied where readings are made: offsets, ignore, names and parser hints, in the
planner (inline and in its worker process) as in the stored rows; bad hints exit 2 naming the key.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import Topics
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.demo import encoders
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.mopeka import COMPANY_ID as MOPEKA_COMPANY
from bt_mqtt.parsers.mopeka import SERVICE_UUID as MOPEKA_UUID
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.switchbot import COMPANY_ID as SWITCHBOT_COMPANY
from bt_mqtt.parsers.switchbot import HUB3
from bt_mqtt.subscriber.batch import BatchPlan, plan_chunk
from bt_mqtt.subscriber.devicesettings import Devices, DeviceSettings, apply_hints
from bt_mqtt.subscriber.heard import Heard
from bt_mqtt.subscriber.planner import Planner
from bt_mqtt.subscriber.rows import RawRow, ReadingRow

ATC = "A4:C1:38:12:34:56"
MOPEKA = "C9:F3:32:E0:F5:09"
SWITCHBOT = "AA:BB:CC:DD:EE:FF"
REGISTRY = Registry.default(plugins=False)


def mopeka() -> Advert:
    frame = bytes.fromhex("0c60383c832aea8c31f8")  # Pro Check Universal, raw level 828, 16 °C
    return Advert(
        MOPEKA, -60, manufacturer_data={MOPEKA_COMPANY: frame}, service_uuids=[MOPEKA_UUID]
    )


def hub3() -> Advert:
    """A SwitchBot Hub 3 frame without service data (a passive scan): its model is a hint."""
    frame = bytes.fromhex("b0e9fe6e5e2900ff6826d6648303993480")
    return Advert(SWITCHBOT, -60, manufacturer_data={SWITCHBOT_COMPANY: frame})


def plan(adverts: list[Advert], devices: Devices, *, heard: Heard | None = None) -> BatchPlan:
    ts = format_ts(time.time())
    return plan_chunk(
        ["bt-mqtt/raw/pi"] * len(adverts),
        [encode(a, "pi", "b1", i + 1, ts) for i, a in enumerate(adverts)],
        [time.time()] * len(adverts),
        Topics(),
        REGISTRY,
        apply_hints(ParseContext(), devices),
        max_bytes=16384,
        skew_s=300,
        devices=devices,
        heard=heard,
    )


def readings(p: BatchPlan) -> dict[str, dict[str, float]]:
    """Reading rows by MAC and metric."""
    rows = [RawRow.parse(line) for line in p.raw.decode().splitlines()]
    macs = {r.k: r.mac for r in rows}
    out: dict[str, dict[str, float]] = {}
    for line in p.readings_rows.decode().splitlines():
        r = ReadingRow.parse(line)
        out.setdefault(macs[r.k], {})[r.metric] = float(r.value)
    return out


def test_readings_get_offsets_and_an_ignored_device_none() -> None:
    devices = Devices(
        {
            ATC.lower(): DeviceSettings(name="Kitchen", offsets={"temperature_c": -0.5}),
            "D4:11:22:33:44:55": DeviceSettings(ignore=True),
        }
    )
    values = {"temperature_c": 21.7, "humidity_pct": 45, "door": True}
    assert devices.readings(ATC, values) == {
        "temperature_c": 21.2,
        "humidity_pct": 45,
        "door": True,
    }
    assert devices.readings("D4:11:22:33:44:55", values) == {}
    assert devices.readings("00:11:22:33:44:55", values) is values  # no settings: untouched
    assert devices.name(ATC) == "Kitchen" and devices.name("00:11:22:33:44:55") is None


def test_the_planner_stores_corrected_readings_and_archives_ignored_adverts() -> None:
    devices = Devices(
        {
            ATC: DeviceSettings(offsets={"temperature_c": -0.5, "humidity_pct": 2.5}),
            "A4:C1:38:00:00:01": DeviceSettings(ignore=True),
        }
    )
    atc = encoders.atc1441(ATC, -55, 1, 21.7, 45, 80, 2.95)
    ignored = encoders.atc1441("A4:C1:38:00:00:01", -60, 1, 5.0, 50, 90, 3.0)
    summary = Heard()
    p = plan([atc, ignored], devices, heard=summary)
    rows = [RawRow.parse(line) for line in p.raw.decode().splitlines()]
    assert p.adverts == 2  # the ignored device's advert is archived ...
    assert rows[1].parser == "atc" and rows[1].readings is None  # ... without readings
    got = readings(p)
    assert got[ATC]["temperature_c"] == pytest.approx(21.2)
    assert got[ATC]["humidity_pct"] == pytest.approx(47.5)
    assert got[ATC]["battery_pct"] == 80
    assert "A4:C1:38:00:00:01" not in got
    assert json.loads(rows[0].readings or "{}")["temperature_c"] == pytest.approx(21.2)
    # the raw payload stays as it came over the air
    assert '"manufacturer_data"' in rows[0].payload or '"service_data"' in rows[0].payload
    # the bridge's summary carries the same corrected values, nothing of the ignored device
    assert list(summary.devices) == [ATC]
    assert summary.devices[ATC].readings["temperature_c"] == pytest.approx(21.2)
    assert summary.devices[ATC].rssi == {"pi": -55}


def test_parser_hints_reach_the_parsers() -> None:
    plain_plan = plan([mopeka(), hub3()], Devices())
    hinted_devices = Devices(
        {
            MOPEKA: DeviceSettings(mopeka_medium="air"),
            SWITCHBOT: DeviceSettings(switchbot_model="Hub3"),
        }
    )
    hinted_plan = plan([mopeka(), hub3()], hinted_devices)
    plain, hinted = readings(plain_plan), readings(hinted_plan)
    assert plain[MOPEKA]["tank_level_mm"] == 329  # propane, the default for this sensor
    assert hinted[MOPEKA]["tank_level_mm"] == 141  # air
    models = [
        json.loads(RawRow.parse(line).facts or "{}").get("model")
        for p in (plain_plan, hinted_plan)
        for line in p.raw.decode().splitlines()[1:]
    ]
    assert models[1] == HUB3 != models[0]  # the hint names the model a passive scan lacks
    assert hinted[SWITCHBOT] != plain[SWITCHBOT]


def test_the_planner_worker_process_applies_settings_and_hints() -> None:
    devices = Devices(
        {
            MOPEKA: DeviceSettings(mopeka_medium="air"),
            ATC: DeviceSettings(offsets={"temperature_c": 1.0}),
        }
    )
    planner = Planner(
        prefix="bt-mqtt",
        registry=REGISTRY,
        bindkeys={},
        plugins=False,
        workers=1,
        max_bytes=16384,
        skew_s=300,
        devices=devices,
        heard=True,
    )
    ts = format_ts(time.time())
    adverts = [mopeka(), encoders.atc1441(ATC, -55, 1, 21.5, 45, 80, 2.95)]

    async def go() -> BatchPlan:
        try:
            return await planner.plan(
                ["bt-mqtt/raw/pi"] * 2,
                [encode(a, "pi", "b1", i + 1, ts) for i, a in enumerate(adverts)],
                [time.time()] * 2,
            )
        finally:
            planner.close()

    p = asyncio.run(go())
    got = readings(p)
    assert got[MOPEKA]["tank_level_mm"] == 141
    assert got[ATC]["temperature_c"] == pytest.approx(22.5)
    assert p.heard is not None and set(p.heard.devices) == {MOPEKA, ATC}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("switchbot_model", "Hub 9", "switchbot_model: switchbot: unknown model 'Hub 9'"),
        ("mopeka_medium", "molasses", "mopeka_medium: mopeka: unknown medium 'molasses'"),
    ],
)
def test_bad_hints_exit_2_naming_the_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    path = tmp_path / "sub.yaml"
    path.write_text(f"devices: {{'{SWITCHBOT}': {{{key}: '{value}'}}}}\n")
    out = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config", str(path), "hass-remove"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert f"{path}: devices.{SWITCHBOT}.{message}" in out.stderr
