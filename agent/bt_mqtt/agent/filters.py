"""Which advertisements the agent publishes at all: blocklist, allowlist and minimum RSSI.

Pure code.  ``Matcher`` is a compiled ``MatchList``: an advert matches when its MAC is listed,
starts with a listed prefix, carries a listed company id (manufacturer data), a listed service
UUID (in ``service_uuids`` or as a ``service_data`` key), or has a name matching a listed glob
(``fnmatch`` syntax, case-sensitive).  Service UUIDs may be written as 16- or 32-bit short forms
in the configuration; they are compared in their 128-bit lower-case form.
"""

from __future__ import annotations

import fnmatch
import logging
import re

from bt_mqtt.agent.config import FiltersConfig, MatchList
from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import uuid128

log = logging.getLogger(__name__)


def normalise_prefix(text: str) -> str:
    """``a4:c1:38:`` -> ``A4:C1:38`` (compared against the start of upper-case MACs)."""
    return text.upper().rstrip(":")


class Matcher:
    """A compiled ``MatchList``."""

    __slots__ = ("_company_ids", "_macs", "_name_re", "_prefixes", "_uuids", "empty")

    def __init__(self, spec: MatchList) -> None:
        self._macs = frozenset(m.upper() for m in spec.macs)
        by_len: dict[int, set[str]] = {}
        for p in spec.prefixes:
            norm = normalise_prefix(p)
            by_len.setdefault(len(norm), set()).add(norm)
        self._prefixes = tuple((n, frozenset(s)) for n, s in sorted(by_len.items()))
        self._company_ids = frozenset(spec.company_ids)
        self._uuids = frozenset(uuid128(u) for u in spec.service_uuids)
        self._name_re = (
            re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in spec.names))
            if spec.names
            else None
        )
        self.empty = not (
            self._macs or self._prefixes or self._company_ids or self._uuids or spec.names
        )

    def matches(self, advert: Advert) -> bool:
        """Whether ``advert`` matches any entry."""
        mac = advert.mac
        if mac in self._macs:
            return True
        for n, prefixes in self._prefixes:
            if mac[:n] in prefixes:
                return True
        if self._company_ids and advert.manufacturer_data:
            for cid in advert.manufacturer_data:
                if cid in self._company_ids:
                    return True
        if self._uuids:
            for u in advert.service_uuids:
                if u in self._uuids:
                    return True
            for u in advert.service_data:
                if u in self._uuids:
                    return True
        name_re = self._name_re
        return name_re is not None and advert.name is not None and bool(name_re.match(advert.name))


class Filter:
    """The configured filters.  ``active`` is False when nothing is configured (accept all)."""

    __slots__ = ("_allow", "_block", "_min_rssi", "active")

    def __init__(self, cfg: FiltersConfig) -> None:
        block = Matcher(cfg.blocklist)
        self._block = None if block.empty else block
        self._allow = None if cfg.allowlist is None else Matcher(cfg.allowlist)
        self._min_rssi = cfg.min_rssi
        self.active = (
            self._block is not None or self._allow is not None or self._min_rssi is not None
        )

    def accept(self, advert: Advert) -> bool:
        """True when ``advert`` may be published."""
        if self._min_rssi is not None and advert.rssi < self._min_rssi:
            return False
        if self._block is not None and self._block.matches(advert):
            return False
        return self._allow is None or self._allow.matches(advert)
