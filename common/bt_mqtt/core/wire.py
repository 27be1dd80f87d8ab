"""The v1 wire format: one advertisement per MQTT message, as a JSON object.

``encode`` is on the agent's hot path and does no validation (its input comes from a backend).
``decode`` is the subscriber's gate: it validates every field it reads and raises ``WireError``
with a machine-readable ``reason`` and a human-readable detail.  Unknown fields are kept in
``WireMessage.raw`` and otherwise ignored.

What passes is plain JSON (no ``NaN``/``Infinity``, every number a finite double), and the
fields the subscriber keys on are ASCII of the documented shape: a MAC of ASCII hex digits, a
company id of ASCII decimal digits, hex without spaces, ``seq`` from 1 to 2**63 - 1, ``boot`` of
1 to 64 printable ASCII characters and ``ts`` an RFC 3339 date-time with an offset whose instant
Python can represent.  Unicode digits and compatibility forms (``٣``, ``²``, ``ﬀ``) never pass
as ASCII.
"""

from __future__ import annotations

import json
import math
import re
import time as _time
from datetime import UTC, datetime
from typing import Any, Final

from bt_mqtt.core.advert import Advert, WireMessage

VERSION: Final = 1
DEFAULT_MAX_BYTES: Final = 16 * 1024

MAC_RE: Final = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")
UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BOOT_RE: Final = re.compile(r"[\x21-\x7e]{1,64}")
# RFC 3339 date-time (section 5.6): full-date "T" full-time, the offset required
TS_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
ADDRESS_TYPES: Final = frozenset({"public", "random"})
SEQ_MAX: Final = 2**63 - 1  # PostgreSQL bigint
INT16_MIN: Final = -(2**15)
INT16_MAX: Final = 2**15 - 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, if a double holds it (PostgreSQL's jsonb
    refuses some that overflow a double, such as 1e200000)."""
    value = float(text)
    if not math.isfinite(value) or (
        value == 0.0 and text.lower().split("e")[0].strip("-0.") != ""  # underflow to 0
    ):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# standard JSON only: NaN, Infinity and numbers beyond a double raise ValueError
loads: Final = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float).decode


class WireError(ValueError):
    """A payload that is not a valid v1 message.  ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def format_ts(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-27T07:49:52.123Z``."""
    whole = int(epoch)
    millis = int((epoch - whole) * 1000)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(whole)) + f".{millis:03d}Z"


def advert_fields(advert: Advert) -> dict[str, Any]:
    """The advertisement's wire fields (no envelope), JSON-ready."""
    return {
        "mac": advert.mac,
        "address_type": advert.address_type,
        "rssi": advert.rssi,
        "tx_power": advert.tx_power,
        "name": advert.name,
        "manufacturer_data": {str(k): v.hex() for k, v in advert.manufacturer_data.items()},
        "service_data": {k: v.hex() for k, v in advert.service_data.items()},
        "service_uuids": advert.service_uuids,
    }


def encode(advert: Advert, scanner_id: str, boot: str, seq: int, ts: str) -> bytes:
    """The v1 JSON payload for one advertisement."""
    obj = {"v": VERSION, "scanner_id": scanner_id, "boot": boot, "seq": seq, "ts": ts}
    obj.update(advert_fields(advert))
    return _dumps(obj).encode()


def _req(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    try:
        value = obj[key]
    except KeyError:
        raise WireError("missing_field", f"field {key!r} is missing") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WireError("wrong_type", f"field {key!r} has type {type(value).__name__}")
    return value


def _opt(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise WireError("wrong_type", f"field {key!r} has type {type(value).__name__}")
    return value


def _int16(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError("wrong_type", f"field {key!r} has type {type(value).__name__}")
    if not INT16_MIN <= value <= INT16_MAX:
        raise WireError("bad_value", f"field {key!r} is out of range: {str(value)[:20]}")
    return value


def _hex_map(obj: dict[str, Any], key: str) -> dict[str, bytes]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WireError("wrong_type", f"field {key!r} has type {type(value).__name__}")
    out: dict[str, bytes] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise WireError("wrong_type", f"{key}[{k[:40]!r}] is not a hex string")
        try:
            data = bytes.fromhex(v)
        except ValueError:
            data = None
        if data is None or len(v) != 2 * len(data):  # fromhex skips whitespace; we do not
            raise WireError("bad_value", f"{key}[{k[:40]!r}] is not valid hex")
        out[k] = data
    return out


def _company_id(key: str) -> int:
    """A manufacturer_data key: ASCII decimal without leading zeros, 0..65535."""
    if (
        0 < len(key) <= 5
        and key.isascii()
        and key.isdigit()
        and (key[0] != "0" or key == "0")
        and int(key) <= 0xFFFF
    ):
        return int(key)
    raise WireError("bad_value", f"manufacturer_data key {key[:20]!r} is not a company id")


def advert_from_obj(obj: dict[str, Any]) -> Advert:
    """Validate and convert the advertisement fields of a JSON object."""
    mac = _req(obj, "mac", str)
    if not MAC_RE.fullmatch(mac):
        upper = mac.upper() if mac.isascii() else ""  # "ﬀ".upper() is "FF"
        if not MAC_RE.fullmatch(upper):
            raise WireError("bad_value", f"field 'mac' is not a MAC address: {mac[:40]!r}")
        mac = upper
    rssi = obj.get("rssi")
    rssi = 0 if rssi is None else _int16("rssi", rssi)
    tx_power = obj.get("tx_power")
    if tx_power is not None:
        tx_power = _int16("tx_power", tx_power)
    address_type = _opt(obj, "address_type", str)
    if address_type is not None and address_type not in ADDRESS_TYPES:
        raise WireError("bad_value", f"field 'address_type' is {address_type[:20]!r}")
    mfr = {_company_id(k): v for k, v in _hex_map(obj, "manufacturer_data").items()}
    svc = _hex_map(obj, "service_data")
    for k in svc:
        if not UUID_RE.fullmatch(k):
            raise WireError("bad_value", f"service_data key {k[:40]!r} is not a 128-bit UUID")
    uuids = obj.get("service_uuids")
    if uuids is None:
        uuids = []
    elif not isinstance(uuids, list):
        raise WireError("wrong_type", "field 'service_uuids' is not a list of strings")
    else:
        for u in uuids:
            if not isinstance(u, str):
                raise WireError("wrong_type", "field 'service_uuids' is not a list of strings")
            if not UUID_RE.fullmatch(u):
                raise WireError("bad_value", f"service_uuids item {u[:40]!r} is not a 128-bit UUID")
    return Advert(
        mac=mac,
        rssi=rssi,
        address_type=address_type,
        tx_power=tx_power,
        name=_opt(obj, "name", str),
        manufacturer_data=mfr,
        service_data=svc,
        service_uuids=uuids,
    )


def parse_ts(ts: str) -> datetime:
    """Parse an RFC 3339 date-time (offset required) into an aware UTC datetime."""
    if not TS_RE.fullmatch(ts):
        raise WireError("bad_value", f"field 'ts' is not an RFC 3339 time: {ts[:40]!r}")
    try:
        when = datetime.fromisoformat(ts[:-1] + "Z" if ts[-1] == "z" else ts)
        if when.utcoffset():
            when = when.astimezone(UTC)  # 0001-01-01T00:00+01:00 is in year 0: OverflowError
    except (ValueError, OverflowError):
        raise WireError("bad_value", f"field 'ts' is out of range: {ts[:40]!r}") from None
    return when


def decode_obj(obj: Any, topic_scanner_id: str | None = None) -> WireMessage:
    """Validate a parsed JSON value as a v1 message; check it against the topic's scanner id."""
    if not isinstance(obj, dict):
        raise WireError("not_object", f"payload is a JSON {type(obj).__name__}, not an object")
    v = _req(obj, "v", int)
    if v != VERSION:
        raise WireError("bad_version", f"unsupported schema version {v}")
    scanner_id = _req(obj, "scanner_id", str)
    if topic_scanner_id is not None and scanner_id != topic_scanner_id:
        raise WireError(
            "scanner_mismatch",
            f"payload scanner_id {scanner_id[:64]!r} differs from topic's {topic_scanner_id!r}",
        )
    boot = _req(obj, "boot", str)
    if not BOOT_RE.fullmatch(boot):
        raise WireError("bad_value", f"field 'boot' is not 1-64 printable ASCII: {boot[:64]!r}")
    seq = _req(obj, "seq", int)
    if not 1 <= seq <= SEQ_MAX:
        raise WireError("bad_value", f"field 'seq' is out of range 1..2**63-1: {str(seq)[:24]}")
    ts = _req(obj, "ts", str)
    return WireMessage(
        scanner_id=scanner_id,
        boot=boot,
        seq=seq,
        ts=ts,
        time=parse_ts(ts),
        advert=advert_from_obj(obj),
        raw=obj,
    )


def decode(
    payload: bytes, topic_scanner_id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> WireMessage:
    """Decode and validate one MQTT payload.  Raises ``WireError``."""
    if len(payload) > max_bytes:
        raise WireError("too_large", f"payload is {len(payload)} bytes, limit {max_bytes}")
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        raise WireError("invalid_utf8", f"payload is not UTF-8 at byte {exc.start}") from None
    try:
        obj = loads(text)
    except ValueError as exc:
        raise WireError("invalid_json", f"payload is not JSON: {exc}") from None
    except RecursionError:
        raise WireError("invalid_json", "payload is nested too deeply") from None
    return decode_obj(obj, topic_scanner_id)
