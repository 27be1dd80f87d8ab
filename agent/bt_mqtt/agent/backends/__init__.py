"""Advertisement sources behind one interface (see ``base``).

``make_backend`` imports the chosen module only: the agent never imports bleak (or dbus-fast)
unless the configuration asks for a backend that needs it.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bt_mqtt.agent.backends.base import Backend
    from bt_mqtt.agent.config import BluetoothConfig

log = logging.getLogger(__name__)


def make_backend(cfg: BluetoothConfig) -> Backend:
    """The backend ``cfg.backend`` names, configured from ``cfg``."""
    if cfg.backend == "replay":
        from bt_mqtt.agent.backends.replay import ReplayBackend  # noqa: PLC0415

        if cfg.replay.file is None:  # also rejected by config.check_semantics
            raise ValueError("bluetooth.replay.file is required for the replay backend")
        return ReplayBackend(file=cfg.replay.file, speed=cfg.replay.speed, loop=cfg.replay.loop)
    if cfg.backend == "bluez":
        mod = importlib.import_module("bt_mqtt.agent.backends.bluez")
        backend: Backend = mod.BluezBackend(
            adapter=cfg.adapter, mode=cfg.mode, prune_after_s=cfg.prune_after_s
        )
        return backend
    if cfg.backend == "bleak":
        mod = importlib.import_module("bt_mqtt.agent.backends.bleak_backend")
        bleak_backend: Backend = mod.BleakBackend(adapter=cfg.adapter, mode=cfg.mode)
        return bleak_backend
    raise ValueError(f"bluetooth.backend: unknown backend {cfg.backend!r}")
