"""The operator console: a Textual app for live adverts, scanner health and parser hits."""

from __future__ import annotations
