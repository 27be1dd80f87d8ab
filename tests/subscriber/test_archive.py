"""The archive block codec: a day of mixed adverts comes back exactly (no database)."""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from bt_mqtt.core.wire import decode
from bt_mqtt.subscriber.archive import (
    ArchivedAdvert,
    BlockError,
    decode_block,
    encode_block,
    from_us,
    to_us,
    wire_ts,
)
from tests.subscriber.archivedata import day_of_adverts

DAY = datetime(2026, 11, 3, tzinfo=UTC)


def _by_mac(rows: list[ArchivedAdvert]) -> dict[str, list[ArchivedAdvert]]:
    out: dict[str, list[ArchivedAdvert]] = defaultdict(list)
    for r in rows:
        out[r.mac].append(r)
    return out


def test_a_day_of_mixed_adverts_round_trips_byte_for_byte() -> None:
    rows = list(day_of_adverts(DAY))
    assert len(rows) > 10_000
    back: list[ArchivedAdvert] = []
    stored = 0
    for mac_rows in _by_mac(rows).values():
        block = encode_block(mac_rows)
        stored += len(block)
        back.extend(decode_block(block))
    assert len(back) == len(rows)
    originals = {r.id: r for r in rows}
    exact = 0
    for got in back:
        want = originals[got.id]
        # every column but the payload text is the same value
        assert got._replace(payload="") == want._replace(payload="")
        # the payload: the same fields with the same values (as jsonb compares them) ...
        assert json.loads(got.payload) == json.loads(want.payload)
        # ... and the agent's own messages byte for byte, as wire.encode wrote them
        if want.extras is None and json.loads(want.payload) == json.loads(got.payload):
            exact += got.payload == want.payload
        # absent stays absent, null stays null
        assert set(json.loads(got.payload)) == set(json.loads(want.payload))
        decode(got.payload.encode())  # still a valid wire message
    assert exact > 0.9 * len(rows)
    assert stored / len(rows) < 40, f"{stored / len(rows):.1f} bytes per advert"


def test_agent_messages_are_identical_bytes() -> None:
    rows = list(day_of_adverts(DAY, seconds=60.0, odd_every=10**9))
    for mac_rows in _by_mac(rows).values():
        for got, want in zip(
            decode_block(encode_block(mac_rows)),
            sorted(mac_rows, key=lambda r: (r.scanner_id, r.boot, r.seq)),
            strict=True,
        ):
            assert got == want


def test_unknown_fields_keep_their_exact_text() -> None:
    row = next(iter(day_of_adverts(DAY, seconds=60.0)))
    obj = json.loads(row.payload)
    obj.pop("name")
    payload = json.dumps(obj)[:-1] + ', "x": 1.50, "y": {"z": 1e3}}'
    row = row._replace(payload=payload, extras='{"x": 1.50, "y": {"z": 1e3}}')
    (got,) = decode_block(encode_block([row]))
    assert got.payload.endswith(
        ',"service_uuids":' + json.dumps(obj["service_uuids"]) + ',"x": 1.50, "y": {"z": 1e3}}'
    )
    assert "name" not in json.loads(got.payload)


def test_time_helpers_are_exact() -> None:
    when = datetime(2026, 11, 3, 23, 59, 59, 999_999, tzinfo=UTC)
    assert from_us(to_us(when)) == when
    assert wire_ts(to_us(datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC))) == (
        "2026-01-02T03:04:05.678Z"
    )
    assert wire_ts(1) is None


def test_damaged_blocks_are_refused_by_name() -> None:
    with pytest.raises(BlockError, match="unknown block format"):
        decode_block(b"\x09abc")
    with pytest.raises(BlockError, match="damaged"):
        decode_block(b"\x01not zlib")
    with pytest.raises(BlockError, match="damaged"):
        decode_block(b"\x01" + zlib.compress(b'{"k": [1]}'))
    with pytest.raises(BlockError, match="at least one"):
        encode_block([])
