"""Repeat suppression: drop an advertisement whose content equals the address's last one.

Pure code; ``now`` is a monotonic time in seconds passed in by the caller.

Per address the table keeps the last *published* content, when it was last seen and when it
was last published.  An advert is a duplicate when its content equals that content, the address
was seen less than ``window_s`` ago (a sliding window: steady repeats keep it open) and it was
published less than ``max_interval_s`` ago.  So a device that keeps repeating itself is
re-published every ``max_interval_s``; one that was silent for ``window_s`` is published as soon
as it is heard again; every change of content is published.

Content is everything but RSSI: address type, TX power, name, manufacturer data, service data
and service UUIDs (see docs/decisions/0003-content-dedup.md).  The table is an LRU capped at
``max_entries`` addresses; an evicted address is simply treated as new when heard again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from bt_mqtt.core.advert import Advert

log = logging.getLogger(__name__)

Content = tuple[Any, ...]


def content_of(advert: Advert) -> Content:
    """The part of an advert that dedup compares (everything but RSSI and the MAC).

    The advert's dicts and list are kept by reference, not copied (10,000 remembered addresses
    would otherwise hold a second copy of each): backends hand over fresh ones per advert and
    never mutate them afterwards (see ``backends.bluez_cache``).
    """
    return (
        advert.address_type,
        advert.tx_power,
        advert.name,
        advert.manufacturer_data,
        advert.service_data,
        advert.service_uuids,
    )


class Dedup:
    """The per-address table.  ``offer`` decides; ``devices_since`` counts recent addresses."""

    __slots__ = ("_max", "_max_interval", "_table", "_window", "evictions")

    def __init__(self, window_s: float, max_interval_s: float, max_entries: int) -> None:
        self._window = window_s
        self._max_interval = max_interval_s
        self._max = max_entries
        # mac -> (last_seen, last_published, *content), ordered by last_seen (oldest first).  One
        # flat tuple, replaced on update, is the smallest entry: a list costs 40 bytes more and
        # a nested content tuple 48 more (10,000 addresses: 0.4 and 0.5 MB on the Pi's budget).
        self._table: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._table)

    def configure(self, window_s: float, max_interval_s: float, max_entries: int) -> None:
        """New limits, effective for the next ``offer`` (a remote ``set-dedup``); the table is
        kept, its oldest addresses evicted down to ``max_entries``."""
        self._window = window_s
        self._max_interval = max_interval_s
        self._max = max_entries
        while len(self._table) > max_entries:
            self._table.popitem(last=False)
            self.evictions += 1

    def offer(self, mac: str, content: Content, now: float, commit: bool = True) -> bool:
        """True when the advert should be published.

        With ``commit`` False (the publisher is offline) nothing about a publishable advert is
        recorded, so the same content is published once the connection is back.
        """
        table = self._table
        entry = table.get(mac)
        if entry is not None:
            if (
                now - entry[0] < self._window
                and now - entry[1] < self._max_interval
                and entry[2:] == content
            ):
                table[mac] = (now, *entry[1:])
                table.move_to_end(mac)
                return False
            if commit:
                table[mac] = (now, now, *content)
                table.move_to_end(mac)
            return True
        if commit:
            table[mac] = (now, now, *content)
            if len(table) > self._max:
                table.popitem(last=False)
                self.evictions += 1
        return True

    def devices_since(self, since: float) -> int:
        """How many addresses were seen at or after ``since`` (walks only those)."""
        n = 0
        for entry in reversed(self._table.values()):
            if entry[0] < since:
                break
            n += 1
        return n
