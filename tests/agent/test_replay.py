"""The replay backend: spacing, speed, loop, bad lines."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bt_mqtt.agent.backends import make_backend
from bt_mqtt.agent.backends.replay import ReplayBackend
from bt_mqtt.agent.config import BluetoothConfig, ReplayConfig
from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert
from tests.agent.helpers import write_replay


def play(backend: ReplayBackend, timeout: float = 10) -> list[tuple[float, Advert]]:
    got: list[tuple[float, Advert]] = []

    async def go() -> None:
        await asyncio.wait_for(backend.run(lambda a: got.append((time.monotonic(), a))), timeout)

    asyncio.run(go())
    return got


def test_spacing_from_t_scaled_by_speed(tmp_path: Path) -> None:
    f = write_replay(
        tmp_path / "r.jsonl",
        [{"t": 10.0 + i * 0.3, "mac": f"AA:00:00:00:00:0{i}", "rssi": -50} for i in range(3)],
    )
    got = play(ReplayBackend(file=str(f), speed=2.0))
    assert [a.mac for _, a in got] == [f"AA:00:00:00:00:0{i}" for i in range(3)]
    gaps = [got[i + 1][0] - got[i][0] for i in range(2)]
    assert all(0.12 <= g <= 0.4 for g in gaps), gaps  # 0.3 s of file time at speed 2


def test_spacing_from_ts_of_full_messages(tmp_path: Path) -> None:
    lines = []
    for i in range(3):
        a = Advert(mac=f"AA:00:00:00:00:0{i}", rssi=-40, manufacturer_data={76: b"\x01"})
        lines.append(
            wire.encode(a, "old", "b", i + 1, wire.format_ts(1_800_000_000 + i * 0.2)).decode()
        )
    got = play(ReplayBackend(file=str(write_replay(tmp_path / "r.jsonl", lines)), speed=1.0))
    assert got[2][0] - got[0][0] >= 0.3
    assert got[0][1].manufacturer_data == {76: b"\x01"}


def test_speed_zero_is_fast_and_bad_lines_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[object] = [
        {"t": i * 10.0, "mac": "AA:00:00:00:00:01", "rssi": -1} for i in range(5)
    ]
    lines[1] = "{not json"
    lines[3] = {"t": 1, "mac": "not-a-mac"}
    lines.append("")
    lines.append("# a comment")
    lines.append("[1, 2]")
    f = write_replay(tmp_path / "r.jsonl", lines)  # type: ignore[arg-type]
    backend = ReplayBackend(file=str(f), speed=0)
    with caplog.at_level(logging.WARNING):
        start = time.monotonic()
        got = play(backend)
    assert time.monotonic() - start < 2
    assert len(got) == 3
    assert backend.replay_stats.bad_lines == 3 and backend.replay_stats.lines == 3
    assert f"{f}:2:" in caplog.text and f"{f}:4:" in caplog.text and f"{f}:8:" in caplog.text


def test_loop_plays_again_until_cancelled(tmp_path: Path) -> None:
    f = write_replay(
        tmp_path / "r.jsonl",
        [{"t": i * 0.05, "mac": "AA:00:00:00:00:01", "rssi": -1} for i in range(3)],
    )
    backend = ReplayBackend(file=str(f), speed=1.0, loop=True)
    got: list[Advert] = []

    async def go() -> None:
        task = asyncio.create_task(backend.run(got.append))
        deadline = time.monotonic() + 10
        while backend.replay_stats.passes < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert backend.adapter_state().discovering
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert backend.replay_stats.passes >= 3 and len(got) >= 9
    assert not backend.adapter_state().discovering


def test_make_backend_replay(tmp_path: Path) -> None:
    f = write_replay(tmp_path / "r.jsonl", [])
    b = make_backend(BluetoothConfig(backend="replay", replay=ReplayConfig(file=str(f), speed=3)))
    assert isinstance(b, ReplayBackend) and b.speed == 3
    assert b.adapter_state().scan_mode == "replay"
