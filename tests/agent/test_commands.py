"""agent.commands: the gate admits only well-formed, authorised commands and counts the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bt_mqtt.agent.commands import Gate
from bt_mqtt.agent.config import DedupConfig, FiltersConfig
from bt_mqtt.core.command import CommandRejected


def gate(**kw: Any) -> Gate:
    kw.setdefault("enabled", True)
    kw.setdefault("allow_reboot", False)
    return Gate("pi", filters=FiltersConfig(), dedup=DedupConfig(), **kw)


def msg(verb: str, rid: str = "r1", **args: Any) -> bytes:
    return json.dumps({"id": rid, "command": verb, "args": args}).encode()


def test_own_topic_and_all_are_obeyed_others_and_retained_are_not() -> None:
    g = gate()
    assert g.admit("pi", False, msg("status", "a")).verb == "status"
    assert g.admit("all", False, msg("status", "b")).verb == "status"
    for target, retained, why in (("other", False, "obeys only"), ("pi", True, "retained")):
        with pytest.raises(CommandRejected, match=why):
            g.admit(target, retained, msg("status", f"c-{target}"))
    with pytest.raises(CommandRejected, match="disabled"):
        gate(enabled=False).admit("pi", False, msg("status"))
    assert g.counter_dict() == {
        "commands_received": 4,
        "commands_ok": 0,
        "commands_failed": 0,
        "commands_rejected": 2,
    }


def test_reboot_needs_allow_reboot() -> None:
    with pytest.raises(CommandRejected, match="allow_reboot"):
        gate().admit("pi", False, msg("reboot"))
    assert gate(allow_reboot=True).admit("pi", False, msg("reboot")).verb == "reboot"


def test_set_filters_merges_and_validates_like_the_yaml() -> None:
    g = gate()
    order = g.admit("pi", False, msg("set-filters", min_rssi=-80))
    assert order.filters == FiltersConfig(min_rssi=-80)
    g.applied(order)
    order = g.admit("pi", False, msg("set-filters", "r2", blocklist={"prefixes": ["A4:C1:38"]}))
    assert order.filters is not None and order.filters.min_rssi == -80
    assert order.filters.blocklist.prefixes == ["A4:C1:38"]
    with pytest.raises(CommandRejected, match=r"blocklist\.company_ids\[0\]") as info:
        g.admit("pi", False, msg("set-filters", "r3", blocklist={"company_ids": [70000]}))
    assert info.value.id == "r3"
    with pytest.raises(CommandRejected, match="allowlisted"):
        g.admit("pi", False, msg("set-filters", "r4", allowlisted=True))
    assert g.filters.min_rssi == -80  # only ``applied`` changes what is in force


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("set-dedup", {"window_s": "5"}),
        ("set-dedup", {"max_entries": 0}),
        ("set-log-level", {"level": "loud"}),
        ("set-log-level", {}),
        ("get-logs", {"lines": 0}),
        ("get-logs", {"lines": True}),
        ("restart-scan", {"now": True}),
    ],
)
def test_bad_arguments_are_rejected(verb: str, args: dict[str, Any]) -> None:
    g = gate(max_log_lines=100)
    with pytest.raises(CommandRejected) as info:
        g.admit("pi", False, msg(verb, **args))
    assert (info.value.id, info.value.command) == ("r1", verb)
    assert g.dedup == DedupConfig()


def test_a_request_id_runs_once() -> None:
    g = gate()
    g.admit("pi", False, msg("status", "same"))
    with pytest.raises(CommandRejected, match="already handled"):
        g.admit("pi", False, msg("status", "same"))
