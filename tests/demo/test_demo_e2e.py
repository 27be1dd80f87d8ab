"""End to end: simulated BlueZ -> agents (bluez backend) -> Mosquitto -> subscriber -> PostgreSQL,
with the console (driven by Textual's Pilot) watching the same broker.

Runs the demo's orchestrator for a short scenario and checks exact counts at every stage: what
each simulated radio delivered, what each agent received and published, what the broker carried,
what the database archived, the readings per parser, the devices, the scanners' status, and the
per-scanner RSSI of a device heard by several scanners.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.console.main import build_app, build_parser
from bt_mqtt.console.state import DeviceState
from bt_mqtt.console.widgets import RowTable
from bt_mqtt.core.wire import decode_obj
from bt_mqtt.demo import scenario
from bt_mqtt.demo.orchestrator import OFFLINE_SCANNER, Demo, DemoOptions
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

SECONDS = 16.0
OFFLINE_AT = 8.0


Check = Callable[[Demo, dict[str, Any], dict[str, int]], None]


async def _play_with_console(demo: Demo) -> dict[str, DeviceState]:
    """Play the scenario while the console (driven by Pilot) watches; what the console saw."""
    assert demo.subscriber_config is not None
    args = build_parser().parse_args(["--config", str(demo.subscriber_config), "--no-database"])
    app = build_app(args)
    async with app.run_test(size=(120, 40)) as pilot:
        await demo.play(SECONDS)
        await pilot.pause(1.0)  # the last adverts reach the console; one more frame
        table = app.screen.query_one(RowTable)
        shown = {row.key for row in table.rows}
        assert shown == set(app.state.devices), "the Live table shows every device it knows"
        return dict(app.state.devices)


async def _run_demo(directory: Path, check: Check) -> None:
    """Run the scenario, stop the agents, collect; run ``check`` while the services still run."""
    demo = Demo(
        DemoOptions(directory=directory, seconds=SECONDS, console=False, offline_at=OFFLINE_AT),
        keep_messages=True,
    )
    try:
        await demo.start()
        seen = await _play_with_console(demo)
        delivered = {sid: sc.sim.stats.adverts_delivered for sid, sc in demo.scanners.items()}
        for sc in demo.scanners.values():  # the survivors publish their final figures
            if sc.proc is not None and sc.proc.poll() is None:
                sc.proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(sc.proc.wait, 20)
        summary = await demo.collect()
        summary["console_devices"] = seen
        await asyncio.to_thread(check, demo, summary, delivered)
    finally:
        await demo.shutdown()


def expected_readings(messages: list[dict[str, Any]]) -> Counter[str]:
    """Readings per parser, computed independently from what the broker carried."""
    registry = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={scenario.DEMO_BINDKEY_MAC: scenario.DEMO_BINDKEY})
    out: Counter[str] = Counter()
    for obj in sorted(messages, key=lambda m: (m["scanner_id"], m["boot"], m["seq"])):
        result = registry.parse(decode_obj(obj).advert, ctx)
        if result is not None:
            out[result.parser] += len(result.readings)
    return out


def _privacy_split(messages: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(addresses stored as they are: decoded or public, addresses of undecoded non-public
    adverts), decoding the broker's messages independently."""
    registry = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={scenario.DEMO_BINDKEY_MAC: scenario.DEMO_BINDKEY})
    kept: set[str] = set()
    private: set[str] = set()
    for obj in sorted(messages, key=lambda m: (m["scanner_id"], m["boot"], m["seq"])):
        advert = decode_obj(obj).advert
        if registry.parse(advert, ctx) is None and advert.address_type != "public":
            private.add(advert.mac)
        else:
            kept.add(advert.mac)
    return kept, private


@pytest.mark.slow
def test_demo_pipeline(tmp_path: Path) -> None:
    """One short demo run, checked stage by stage (one run keeps CI time down)."""

    def check(demo: Demo, summary: dict[str, Any], delivered: dict[str, int]) -> None:
        check_exact_counts(demo, summary, delivered)
        check_rssi(demo, summary, delivered)

    asyncio.run(_run_demo(tmp_path / "demo", check))


def check_exact_counts(demo: Demo, summary: dict[str, Any], delivered: dict[str, int]) -> None:
    witness = demo.witness
    assert witness is not None and demo.db_url is not None
    assert summary["backend"] == "bluez"

    # radio -> agent -> broker, per scanner (the killed scanner has no final figures)
    for sid in scenario.SCANNERS:
        status = witness.status[sid]
        assert status["status"] == "offline"
        if sid == OFFLINE_SCANNER:
            assert status.get("counters") is None  # the broker's last will, not a shutdown
            continue
        counters = status["counters"]
        assert counters["received"] == delivered[sid] > 0
        assert counters["published"] == witness.raw[sid]
        assert counters["received"] == (
            counters["published"]
            + counters["deduplicated"]
            + counters["filtered"]
            + counters["dropped_offline"]
        )
        # the subscriber's loss accounting agrees: all it published arrived
        loss = summary["scanners"][sid]
        assert (loss["published"], loss["lost"]) == (counters["published"], 0)
        assert loss["agent_dropped"] == counters["dropped_offline"]
    # broker -> database: everything, once
    assert summary["all_archived"] is True
    assert summary["archived"] == summary["adverts_published"] == len(witness.ids)
    assert summary["rejected"] == 0
    with psycopg.connect(demo.db_url) as conn:
        per_scanner: dict[str, int] = dict(
            conn.execute("SELECT scanner_id, count(*) FROM raw_advertisements GROUP BY 1")
        )
        macs = {m["mac"] for m in witness.messages}
        stored_macs = {r[0] for r in conn.execute("SELECT mac FROM devices")}
    assert per_scanner == dict(witness.raw)
    # the subscriber's default privacy: undecoded adverts of non-public addresses are stored
    # under a pseudonym (an address whose first byte is 80..BF), one per device and day
    kept, private = _privacy_split(witness.messages)
    pseudonyms = stored_macs - kept
    assert stored_macs & private <= kept and kept <= stored_macs
    assert all(0x80 <= int(m[:2], 16) <= 0xBF for m in pseudonyms)
    assert len(pseudonyms) == len(private) and summary["devices"] == len(stored_macs)

    # parsers: the same readings as decoding the broker's messages directly, from 8+ parsers
    expected = expected_readings(witness.messages)
    assert summary["readings_per_parser"] == dict(expected)
    assert len(expected) >= 8

    # the console showed every device the broker carried, with the parser that claimed it
    seen: dict[str, DeviceState] = summary["console_devices"]
    assert set(seen) == macs
    registry = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={scenario.DEMO_BINDKEY_MAC: scenario.DEMO_BINDKEY})
    for mac, device in seen.items():
        result = registry.parse(decode_obj(device.last.raw).advert, ctx)
        assert device.parser == (result.parser if result else None), mac

    # scanners: the killed one went offline midway by its last will
    assert summary["scanner_transitions"][f"{OFFLINE_SCANNER}:offline"] >= 1
    # ... and raised an alert (the demo alerts after 2 s offline), the only one
    assert [(a["kind"], a["subject"], a["state"]) for a in summary["alerts"]] == [
        ("scanner_offline", OFFLINE_SCANNER, "firing")
    ]
    assert witness.raw[OFFLINE_SCANNER] > 0


def check_rssi(demo: Demo, _summary: dict[str, Any], _delivered: dict[str, int]) -> None:
    assert demo.db_url is not None
    survivors = [s for s in scenario.SCANNERS if s != OFFLINE_SCANNER]
    # a device whose content changes with every advert, so no advert is deduplicated away
    shared = [
        d
        for d in scenario.build_devices()
        if d.kind == "bthome" and len(set(d.rssi) & set(survivors)) >= 2
    ]
    assert shared, "the scenario must have a changing device heard by two live scanners"
    with psycopg.connect(demo.db_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (mac, scanner_id) mac, scanner_id, rssi FROM raw_advertisements "
            "ORDER BY mac, scanner_id, seq DESC"
        ).fetchall()
    last = {(sid, mac): rssi for mac, sid, rssi in rows}
    checked = 0
    for (sid, mac), rssi in demo.last_rssi.items():
        if sid in survivors and (sid, mac) in last and mac.startswith("A4:C1:38"):
            assert last[(sid, mac)] == rssi, (sid, mac)
            checked += 1
    assert checked >= 2
