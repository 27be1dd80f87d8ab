"""Shared pure code: the wire codec, configuration loading, logging set-up, versions."""

from __future__ import annotations
