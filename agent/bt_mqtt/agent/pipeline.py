"""The agent's hot path: filters -> dedup -> v1 wire encoding, with counters.

Pure code: the caller passes the monotonic time (dedup, liveness), the wall-clock time (``ts``)
and whether the publisher is online.  ``offer`` returns the payload to publish, or None.  On a
Pi Zero W every microsecond here costs ~30 on the device, so the encoder writes the JSON text
directly (same bytes as ``bt_mqtt.core.wire.encode``, which the tests check) and the timestamp
formatter caches the seconds part.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Final

from attrs import define

from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.wire import VERSION

log = logging.getLogger(__name__)

_esc: Final[Callable[[str], str]] = json.encoder.encode_basestring


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
    """v1 JSON payloads for one (scanner_id, boot)."""

    __slots__ = ("_head",)

    def __init__(self, scanner_id: str, boot: str) -> None:
        self._head = f'{{"v":{VERSION},"scanner_id":{_esc(scanner_id)},"boot":{_esc(boot)},"seq":'

    def encode(self, a: Advert, seq: int, ts: str) -> bytes:
        """The payload; field order and separators as ``wire.encode``."""
        at = a.address_type
        tx = a.tx_power
        name = a.name
        mfr = ",".join([f'"{k}":"{v.hex()}"' for k, v in a.manufacturer_data.items()])
        svc = ",".join([f'{_esc(k)}:"{v.hex()}"' for k, v in a.service_data.items()])
        uuids = ",".join([_esc(u) for u in a.service_uuids])
        return (
            f'{self._head}{seq},"ts":"{ts}","mac":{_esc(a.mac)},'
            f'"address_type":{"null" if at is None else _esc(at)},"rssi":{a.rssi},'
            f'"tx_power":{"null" if tx is None else int(tx)},'
            f'"name":{"null" if name is None else _esc(name)},'
            f'"manufacturer_data":{{{mfr}}},"service_data":{{{svc}}},"service_uuids":[{uuids}]}}'
        ).encode()


@define(slots=True)
class Counters:
    """Pipeline counters since start (the heartbeat reports them)."""

    received: int = 0
    filtered: int = 0
    deduplicated: int = 0
    published: int = 0
    dropped_offline: int = 0
    dropped_backlog: int = 0


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

    def offer(
        self, advert: Advert, mono: float, wall: float, online: bool, room: bool | None = None
    ) -> bytes | None:
        """Count ``advert``; the payload to publish, or None when filtered, repeated or dropped.

        ``room``: the publisher will take the payload (writes it, or spools it while offline);
        None means ``online`` (no spool).  Without room the advert is dropped before it gets a
        seq, as ``dropped_offline`` (broker unreachable) or ``dropped_backlog`` (connected, but
        the broker does not keep up), and dedup records nothing for it.
        """
        c = self.counters
        c.received += 1
        self.last_advert_mono = mono
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
        self._seq += 1
        c.published += 1
        return self._encoder.encode(advert, self._seq, self._ts(wall))

    def publish_failed(self) -> None:
        """The publisher could not take the payload ``offer`` just returned (no room, which
        ``offer`` was told there was): count it as dropped and give its seq back, so seq stays
        gap-free."""
        self._seq -= 1
        self.counters.published -= 1
        self.counters.dropped_backlog += 1
