"""``bt-mqtt decode``: wire-format advertisements on stdin, one decoded JSON object per line out.

Each input line is a JSON object: a full v1 message or just its advertisement fields.  Each
output line is ``{"mac": ..., "parser": <name or null>, "readings": {...}}``, plus ``"error"``
when the line could not be read or the claiming parser failed, and ``"facts"`` with
``--facts``.  Whatever a line holds (invalid UTF-8 or JSON, nesting too deep, values of any type,
lines longer than ``MAX_LINE_BYTES``), it gets exactly one output line and the run goes on; JSON
output is always valid JSON (a non-finite reading is written as null).  ``--format text`` prints
one human-readable line instead, with control characters escaped (``bt_mqtt.core.safetext``):
nothing from the input reaches the terminal as an escape sequence.
``--theengs`` asks the optional TheengsDecoder (GPL-3.0 extra) for advertisements no parser
claims.  Exit status: 0, or 2 for bad usage (unknown option, unreadable or malformed bind-key
file, ``--theengs`` without TheengsDecoder installed).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import yaml

from bt_mqtt.core.cli import EXIT_OK, EXIT_USAGE
from bt_mqtt.core.safetext import escape
from bt_mqtt.core.wire import MAC_RE, WireError, advert_from_obj
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.theengs import TheengsUnavailable

log = logging.getLogger(__name__)

MAX_LINE_BYTES: Final = 1024 * 1024  # a v1 message is at most 16 KiB
_CHUNK: Final = 64 * 1024


class UsageError(ValueError):
    """A bad option value: reported on stderr with exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bt-mqtt decode``."""
    parser.add_argument(
        "--bindkey",
        action="append",
        default=[],
        metavar="MAC=HEX",
        help="AES key for an encrypted device (repeatable)",
    )
    parser.add_argument(
        "--bindkeys",
        type=Path,
        metavar="FILE",
        help='YAML/JSON mapping "MAC": "hex key" (or a subscriber config with parsers.bindkeys)',
    )
    parser.add_argument("--format", choices=("json", "text"), default="json")
    parser.add_argument("--facts", action="store_true", help="include device facts in JSON")
    parser.add_argument(
        "--no-plugins", action="store_true", help="only built-in parsers, no entry points"
    )
    parser.add_argument(
        "--theengs",
        action="store_true",
        help="ask TheengsDecoder (optional GPL-3.0 extra) when no parser claims an advert",
    )


def parse_key(mac: str, hexkey: Any, where: str) -> tuple[str, bytes]:
    """Validate one MAC/key pair; ``where`` names its origin for the error message."""
    norm = str(mac).strip().upper()
    if not MAC_RE.fullmatch(norm):
        raise UsageError(f"{where}: {mac!r} is not a MAC address (AA:BB:CC:DD:EE:FF)")
    try:
        key = bytes.fromhex(str(hexkey).strip())
    except ValueError:
        raise UsageError(f"{where}: key for {norm} is not hex: {hexkey!r}") from None
    if len(key) not in (12, 16):
        raise UsageError(f"{where}: key for {norm} has {len(key)} bytes, expected 12 or 16")
    return norm, key


def load_bindkeys(args: argparse.Namespace) -> dict[str, bytes]:
    """Bind keys from ``--bindkeys FILE`` then ``--bindkey`` options (later ones win)."""
    keys: dict[str, bytes] = {}
    if args.bindkeys is not None:
        try:
            doc = yaml.safe_load(args.bindkeys.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UsageError(f"--bindkeys {args.bindkeys}: {exc}") from None
        if isinstance(doc, dict) and isinstance(doc.get("parsers"), dict):
            doc = doc["parsers"].get("bindkeys") or {}
        if not isinstance(doc, dict):
            raise UsageError(f"--bindkeys {args.bindkeys}: expected a mapping of MAC to key")
        for mac, hexkey in doc.items():
            norm, key = parse_key(mac, hexkey, f"--bindkeys {args.bindkeys}")
            keys[norm] = key
    for item in args.bindkey:
        mac, sep, hexkey = item.partition("=")
        if not sep:
            raise UsageError(f"--bindkey {item!r}: expected MAC=HEX")
        norm, key = parse_key(mac, hexkey, "--bindkey")
        keys[norm] = key
    return keys


def _failed(error: str, mac: Any = None) -> dict[str, Any]:
    return {
        "mac": mac if isinstance(mac, str) else None,
        "parser": None,
        "readings": {},
        "error": error,
    }


def decode_line(line: str, registry: Registry, ctx: ParseContext) -> dict[str, Any]:
    """The output object for one input line (never raises)."""
    try:
        obj = json.loads(line)
    except RecursionError:
        return _failed("invalid JSON: nested too deeply")
    except ValueError as exc:
        return _failed(f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return _failed(f"not an object: {type(obj).__name__}")
    try:
        advert = advert_from_obj(obj)
    except WireError as exc:
        return _failed(str(exc), obj.get("mac"))
    except Exception as exc:  # what the wire reader did not foresee: still one line, go on
        return _failed(f"bad_value: {type(exc).__name__}: {exc}", obj.get("mac"))
    try:
        outcome = registry.decode(advert, ctx)
    except Exception as exc:  # the registry contains parser failures; this is a last resort
        return _failed(f"internal error: {type(exc).__name__}: {exc}", advert.mac)
    result = outcome.result
    out: dict[str, Any] = {
        "mac": advert.mac,
        "parser": outcome.parser,
        "readings": dict(result.readings) if result is not None else {},
    }
    if outcome.error is not None:
        out["error"] = outcome.error
    if result is not None and ctx.state.get("_decode_facts"):
        out["facts"] = result.facts
    return out


def _number(v: Any) -> str:
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def as_text(out: dict[str, Any]) -> str:
    """One human-readable line for an output object, control characters escaped."""
    mac = out.get("mac") or "?"
    parser = out.get("parser") or "-"
    parts = [f"{mac}  {parser:<10}"]
    parts.extend(f"{k}={_number(v)}" for k, v in sorted(out["readings"].items()))
    if "facts" in out:
        parts.extend(f"{k}={v}" for k, v in sorted(out["facts"].items(), key=repr))
    if "error" in out:
        parts.append(f"error: {out['error']}")
    elif parser == "-":
        parts.append("(no parser claims this advertisement)")
    return escape("  ".join(parts))


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def as_json(out: dict[str, Any]) -> str:
    """One JSON line for an output object (valid JSON whatever the object holds)."""
    try:
        return json.dumps(out, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # NaN or infinity in readings or facts
        return json.dumps(_finite(out), separators=(",", ":"), default=str, allow_nan=False)
    except Exception as exc:  # e.g. facts nested too deeply or keys of odd types
        failed = _failed(f"internal error: cannot write the result: {type(exc).__name__}")
        return json.dumps(failed, separators=(",", ":"))


def lines(src: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``src`` without their newline; None for a line over ``MAX_LINE_BYTES``
    (read and dropped in chunks, so memory stays bounded)."""
    while True:
        raw = src.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if raw.endswith(b"\n"):
            yield raw[:-1]
        elif len(raw) <= MAX_LINE_BYTES:
            yield raw  # the last line, without a newline
        else:
            while raw and not raw.endswith(b"\n"):
                raw = src.readline(_CHUNK)
            yield None


def stream(src: IO[bytes], dst: IO[str], registry: Registry, ctx: ParseContext, fmt: str) -> int:
    """Decode every line of ``src`` into ``dst``, one output line each; returns the count."""
    n = 0
    for raw in lines(src):
        n += 1
        if raw is None:
            out = _failed(f"line is longer than {MAX_LINE_BYTES} bytes")
        else:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                out = _failed(f"line is not UTF-8 at byte {exc.start}")
            else:
                out = decode_line(line, registry, ctx)
        dst.write((as_text(out) if fmt == "text" else as_json(out)) + "\n")
        dst.flush()
    return n


def run(args: argparse.Namespace) -> int:
    """Run ``bt-mqtt decode`` with parsed arguments."""
    try:
        keys = load_bindkeys(args)
    except UsageError as exc:
        sys.stderr.write(f"bt-mqtt decode: error: {exc}\n")
        return EXIT_USAGE
    try:
        registry = Registry.default(plugins=not args.no_plugins, theengs=args.theengs)
    except TheengsUnavailable as exc:  # its text names the install command
        sys.stderr.write(f"bt-mqtt decode: error: --theengs: {exc}\n")
        return EXIT_USAGE
    ctx = ParseContext(bindkeys=keys)
    if args.facts:
        ctx.state["_decode_facts"] = {"on": True}
    try:
        stream(sys.stdin.buffer, sys.stdout, registry, ctx, args.format)
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK
    return EXIT_OK
