"""The ``alerts`` section of the subscriber's configuration (see docs/configuration.md#alerts).

Every rule is on by default with the values documented there; a rule with ``enabled: false`` is
never evaluated.  Threshold rules are a list (none by default).  Durations are seconds.
"""

from __future__ import annotations

import re
import ssl
from typing import Final

from attrs import define, field

from bt_mqtt.core.configfields import at_least, matches, one_of

RULE_NAME_RE: Final = re.compile(r"[a-z0-9_]{1,64}")
BUILTIN_KINDS: Final = (
    "scanner_offline",
    "scanner_degraded",
    "scanner_clock_skew",
    "transit_loss",
    "sensor_silent",
    "battery_low",
    "battery_replaced",
)
DIRECTIONS: Final = ("above", "below")


@define(frozen=True)
class ScannerOfflineRule:
    """A scanner whose status is offline (last will, clean stop or missed heartbeats) for
    longer than ``after_s``."""

    enabled: bool = True
    after_s: float = field(default=300.0, validator=at_least(0.0))
    clear_s: float = field(default=120.0, validator=at_least(0.0))


@define(frozen=True)
class ScannerDegradedRule:
    """An online scanner hearing far less than its own baseline for this hour of the day.

    ``silent_after_s``: no advert at all for this long, when the baseline expects at least
    ``min_expected_adverts`` in that time.  ``ratio``: distinct devices (or adverts) in the last
    5 minutes below this fraction of the baseline for ``for_s``, when the baseline has at least
    ``min_devices`` devices (``min_expected_adverts`` adverts) per 5 minutes."""

    enabled: bool = True
    silent_after_s: float = field(default=75.0, validator=at_least(10.0))
    ratio: float = field(default=0.5, validator=at_least(0.0, exclusive=True))
    for_s: float = field(default=120.0, validator=at_least(0.0))
    min_devices: int = field(default=4, validator=at_least(1))
    min_expected_adverts: float = field(default=20.0, validator=at_least(1.0))
    clear_s: float = field(default=300.0, validator=at_least(0.0))


@define(frozen=True)
class ScannerClockSkewRule:
    """The scanner's latest adverts are clock-skewed (``ingest.clock_skew_s``) for ``for_s``."""

    enabled: bool = True
    for_s: float = field(default=60.0, validator=at_least(0.0))
    clear_s: float = field(default=300.0, validator=at_least(0.0))


@define(frozen=True)
class TransitLossRule:
    """More than ``max_ratio`` of the adverts a scanner published in the last ``window_s``
    never arrived (the seq ledger's account, see ``alertloss``), over at least
    ``min_published`` adverts, for ``for_s``."""

    enabled: bool = True
    max_ratio: float = field(default=0.10, validator=at_least(0.0, exclusive=True))
    window_s: float = field(default=600.0, validator=at_least(60.0))
    min_published: int = field(default=500, validator=at_least(1))
    for_s: float = field(default=300.0, validator=at_least(0.0))
    clear_s: float = field(default=300.0, validator=at_least(0.0))


@define(frozen=True)
class SensorSilentRule:
    """A decoded sensor not heard for ``max(factor x its advertising interval, min_s)``.

    The interval is what the best-placed scanner heard over the last ``lookback_s``; a device
    with fewer than ``min_adverts`` there is not watched (yet)."""

    enabled: bool = True
    factor: float = field(default=3.0, validator=at_least(1.0))
    min_s: float = field(default=300.0, validator=at_least(10.0))
    lookback_s: float = field(default=3600.0, validator=at_least(60.0))
    min_adverts: int = field(default=10, validator=at_least(2))
    clear_s: float = field(default=0.0, validator=at_least(0.0))


@define(frozen=True)
class BatteryRule:
    """``battery_pct`` below ``low_pct`` for ``for_s`` (resolved at ``low_pct + hysteresis``);
    a rise of at least ``replaced_jump_pct`` is a battery replaced (shown for
    ``replaced_hold_s``)."""

    enabled: bool = True
    low_pct: float = field(default=20.0, validator=at_least(0.0))
    hysteresis_pct: float = field(default=5.0, validator=at_least(0.0))
    for_s: float = field(default=600.0, validator=at_least(0.0))
    replaced_jump_pct: float = field(default=25.0, validator=at_least(1.0))
    replaced_hold_s: float = field(default=3600.0, validator=at_least(0.0))


@define(frozen=True)
class ThresholdRule:
    """A metric above/below ``value`` for ``for_s``; resolved once back past ``value`` by
    ``hysteresis`` (freezer warmer than -15 C for 10 minutes: ``metric: temperature_c,
    above: true, value: -15, for_s: 600``).  ``devices``: MACs (none: every device)."""

    name: str = field(validator=matches(RULE_NAME_RE, "a rule name ([a-z0-9_]{1,64})"))
    metric: str = field(validator=matches(re.compile(r"[a-z0-9_]{1,64}"), "a metric name"))
    value: float
    direction: str = field(default="above", validator=one_of(DIRECTIONS))
    hysteresis: float = field(default=0.0, validator=at_least(0.0))
    for_s: float = field(default=600.0, validator=at_least(0.0))
    devices: list[str] = field(factory=list)


@define(frozen=True)
class WebhookConfig:
    """Each alert transition is POSTed as JSON to ``url`` (http or https), retried up to
    ``attempts`` times with doubling delays from ``retry_s``.  ``ca_file``: PEM certificates
    trusted for an https URL instead of the system's (a self-signed server's certificate)."""

    url: str | None = None
    ca_file: str | None = None
    timeout_s: float = field(default=10.0, validator=at_least(0.1))
    attempts: int = field(default=6, validator=at_least(1))
    retry_s: float = field(default=2.0, validator=at_least(0.01))
    headers: dict[str, str] = field(factory=dict)


@define(frozen=True)
class AlertsConfig:
    """Alert rules, evaluation pace and delivery (MQTT retained topics always; a webhook)."""

    enabled: bool = True
    interval_s: float = field(default=10.0, validator=at_least(0.1))
    startup_grace_s: float = field(default=120.0, validator=at_least(0.0))
    mqtt_client_id: str | None = None
    scanner_offline: ScannerOfflineRule = field(factory=ScannerOfflineRule)
    scanner_degraded: ScannerDegradedRule = field(factory=ScannerDegradedRule)
    scanner_clock_skew: ScannerClockSkewRule = field(factory=ScannerClockSkewRule)
    transit_loss: TransitLossRule = field(factory=TransitLossRule)
    sensor_silent: SensorSilentRule = field(factory=SensorSilentRule)
    battery: BatteryRule = field(factory=BatteryRule)
    thresholds: list[ThresholdRule] = field(factory=list)
    webhook: WebhookConfig = field(factory=WebhookConfig)


def enabled_kinds(cfg: AlertsConfig) -> set[str]:
    """The alert kinds the configuration evaluates (built-in rules on, threshold names)."""
    rules = {
        "scanner_offline": cfg.scanner_offline.enabled,
        "scanner_degraded": cfg.scanner_degraded.enabled,
        "scanner_clock_skew": cfg.scanner_clock_skew.enabled,
        "transit_loss": cfg.transit_loss.enabled,
        "sensor_silent": cfg.sensor_silent.enabled,
        "battery_low": cfg.battery.enabled,
        "battery_replaced": cfg.battery.enabled,
    }
    return {k for k, on in rules.items() if on} | {t.name for t in cfg.thresholds}


def check_alerts(cfg: AlertsConfig) -> list[str]:
    """Problems the field validators cannot see, each naming its key."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, rule in enumerate(cfg.thresholds):
        key = f"alerts.thresholds[{i}].name"
        if rule.name in BUILTIN_KINDS:
            problems.append(f"{key}: {rule.name!r} is a built-in alert kind")
        if rule.name in seen:
            problems.append(f"{key}: {rule.name!r} appears twice")
        seen.add(rule.name)
        for j, mac in enumerate(rule.devices):
            if not re.fullmatch(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", mac):
                problems.append(f"alerts.thresholds[{i}].devices[{j}]: {mac!r} is not a MAC")
    url = cfg.webhook.url
    if url is not None and not url.startswith(("http://", "https://")):
        problems.append(f"alerts.webhook.url: {url!r} is not an http:// or https:// URL")
    if cfg.webhook.ca_file is not None:
        try:
            webhook_tls(cfg.webhook)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            problems.append(f"alerts.webhook.ca_file: cannot use {cfg.webhook.ca_file!r}: {reason}")
    return problems


def webhook_tls(w: WebhookConfig) -> ssl.SSLContext:
    """The TLS context of an https webhook: the system's CAs, or ``ca_file``'s (raises
    ``OSError`` or ``ssl.SSLError`` when that file cannot be read or holds no certificate)."""
    return ssl.create_default_context(cafile=w.ca_file)
