"""Heartbeat payloads and the periodic task."""

from __future__ import annotations

import asyncio

from bt_mqtt.agent.backends.base import AdapterState
from bt_mqtt.agent.heartbeat import HeartbeatBuilder, ProcSample, read_process, run_heartbeat
from bt_mqtt.agent.pipeline import Counters
from bt_mqtt.core.status import Spool, decode, to_object


def builder() -> HeartbeatBuilder:
    return HeartbeatBuilder(
        scanner_id="pi",
        boot="b00t",
        version="1.2.3",
        hostname="host",
        start_mono=100.0,
        start_cpu_s=1.0,
        interval_s=60,
    )


def test_payload_fields_and_rates() -> None:
    hb = builder()
    adapter = AdapterState("hci0", "00:11:22:33:44:55", True, True, "passive")
    first = to_object(
        hb.build(
            now_mono=100.2,
            now_wall=1_800_000_000.0,
            counters=Counters(received=5),
            extra_counters={"bluez_errors": 0},
            adapter=adapter,
            proc=ProcSample(cpu_s=1.1, rss_mb=20.0),
            last_advert_mono=None,
            devices_seen=0,
            devices_tracked=0,
            last_seq=0,
            spool=Spool(depth=0, bytes=0),
        )
    )
    assert first["status"] == "online" and first["version"] == "1.2.3"
    assert first["received_per_s"] is None and first["cpu_pct"] is None  # too early to tell
    assert first["last_advert_age_s"] is None
    assert first["adapter"] == {
        "name": "hci0",
        "address": "00:11:22:33:44:55",
        "powered": True,
        "discovering": True,
        "scan_mode": "passive",
    }
    later = to_object(
        hb.build(
            now_mono=160.0,
            now_wall=1_800_000_060.0,
            counters=Counters(received=605, published=300, deduplicated=305),
            extra_counters={"bluez_errors": 2, "adapter_resets": 1},
            adapter=adapter,
            proc=ProcSample(cpu_s=7.0, rss_mb=21.5),
            last_advert_mono=159.5,
            devices_seen=12,
            devices_tracked=40,
            last_seq=300,
            spool=Spool(depth=12, bytes=4000),
        )
    )
    assert later["uptime_s"] == 60.0
    # the start-up window (0.2 s) was too short, so this one runs from the start
    assert later["received_per_s"] == round(605 / 60, 3) and later["published_per_s"] == 5.0
    assert later["cpu_pct"] == 10.0 and later["rss_mb"] == 21.5
    assert later["last_advert_age_s"] == 0.5
    assert later["counters"]["deduplicated"] == 305 and later["counters"]["bluez_errors"] == 2
    assert later["ts"] == "2027-01-15T08:01:00.000Z"
    assert later["last_seq"] == 300 and later["spool"] == {"depth": 12, "bytes": 4000}
    assert first["last_seq"] == 0
    third = to_object(
        hb.build(
            now_mono=220.0,
            now_wall=0,
            counters=Counters(received=605, published=300),
            extra_counters={},
            adapter=adapter,
            proc=ProcSample(cpu_s=7.0, rss_mb=21.5),
            last_advert_mono=159.5,
            devices_seen=0,
            devices_tracked=40,
            last_seq=300,
            spool=Spool(depth=0, bytes=0),
        )
    )
    assert third["received_per_s"] == 0.0 and third["cpu_pct"] == 0.0
    assert first["v"] == 1 and list(first)[:4] == ["v", "status", "scanner_id", "boot"]
    assert to_object(decode(later)) == later  # the lenient decoder reads back all of it


def test_read_process_is_plausible() -> None:
    p = read_process()
    assert p.cpu_s > 0 and 5 < p.rss_mb < 2000


def test_task_publishes_at_once_on_interval_and_on_wake() -> None:
    sent: list[float] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def record(_payload: bytes) -> bool:
            sent.append(loop.time())
            return True

        task = asyncio.create_task(run_heartbeat(0.3, lambda: b"{}", record, wake))
        await asyncio.sleep(0.05)
        assert len(sent) == 1  # immediately at start
        wake.set()  # a reconnect
        await asyncio.sleep(0.05)
        assert len(sent) == 2
        await asyncio.sleep(0.4)
        assert len(sent) == 3  # periodic, counted from the wake-up
        task.cancel()

    asyncio.run(go())
