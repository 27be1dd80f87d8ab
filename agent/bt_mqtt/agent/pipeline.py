"""The agent's hot path: filters -> dedup -> v1 wire encoding, with counters.

Pure code: the caller passes the monotonic time (dedup, liveness), the wall-clock time (``ts``)
and whether the publisher is online.  ``offer`` returns the payload to publish, or None.  On a
Pi Zero W every microsecond here costs ~30 on the device, so the encoder writes the JSON text
directly (same bytes as ``bt_mqtt.core.wire.encode``, which the tests check) and the timestamp
formatter caches the seconds part.

Backends hand over adverts whose fields are already in their wire form (see
``backends.values``); the encoder still never writes invalid JSON: every value goes through a
JSON string escape or an integer format (a value of another type raises instead of being
written), and ``offer`` drops and counts (``dropped_invalid``) an advert that cannot be encoded
or whose payload exceeds ``MAX_PAYLOAD_BYTES``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final

from attrs import define

from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.wire import DEFAULT_MAX_BYTES, UUID_RE, VERSION

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = DEFAULT_MAX_BYTES  # what a subscriber accepts by default
_LOG_INVALID: Final = 10

_esc: Final[Callable[[str], str]] = json.encoder.encode_basestring
_hex: Final[Callable[[bytes], str]] = bytes.hex  # raises for anything but bytes (float.hex!)


def new_boot_id() -> str:
    """A random id for this process start (16 hex digits)."""
    return os.urandom(8).hex()  # not secrets: it drags in hashlib and OpenSSL (RSS on the Pi)


class TsFormatter:
    """``bt_mqtt.core.wire.format_ts`` with the date and time of the current second cached."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, epoch: float) -> str:
        whole = int(epoch)
        if whole != self._second:
            self._second = whole
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return f"{self._prefix}.{int((epoch - whole) * 1000):03d}Z"


class Encoder:
    """v1 JSON payloads for one (scanner_id, boot).

    The JSON text of the small values (dBm, address types, the keys of manufacturer and service
    data, service UUIDs) comes from lookup tables that hold only valid values: a lookup is
    cheaper than formatting, and a value of the wrong type or form misses, goes to the checking
    path (``_fragments``) and raises there instead of being written.
    """

    __slots__ = ("_head",)

    def __init__(self, scanner_id: str, boot: str) -> None:
        self._head = f'{{"v":{VERSION},"scanner_id":{_esc(scanner_id)},"boot":{_esc(boot)},"seq":'

    def encode(self, a: Advert, seq: int, ts: str) -> bytes:
        """The payload; field order and separators as ``wire.encode``.

        Raises (LookupError, TypeError, ValueError or UnicodeEncodeError) rather than write
        invalid JSON or invalid v1: see the class docstring; strings go through the JSON
        escape and data through ``bytes.hex`` (anything else raises), and the final UTF-8
        encoding refuses lone surrogates.
        """
        try:
            mfr = ",".join([f'{_CID[k]}{_hex(v)}"' for k, v in a.manufacturer_data.items()])
            svc = ",".join([f'{_SVC[k]}{_hex(v)}"' for k, v in a.service_data.items()])
            uuids = ",".join([_UUID[u] for u in a.service_uuids])
        except KeyError:
            mfr, svc, uuids = _fragments(a)
        name = a.name
        return (
            f'{self._head}{seq},"ts":"{ts}","mac":{_esc(a.mac)},'
            f'"address_type":{_ADDRESS_TYPE[a.address_type]},"rssi":{_DBM[a.rssi]},'
            f'"tx_power":{_TX_POWER[a.tx_power]},'
            f'"name":{"null" if name is None else _esc(name)},'
            f'"manufacturer_data":{{{mfr}}},"service_data":{{{svc}}},"service_uuids":[{uuids}]}}'
        ).encode()


_DBM: Final = {i: str(i) for i in range(-128, 128)}  # the HCI range of RSSI and TX power
_TX_POWER: Final[dict[int | None, str]] = {i: str(i) for i in range(-128, 128)}
_TX_POWER[None] = "null"
_ADDRESS_TYPE: Final = {None: "null", "public": '"public"', "random": '"random"'}
# valid key -> its JSON text, filled by ``_fragments``; bounded (emptied when full)
_CID: Final[dict[int, str]] = {}  # company id -> '"76":"'
_SVC: Final[dict[str, str]] = {}  # UUID -> '"0000fcd2-...":"'
_UUID: Final[dict[str, str]] = {}  # UUID -> '"0000fcd2-..."'
_TABLE_MAX: Final = 4096


def _remember(table: dict[Any, str], key: Any, text: str) -> str:
    if len(table) >= _TABLE_MAX:
        table.clear()
    table[key] = text
    return text


def _uuid(u: object, what: str) -> str:
    if type(u) is not str or not UUID_RE.fullmatch(u):
        raise ValueError(f"{what} {u!r:.60} is not a 128-bit lower-case UUID")
    return u


def _fragments(a: Advert) -> tuple[str, str, str]:
    """The checking path of ``Encoder.encode``: the three maps' JSON, tables filled on the way."""
    mfr = []
    for k, v in a.manufacturer_data.items():
        text = _CID.get(k)
        if text is None:
            if type(k) is not int or not 0 <= k <= 0xFFFF:
                raise ValueError(f"manufacturer_data key {k!r:.60} is not a company id")
            text = _remember(_CID, k, f'"{k}":"')
        mfr.append(f'{text}{_hex(v)}"')
    svc = []
    for u, v in a.service_data.items():
        text = _SVC.get(u) or _remember(_SVC, _uuid(u, "service_data key"), f'"{u}":"')
        svc.append(f'{text}{_hex(v)}"')
    uuids = [
        _UUID.get(u) or _remember(_UUID, _uuid(u, "service UUID"), f'"{u}"')
        for u in a.service_uuids
    ]
    return ",".join(mfr), ",".join(svc), ",".join(uuids)


@define(slots=True)
class Counters:
    """Pipeline counters since start (the heartbeat reports them)."""

    received: int = 0
    filtered: int = 0
    deduplicated: int = 0
    published: int = 0
    dropped_offline: int = 0
    dropped_backlog: int = 0
    dropped_invalid: int = 0


class Pipeline:
    """Filters, dedup and encoding for one agent process."""

    __slots__ = (
        "_dedup",
        "_encoder",
        "_filter",
        "_seq",
        "_ts",
        "boot",
        "counters",
        "last_advert_mono",
    )

    def __init__(self, scanner_id: str, boot: str, filt: Filter, dedup: Dedup) -> None:
        self.boot = boot
        self._filter = filt
        self._dedup = dedup
        self._encoder = Encoder(scanner_id, boot)
        self._ts = TsFormatter()
        self._seq = 0
        self.counters = Counters()
        self.last_advert_mono: float | None = None

    @property
    def seq(self) -> int:
        """The seq of the last published advert (0 before the first)."""
        return self._seq

    @property
    def dedup(self) -> Dedup:
        return self._dedup

    def set_filter(self, filt: Filter) -> None:
        """Use ``filt`` from the next advert on (a remote ``set-filters``)."""
        self._filter = filt

    def offer(
        self, advert: Advert, mono: float, wall: float, online: bool, room: bool | None = None
    ) -> bytes | None:
        """Count ``advert``; the payload to publish, or None when filtered, repeated, dropped or
        invalid (it cannot be encoded as wire v1 within ``MAX_PAYLOAD_BYTES``).

        ``room``: the publisher will take the payload (writes it, or spools it while offline);
        None means ``online`` (no spool).  Without room the advert is dropped before it gets a
        seq, as ``dropped_offline`` (broker unreachable) or ``dropped_backlog`` (connected, but
        the broker does not keep up), and dedup records nothing for it.
        """
        c = self.counters
        c.received += 1
        self.last_advert_mono = mono
        try:  # free unless raised; a backend's malformed advert must not escape as an error
            if self._filter.active and not self._filter.accept(advert):
                c.filtered += 1
                return None
            content = (  # dedup.content_of, inlined; the dict and list are shared, not copied
                advert.address_type,
                advert.tx_power,
                advert.name,
                advert.manufacturer_data,
                advert.service_data,
                advert.service_uuids,
            )
            if room is None:
                room = online
            if not self._dedup.offer(advert.mac, content, mono, room):
                c.deduplicated += 1
                return None
            if not room:
                if online:
                    c.dropped_backlog += 1
                else:
                    c.dropped_offline += 1
                return None
            payload = self._encoder.encode(advert, self._seq + 1, self._ts(wall))
        except (LookupError, TypeError, ValueError, AttributeError) as exc:  # UnicodeError too
            self._invalid(advert, f"cannot be handled ({type(exc).__name__}: {exc})")
            return None
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._invalid(advert, f"is {len(payload)} bytes, over {MAX_PAYLOAD_BYTES}")
            return None
        self._seq += 1
        c.published += 1
        return payload

    def _invalid(self, advert: Advert, why: str) -> None:
        """Count an advert that is not valid v1 (a backend bug, or a replay file's bad line);
        log the first few."""
        self.counters.dropped_invalid += 1
        if self.counters.dropped_invalid <= _LOG_INVALID:
            log.warning(
                "dropping an advert that %s (counted in dropped_invalid; the first %d are logged)"
                ": %.200r",
                why,
                _LOG_INVALID,
                advert,
                extra={"event": "advert_invalid"},
            )

    def publish_failed(self) -> None:
        """The publisher could not take the payload ``offer`` just returned (no room, which
        ``offer`` was told there was): count it as dropped and give its seq back, so seq stays
        gap-free."""
        self._seq -= 1
        self.counters.published -= 1
        self.counters.dropped_backlog += 1
