"""Loading the test vectors (``tests/vectors/*.jsonl``) as ``Vector`` objects.

``load_vectors`` reads every line (amended by ``vector_rules.amend``) into a ``Vector`` with
an ``Advert`` built from its fields (or, lacking them, its raw AD structures); ``groups``
bundles ``sequence`` vectors (one test feeding several packets to one parser instance) in
order.  ``BT_MQTT_VECTORS`` overrides the directory.  Comparing is in ``vectors.py``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attrs import define

from bt_mqtt.core.advert import Advert
from tests.parsers import vector_rules as rules
from tests.parsers.vector_names import WRONG_KEY_TESTS

ENV_VAR = "BT_MQTT_VECTORS"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAC = "00:00:00:00:00:00"
_MAC_RE = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")


def vectors_dir() -> Path:
    """``$BT_MQTT_VECTORS`` or the repository's own copy, ``tests/vectors``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else REPO_ROOT / "tests" / "vectors"


@define(slots=True)
class Vector:
    """One line of a vectors file."""

    file: str
    line: int
    format: str
    source: str
    advert: Advert
    expected: dict[str, Any]
    complete: bool
    bindkey: bytes | None
    sequence: tuple[int, int] | None
    raw: dict[str, Any]

    @property
    def ident(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def wrong_key(self) -> bool:
        """A ``*bindkey_wrong*`` test (or one listed in ``WRONG_KEY_TESTS``): must fail."""
        if "bindkey_wrong" in self.source:
            return True
        return any(self.source.startswith(prefix) for prefix in WRONG_KEY_TESTS)

    @property
    def negative(self) -> bool:
        return self.format == "negative"


def _ad_structures(raw_hex: str) -> tuple[dict[int, bytes], dict[str, bytes], str | None]:
    """Manufacturer data, service data and name from raw AD structures (best effort)."""
    data = bytes.fromhex(raw_hex)
    mfr: dict[int, bytes] = {}
    svc: dict[str, bytes] = {}
    name = None
    i = 0
    while i < len(data):
        ln = data[i]
        if ln == 0 or i + 1 + ln > len(data):
            break
        kind, body = data[i + 1], data[i + 2 : i + 1 + ln]
        if kind == 0xFF and len(body) >= 2:
            mfr[int.from_bytes(body[:2], "little")] = body[2:]
        elif kind == 0x16 and len(body) >= 2:
            svc[f"{int.from_bytes(body[:2], 'little'):08x}-0000-1000-8000-00805f9b34fb"] = body[2:]
        elif kind in (0x08, 0x09):
            name = body.decode("utf-8", "replace")
        i += 1 + ln
    return mfr, svc, name


def _advert(obj: dict[str, Any]) -> Advert:
    mac = str(obj.get("mac") or DEFAULT_MAC).upper()
    if not _MAC_RE.fullmatch(mac):
        mac = DEFAULT_MAC
    mfr: dict[int, bytes] = {}
    for k, v in (obj.get("manufacturer_data") or {}).items():
        # Several AD structures with one company id: an Advert holds one, the last (as BlueZ).
        mfr[int(k)] = bytes.fromhex(v[-1] if isinstance(v, list) else v)
    svc = {k.lower(): bytes.fromhex(v) for k, v in (obj.get("service_data") or {}).items()}
    name = obj.get("name")
    if not mfr and not svc and obj.get("raw_advertisement_hex"):
        mfr, svc, raw_name = _ad_structures(obj["raw_advertisement_hex"])
        name = name or raw_name
    return Advert(
        mac=mac,
        rssi=int(obj.get("rssi") or 0),
        name=name,
        manufacturer_data=mfr,
        service_data=svc,
        service_uuids=list(obj.get("service_uuids") or []),
    )


def load_vectors(directory: Path | None = None) -> list[Vector]:
    """Every vector of every ``*.jsonl`` file, in file and line order."""
    directory = directory or vectors_dir()
    out: list[Vector] = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for lineno, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                obj = rules.amend(json.loads(text))
                seq = obj.get("sequence")
                key = obj.get("bindkey")
                out.append(
                    Vector(
                        file=path.name,
                        line=lineno,
                        format=obj["format"],
                        source=obj.get("source", ""),
                        advert=_advert(obj),
                        expected=obj.get("expected") or {},
                        complete=bool(obj.get("expected_complete")),
                        bindkey=bytes.fromhex(key) if key else None,
                        sequence=(seq["index"], seq["of"]) if seq else None,
                        raw=obj,
                    )
                )
    return out


def groups(vectors: Iterable[Vector]) -> list[list[Vector]]:
    """Singletons, and each ``sequence`` (same file and source) ordered by index."""
    out: list[list[Vector]] = []
    seqs: dict[tuple[str, str], list[Vector]] = {}
    for v in vectors:
        if v.sequence is None:
            out.append([v])
        else:
            key = (v.file, v.source)
            if key not in seqs:
                seqs[key] = []
                out.append(seqs[key])
            seqs[key].append(v)
    for g in seqs.values():
        g.sort(key=lambda v: v.sequence[0] if v.sequence else 0)
    return out
