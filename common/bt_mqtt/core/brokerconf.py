"""The Mosquitto settings BT-MQTT recommends, in one place (the contract's ``broker``).

Every broker the project writes or starts uses them: the demo and the test fixtures
(``bt_mqtt.demo.services.Mosquitto``), the example ``deploy/mosquitto/bt-mqtt.conf``, and the
Nix side through ``nix/contract.json`` ``broker`` (the NixOS module, the dev shell); docs/
operations.md quotes them.  ``tests/core/test_brokerconf.py`` checks that they all agree.

- ``persistence true``: queued sessions survive a broker restart.
- ``max_queued_messages 0``: no cap on the subscriber's queue (Mosquitto's default, 1,000,
  drops the 1,001st message while the subscriber is away).
- ``autosave_interval 60``, ``autosave_on_changes false``: the in-memory state is written every
  60 s, so a broker that crashes (SIGKILL, power loss) loses at most the last minute of what it
  had acknowledged (Mosquitto's default is 1,800 s).  The subscriber's seq ledger counts such a
  loss as ``missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

RECOMMENDED: Final[Mapping[str, bool | int]] = {
    "persistence": True,
    "max_queued_messages": 0,
    "autosave_interval": 60,
    "autosave_on_changes": False,
}


def conf_value(value: bool | int) -> str:
    """A setting's value as mosquitto.conf writes it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def conf_lines(settings: Mapping[str, bool | int] = RECOMMENDED) -> str:
    """``key value`` lines for mosquitto.conf, each ending in a newline."""
    return "".join(f"{key} {conf_value(value)}\n" for key, value in settings.items())
