"""subscriber.commandlog: every command and reply recorded in ``scanner_commands``, beside the
ingest: the real subscriber and a real agent (replay backend, commands on) on a real Mosquitto
and PostgreSQL, commanded with ``bt-mqtt command``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bt_mqtt.core import command as cmd
from bt_mqtt.core.topics import Topics
from bt_mqtt.subscriber.commandlog import sender, to_row
from tests.agent.helpers import agent_config, start_agent, write_replay
from tests.agent.helpers import write_config as write_agent_config
from tests.fixtures.mosquitto import Broker
from tests.fixtures.procs import free_port, stop_process
from tests.fixtures.waiting import wait_until
from tests.subscriber.harness import scrape, start_subscriber, stop, write_config

SID = "log-pi"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_to_row_reads_commands_and_replies() -> None:
    t = Topics()
    props = {"user_property": [("by", "ops@server")]}
    row = to_row(t.classify("bt-mqtt/command/all"), b'{"id":"a","command":"status"}', props, NOW)
    assert row.kind == "command" and row.params["scanner_id"] == "all"
    assert row.params["by"] == "ops@server" and row.params["args"] == "{}"
    reply = cmd.Reply("a", "status", False, None, "nope", 7).encode()
    row = to_row(t.classify(f"bt-mqtt/scanner/{SID}/reply"), reply, {}, NOW)
    assert row.kind == "reply" and row.params["ok"] is False and row.params["ms"] == 7
    for topic, payload in (
        ("bt-mqtt/command/all", b"junk"),
        (f"bt-mqtt/scanner/{SID}/reply", b'{"ok": "yes"}'),
        (f"bt-mqtt/scanner/{SID}/status", b"{}"),
    ):
        with pytest.raises(cmd.CommandRejected):
            to_row(t.classify(topic), payload, {}, NOW)
    assert sender({"user_property": [("other", "x")]}) is None and sender(None) is None
    nul = cmd.Reply("a\x00", "st\x00", True, {"k\x00": ["v\x00"]}, "e\x00", 1).encode()
    row = to_row(t.classify(f"bt-mqtt/scanner/{SID}/reply"), nul, {}, NOW)
    texts = [v for v in row.params.values() if isinstance(v, str)]
    assert len(texts) == 5 and not any("\x00" in v or "\\u0000" in v for v in texts)


def rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT request_id, scanner_id, verb, args, requested_at, requested_by, replied_at,"
            " ok, result, error, ms FROM scanner_commands ORDER BY row_id"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def command(broker: Broker, scanner: str, verb: str, *args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bt_mqtt.cli.main", "command", scanner, verb, *args]
    argv += ["--host", broker.host, "--port", str(broker.port), "--timeout", "3"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode in (0, 1), res.stderr
    reply: dict[str, Any] = json.loads(res.stdout.splitlines()[0])
    return reply


def test_the_subscriber_records_commands_and_replies(
    tmp_path: Path, mosquitto: Broker, pg_database: str
) -> None:
    sub_log = tmp_path / "subscriber.log"
    port = free_port()
    sub_conf = write_config(
        tmp_path / "sub.yaml", mosquitto.port, pg_database, metrics={"port": port}
    )
    sub = start_subscriber(sub_conf, sub_log)
    replay = write_replay(tmp_path / "replay.jsonl", [{"mac": "C0:FF:EE:00:00:01", "rssi": -60}])
    conf = agent_config(mosquitto, replay, SID, commands={"enabled": True})
    conf["bluetooth"]["replay"]["loop"] = True
    agent = start_agent(write_agent_config(tmp_path / "agent.yaml", conf), tmp_path / "agent.log")
    try:
        wait_until(
            lambda: "command_log_subscribed" in sub_log.read_text(),
            "the command log to subscribe",
            60,
            proc=sub,
            log=sub_log,
            every=0.1,
        )
        ok = command(mosquitto, SID, "status")
        bad = command(mosquitto, SID, "set-dedup", "window_s=-1")
        every = command(mosquitto, "all", "get-logs", "lines=2")
        subprocess.run(
            [
                *("mosquitto_pub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-q", "1"),
                *("-t", f"bt-mqtt/command/{SID}", "-m", "junk\x01"),
            ],
            check=True,
            timeout=30,
        )
        wait_until(lambda: len(rows(pg_database)) >= 6, "6 rows", 30, every=0.2)
        got = {(r["request_id"], r["scanner_id"]): r for r in rows(pg_database)}
        r = got[(ok["id"], SID)]
        assert (r["verb"], r["ok"], r["error"], r["args"]) == ("status", True, None, {})
        assert r["result"]["scanner_id"] == SID and r["ms"] == ok["ms"]
        assert r["requested_at"] <= r["replied_at"] and "@" in r["requested_by"]
        r = got[(bad["id"], SID)]
        assert r["ok"] is False and "window_s" in r["error"] and r["args"] == {"window_s": -1}
        fleet, mine = got[(every["id"], "all")], got[(every["id"], SID)]
        assert fleet["ok"] is None and fleet["args"] == {"lines": 2}
        assert mine["ok"] is True and mine["requested_at"] == fleet["requested_at"]
        assert len(mine["result"]["lines"]) <= 2
        # the junk command is kept as it came, and the agent's rejection as a reply
        kept = [r for r in rows(pg_database) if r["request_id"] is None]
        junk = next(r for r in kept if r["ok"] is None)
        assert junk["scanner_id"] == SID and "unreadable command" in junk["error"]
        assert junk["result"] == "junk\x01"
        rejected = next(r for r in kept if r["ok"] is False)
        assert "not JSON" in rejected["error"]
        counts = scrape(port)
        assert counts["commands_unreadable_total"] == 1
        assert counts["commands_recorded_total"] == len(rows(pg_database)) + 2  # 2 upserts
        assert counts["commands_not_stored_total"] == 0
    finally:
        stop_process(agent)
        assert stop(sub) == 0
