"""What the parsers made of one advert, as stored in ``raw_advertisements.parse_status``.

``ok`` (decoded), ``no_key`` (an encrypted format and no bind key for the address),
``wrong_key`` (a bind key that does not open it), ``error`` (its format's parser failed), or
None (no parser claimed it).  The registry never raises and returns None for both "unknown" and
"failed"; its failure counters tell the two apart (``failures``/``status``), so the hot path of
a decoded advert costs one attribute read.
"""

from __future__ import annotations

from typing import Any, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext

OK: Final = "ok"
NO_KEY: Final = "no_key"
WRONG_KEY: Final = "wrong_key"
ERROR: Final = "error"
STATUSES: Final = (OK, NO_KEY, WRONG_KEY, ERROR)


def failures(registry: Any) -> int:
    """The registry's count of adverts that failed so far (0 when it keeps none)."""
    stats = getattr(registry, "stats", None)
    failed = getattr(stats, "failed", 0)
    return failed if isinstance(failed, int) else 0


def failed_parser(
    registry: Any, advert: Advert, ctx: ParseContext, before: int
) -> tuple[str, str] | None:
    """(parser, status) of an advert ``registry.parse`` just returned None for, when that was a
    failure (the failure count moved past ``before``); None when nobody claimed it."""
    if failures(registry) <= before:
        return None
    stats = registry.stats
    claims = getattr(registry, "claims", {})
    name = claims.get(advert.mac)
    last = stats.last_error.get(name) if isinstance(name, str) else None
    if not isinstance(name, str) or last is None:
        return "(unknown)", ERROR
    if last.kind != "decrypt":
        return name, ERROR
    return name, WRONG_KEY if advert.mac in ctx.bindkeys else NO_KEY
