"""Advertisement sources behind one interface (see ``base``)."""

from __future__ import annotations
