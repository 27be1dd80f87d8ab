"""Distance from a beacon's calibrated power and the received RSSI (log-distance path loss).

Model: ``rssi = P1m - 10 * n * log10(d)``, so ``d = 10 ** ((P1m - rssi) / (10 * n))`` with the
free-space exponent ``n = 2``.  ``P1m`` is the power the beacon says a receiver measures at 1 m
(iBeacon "measured power", AltBeacon "reference RSSI"); Eddystone advertises the power at 0 m,
which is 41 dB above the 1 m figure, so callers pass ``tx_0m - 41``.  The result is rounded to
centimetres; None when either figure is missing (0) or the RSSI is not a plausible dBm value.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PATH_LOSS_EXPONENT = 2.0
EDDYSTONE_0M_TO_1M_DB = 41
_DIVISOR = 10.0 * PATH_LOSS_EXPONENT


def distance_m(power_1m_dbm: int, rssi_dbm: int | None) -> float | None:
    """Estimated distance in metres, or None if it cannot be estimated."""
    if not power_1m_dbm or not rssi_dbm or rssi_dbm > 20 or rssi_dbm < -127:
        return None
    dist: float = 10.0 ** ((power_1m_dbm - rssi_dbm) / _DIVISOR)
    return round(dist, 2)


def format_uuid(raw: bytes) -> str:
    """16 bytes as the canonical lower-case 8-4-4-4-12 UUID text (cheaper than ``uuid.UUID``)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
