"""The planner process: it logs through the subscriber's JSON logging, tracebacks included."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.planner import Planner


def _log_a_failure() -> int:
    """Runs in the planner process: what plan_chunk does when a message fails unexpectedly."""
    try:
        raise RuntimeError("boom in the worker")
    except RuntimeError:
        logging.getLogger("bt_mqtt.subscriber.batch").exception("unexpected error planning")
    return 42


def test_the_planner_process_logs_json_lines(capfd: pytest.CaptureFixture[str]) -> None:
    planner = Planner(
        prefix="bt-mqtt",
        registry=Registry.default(plugins=False),
        bindkeys={},
        plugins=False,
        workers=1,
        max_bytes=16384,
        skew_s=300,
        log=("info", "json"),
    )

    async def go() -> int:
        pool = planner._start()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _log_a_failure)
        finally:
            pool.shutdown(wait=True)  # the worker is gone before the test ends

    assert asyncio.run(go()) == 42
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # plain-text tracebacks would fail here
    (rec,) = [r for r in records if r.get("msg") == "unexpected error planning"]
    assert rec["level"] == "error" and rec["logger"] == "bt_mqtt.subscriber.batch"
    assert "RuntimeError: boom in the worker" in rec["exc"]
