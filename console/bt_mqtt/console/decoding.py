"""The console decodes with the subscriber's parser registry (same parsers, same bind keys, same
per-device parser hints)."""

from __future__ import annotations

import logging

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.devicesettings import Devices, apply_hints

log = logging.getLogger(__name__)


class RegistryDecoder:
    """A ``state.Decoder`` over ``Registry.default()`` with one persistent ``ParseContext``."""

    def __init__(
        self,
        bindkeys: dict[str, bytes] | None = None,
        *,
        plugins: bool = True,
        theengs: bool = False,
        devices: Devices | None = None,
    ) -> None:
        self.registry = Registry.default(plugins=plugins, theengs=theengs)
        self.ctx = apply_hints(ParseContext(bindkeys=dict(bindkeys or {})), devices or Devices())

    def __call__(self, advert: Advert) -> ParseResult | None:
        return self.registry.parse(advert, self.ctx)

    def errors(self) -> dict[str, int]:
        """Parse errors plus decryption failures per parser, as counted by the registry."""
        stats = self.registry.stats
        out = dict(stats.errors)
        for name, n in stats.decrypt_failures.items():
            out[name] = out.get(name, 0) + n
        return out
