"""Device parsers and their registry."""

from __future__ import annotations
