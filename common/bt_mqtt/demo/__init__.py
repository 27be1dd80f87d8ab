"""`bt-mqtt demo`: the whole pipeline on one machine, fed by simulated BlueZ adapters."""

from __future__ import annotations
