"""The compact raw archive's block codec: many archived adverts of one MAC in one ``bytea``.

A block holds the ``raw_advertisements`` rows of one MAC and one UTC day (see
``migrations/0007_archive.sql``, table ``raw_blocks``).  ``encode_block`` turns rows into the
block's bytes and ``decode_block`` gives the same rows back: every column, and the payload as
the wire message's JSON text with its fields in the wire module's order (``v``, ``scanner_id``,
``boot``, ``seq``, ``ts``, ``mac``, ``address_type``, ``rssi``, ``tx_power``, ``name``,
``manufacturer_data``, ``service_data``, ``service_uuids``), then any fields the wire contract
does not know, verbatim.  A field absent from the message stays absent; a null stays null.

Format 1: a version byte, then zlib of one JSON object of columns (one value per advert, rows
sorted by scanner, boot and seq): ids, times and seqs as deltas, the agent's ``ts`` as 0 when
it is the row's ``time`` written as the wire module writes it, payload fields equal to the row's
column as 0, strings of few values (scanner, boot, parser, parse status) by dictionary.
Pure code: no database, no clock.
"""

from __future__ import annotations

import json
import time as _time
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

__all__ = [
    "FORMAT",
    "KNOWN_FIELDS",
    "ArchivedAdvert",
    "BlockError",
    "decode_block",
    "encode_block",
    "from_us",
    "to_us",
]

FORMAT: Final = 1
# The v1 wire message's fields, in the order wire.encode writes them.
KNOWN_FIELDS: Final = (
    "v",
    "scanner_id",
    "boot",
    "seq",
    "ts",
    "mac",
    "address_type",
    "rssi",
    "tx_power",
    "name",
    "manufacturer_data",
    "service_data",
    "service_uuids",
)
# fields stored as 0 when equal to the row's value (derived from the row on decode)
_DERIVED: Final = frozenset({"scanner_id", "boot", "seq", "ts", "mac"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class BlockError(ValueError):
    """Bytes that are not a block this code can read."""


class ArchivedAdvert(NamedTuple):
    """One ``raw_advertisements`` row.  ``payload`` is the JSON object's text; ``extras`` the
    JSON object text of the payload's fields outside ``KNOWN_FIELDS`` (None when there are
    none), which the block keeps verbatim (the database's text of them keeps numbers exact)."""

    id: int
    time: datetime
    received_at: datetime
    scanner_id: str
    boot: str
    seq: int
    mac: str
    rssi: int | None
    parser: str | None
    clock_skew: bool
    agent_time: bool
    parse_status: str | None
    payload: str
    extras: str | None = None


def to_us(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly."""
    return (when - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The aware UTC datetime of ``to_us``."""
    return _EPOCH + timedelta(microseconds=us)


def wire_ts(us: int) -> str | None:
    """The wire module's ``ts`` text of an instant with whole milliseconds (else None)."""
    if us % 1000:
        return None
    seconds, micros = divmod(us, 1_000_000)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(seconds)) + f".{micros // 1000:03d}Z"


class _Dict:
    """Strings (or None) by index, in first-seen order."""

    def __init__(self) -> None:
        self.values: list[str | None] = []
        self._index: dict[str | None, int] = {}

    def add(self, value: str | None) -> int:
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i


def encode_block(rows: Iterable[ArchivedAdvert], level: int = 9) -> bytes:
    """The block of ``rows`` (any order; they come back sorted by scanner, boot, seq)."""
    ordered = sorted(rows, key=lambda r: (r.scanner_id, r.boot, r.seq, r.id))
    if not ordered:
        raise BlockError("a block holds at least one advert")
    dicts = {name: _Dict() for name in ("S", "B", "P", "PS", "M")}
    cols: dict[str, list[Any]] = {name: [] for name in ("id", "t", "r", "s", "b", "q", "m")}
    cols.update({name: [] for name in ("rs", "p", "ps", "f", "k", "x")})
    fields: dict[str, list[Any]] = {name: [] for name in KNOWN_FIELDS}
    prev_id = prev_t = prev_q = 0
    for row in ordered:
        obj = json.loads(row.payload)
        if not isinstance(obj, dict):
            raise BlockError(f"advert {row.id}: the payload is not a JSON object")
        t = to_us(row.time)
        cols["id"].append(row.id - prev_id)
        cols["t"].append(t - prev_t)
        cols["r"].append(to_us(row.received_at) - t)
        cols["s"].append(dicts["S"].add(row.scanner_id))
        cols["b"].append(dicts["B"].add(row.boot))
        cols["q"].append(row.seq - prev_q)
        cols["m"].append(dicts["M"].add(row.mac))
        cols["rs"].append(row.rssi)
        cols["p"].append(dicts["P"].add(row.parser))
        cols["ps"].append(dicts["PS"].add(row.parse_status))
        cols["f"].append(int(row.clock_skew) | int(row.agent_time) << 1)
        cols["x"].append(row.extras)
        prev_id, prev_t, prev_q = row.id, t, row.seq
        derived = {
            "scanner_id": row.scanner_id,
            "boot": row.boot,
            "seq": row.seq,
            "ts": wire_ts(t),
            "mac": row.mac,
        }
        mask = 0
        for bit, name in enumerate(KNOWN_FIELDS):
            if name not in obj:
                continue
            mask |= 1 << bit
            value = obj[name]
            if name in _DERIVED:
                same = value == derived[name] and type(value) is type(derived[name])
                fields[name].append(0 if same else [value])
            else:
                fields[name].append(value)
        cols["k"].append(mask)
    if not any(x is not None for x in cols["x"]):
        del cols["x"]
    doc = {"F": FORMAT, **{k: d.values for k, d in dicts.items()}, **cols}
    doc.update({"f_" + name: values for name, values in fields.items() if values})
    return bytes([FORMAT]) + zlib.compress(_dumps(doc).encode(), level)


def decode_block(data: bytes) -> list[ArchivedAdvert]:
    """The rows of a block, sorted by scanner, boot and seq.  Raises ``BlockError``."""
    if not data or data[0] != FORMAT:
        raise BlockError(f"unknown block format {data[:1].hex() or 'empty'}")
    try:
        doc = json.loads(zlib.decompress(data[1:]))
    except (zlib.error, ValueError) as exc:
        raise BlockError(f"a damaged block: {exc}") from None
    try:
        return list(_rows(doc))
    except (KeyError, IndexError, TypeError) as exc:
        raise BlockError(f"a damaged block: {exc!r}") from None


def _rows(doc: dict[str, Any]) -> Iterable[ArchivedAdvert]:
    S, B, P, PS, M = doc["S"], doc["B"], doc["P"], doc["PS"], doc["M"]
    extras: Sequence[str | None] = doc.get("x") or [None] * len(doc["id"])
    cursors = dict.fromkeys(KNOWN_FIELDS, 0)
    values = {name: doc.get("f_" + name, ()) for name in KNOWN_FIELDS}
    adv_id = t = seq = 0
    for i, mask in enumerate(doc["k"]):
        adv_id += doc["id"][i]
        t += doc["t"][i]
        seq += doc["q"][i]
        scanner_id, boot, mac = S[doc["s"][i]], B[doc["b"][i]], M[doc["m"][i]]
        derived = {"scanner_id": scanner_id, "boot": boot, "seq": seq, "mac": mac}
        obj: dict[str, Any] = {}
        for bit, name in enumerate(KNOWN_FIELDS):
            if not mask >> bit & 1:
                continue
            value = values[name][cursors[name]]
            cursors[name] += 1
            if name in _DERIVED:
                same = wire_ts(t) if name == "ts" else derived[name]
                value = same if value == 0 else value[0]
            obj[name] = value
        text = _dumps(obj)
        extra = extras[i]
        if extra is not None and extra not in ("{}", ""):
            text = extra if text == "{}" else text[:-1] + "," + extra.strip()[1:]
        flags = doc["f"][i]
        yield ArchivedAdvert(
            id=adv_id,
            time=from_us(t),
            received_at=from_us(t + doc["r"][i]),
            scanner_id=scanner_id,
            boot=boot,
            seq=seq,
            mac=mac,
            rssi=doc["rs"][i],
            parser=P[doc["p"][i]],
            clock_skew=bool(flags & 1),
            agent_time=bool(flags & 2),
            parse_status=PS[doc["ps"][i]],
            payload=text,
            extras=extra,
        )
