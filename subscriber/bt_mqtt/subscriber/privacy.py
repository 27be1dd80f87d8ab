"""What is stored of adverts that no parser decodes: phones, watches, passers-by.

Adverts a parser decodes (sensors, beacons) are always stored as received.  For the others the
configuration (``privacy``) chooses, separately for public addresses and for random or unknown
ones (``address_type`` not ``public``):

- ``keep``: store them as received;
- ``pseudonymise``: replace the address by a keyed hash and drop the name;
- ``drop``: store nothing (the drop is counted).

A pseudonym is HMAC-SHA-256(key, UTC day of reception + address), shown as an address whose
first byte is 80..BF (the two top bits ``10``: a random-address sub-type Bluetooth reserves,
so no real random address looks like it).  It is stable for one UTC day and one key: a device
can be counted within a day, not followed from day to day.  Without a key file the key is
random and held in memory only, so pseudonyms also change when the subscriber restarts.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from attrs import define, field

KEEP: Final = "keep"
PSEUDONYMISE: Final = "pseudonymise"
DROP: Final = "drop"
ACTIONS: Final = (KEEP, PSEUDONYMISE, DROP)
MIN_KEY_BYTES: Final = 16
_CACHE_MAX: Final = 65536


@define(slots=True)
class Privacy:
    """The policy for undecoded adverts, by address class, and the pseudonym key."""

    random: str = PSEUDONYMISE
    public: str = KEEP
    key: bytes = b""
    _names: dict[tuple[str, int], str] = field(init=False, factory=dict, repr=False)

    def action(self, address_type: str | None) -> str:
        """``keep``, ``pseudonymise`` or ``drop`` for an undecoded advert."""
        return self.public if address_type == "public" else self.random

    def pseudonym(self, mac: str, day: int) -> str:
        """The pseudonym of ``mac`` on UTC day ``day`` (days since 1970-01-01)."""
        cache_key = (mac, day)
        name = self._names.get(cache_key)
        if name is None:
            digest = hmac.digest(self.key, f"{day}/{mac}".encode(), hashlib.sha256)
            name = (bytes(((digest[0] & 0x3F) | 0x80,)) + digest[1:6]).hex(":").upper()
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            self._names[cache_key] = name
        return name

    @property
    def active(self) -> bool:
        """False when every undecoded advert is kept as received."""
        return self.random != KEEP or self.public != KEEP
