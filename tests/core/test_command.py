"""core.command: the request and reply messages, parsed strictly and built in one place."""

from __future__ import annotations

import json

import pytest

from bt_mqtt.core import command as cmd


def test_a_request_round_trips() -> None:
    req = cmd.Request(cmd.new_id(), cmd.SET_DEDUP, {"window_s": 5})
    assert cmd.parse_request(req.encode()) == req
    assert cmd.parse_request(b'{"id":"a","command":"status"}').args == {}


@pytest.mark.parametrize(
    ("payload", "rid", "verb", "why"),
    [
        (b"\xff", None, None, "not JSON"),
        (b"[]", None, None, "not a JSON object"),
        (b'{"command":"status"}', None, "status", "id: None"),
        (b'{"id":"a b","command":"status"}', None, "status", "id: 'a b'"),
        (b'{"id":"a","command":"fly"}', "a", None, "command: 'fly' is not one of"),
        (b'{"id":"a","command":"status","args":[1]}', "a", "status", "args: list"),
        (b'{"id":"a","command":"status","by":"me"}', "a", "status", "unknown key(s) by"),
        (b" " * (cmd.MAX_REQUEST_BYTES + 1), None, None, "over"),
    ],
)
def test_bad_requests_are_rejected_with_what_could_be_read(
    payload: bytes, rid: str | None, verb: str | None, why: str
) -> None:
    with pytest.raises(cmd.CommandRejected) as info:
        cmd.parse_request(payload)
    assert (info.value.id, info.value.command) == (rid, verb)
    assert why in info.value.reason
    reply = cmd.rejection(info.value, 3)
    assert json.loads(reply.encode()) == {
        "id": rid,
        "command": verb,
        "ok": False,
        "result": None,
        "error": info.value.reason,
        "ms": 3,
    }


def test_replies_parse_and_bad_ones_are_refused() -> None:
    reply = cmd.Reply("a", cmd.STATUS, True, {"x": 1}, None, 12)
    assert cmd.parse_reply(reply.encode()) == reply
    for bad in (b'{"ok": 1}', b'{"ok": true, "ms": -1}', b'{"ok": true, "id": 5, "ms": 0}'):
        with pytest.raises(cmd.CommandRejected):
            cmd.parse_reply(bad)
