"""The ``homeassistant:`` section of the subscriber's configuration."""

from __future__ import annotations

import re
from typing import Final

from attrs import define, field

from bt_mqtt.core.configfields import at_least, matches, one_of

PARSED: Final = "parsed"
LISTED: Final = "listed"
PREFIX_RE: Final = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
CLIENT_ID_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@define(frozen=True)
class HomeAssistantConfig:
    """HA MQTT discovery (off by default).

    ``devices``: ``parsed`` offers every device a parser decodes (never private random
    addresses, such as phones'), ``listed`` only those under ``devices:``; a device's own
    ``homeassistant``/``ignore`` keys override both.  A sensor's state is written when its value
    changes, at most every ``min_interval_s`` (binary sensors at once), and refreshed while
    the device is heard; HA shows it unavailable after ``expire_after``, which is
    ``expire_factor`` x the longest gap between the device's recent adverts, clamped to
    ``expire_min_s`` .. ``expire_max_s`` (``expire_initial_s`` until a few gaps are seen).
    """

    discovery: bool = False
    prefix: str = field(default="homeassistant", validator=matches(PREFIX_RE, "a topic prefix"))
    devices: str = field(default=PARSED, validator=one_of((PARSED, LISTED)))
    client_id: str = field(
        default="bt-mqtt-hass", validator=matches(CLIENT_ID_RE, "a valid client id")
    )
    min_interval_s: float = field(default=30.0, validator=at_least(0.0))
    expire_factor: float = field(default=3.0, validator=at_least(1.5))
    expire_min_s: int = field(default=600, validator=at_least(60))
    expire_max_s: int = field(default=86400, validator=at_least(60))
    expire_initial_s: int = field(default=1800, validator=at_least(60))
    birth_delay_s: float = field(default=2.0, validator=at_least(0.0))


def check(cfg: HomeAssistantConfig) -> list[str]:
    problems = []
    if cfg.expire_min_s > cfg.expire_max_s:
        problems.append("homeassistant.expire_min_s: must not exceed homeassistant.expire_max_s")
    if not cfg.expire_min_s <= cfg.expire_initial_s <= cfg.expire_max_s:
        problems.append(
            "homeassistant.expire_initial_s: must lie within expire_min_s .. expire_max_s"
        )
    return problems
