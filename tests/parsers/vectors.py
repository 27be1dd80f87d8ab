"""Checking the test vectors against a ``Registry`` (loading is ``vector_load.py``).

``check_group`` runs a group of vectors (see ``vector_load.groups``) through a ``Registry``
with a fresh ``ParseContext`` and compares every published value by the rules of the vectors'
README (see ``compare``); ``check_all`` does that for every vector.

The mapping of the sources' field names to our metric names lives in ``ALIASES``/``_map_key``
(``vector_names.py``); keys that are not payload data are listed in ``NOT_PAYLOAD`` so that
nothing is skipped silently: every vector yields a ``Check`` with a reason for each mismatch.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import define, field

from bt_mqtt.core.advert import Advert
from bt_mqtt.parsers.api import ParseContext, ParseResult
from bt_mqtt.parsers.registry import Outcome, Registry
from tests.parsers import vector_rules as rules
from tests.parsers.vector_load import Vector, groups, load_vectors
from tests.parsers.vector_names import (
    CONTEXT_SETUP,
    DERIVED,
    EVENT_ACTION_KEYS,
    EVENT_PROPERTIES,
    INCOMPLETE_INPUT,
    NOT_PAYLOAD,
    POLICIES,
    UNPUBLISHED,
    WRONG_KEY_TESTS,
    event_key_for,
    family_of,
    format_alias,
    map_key,
    norm_action,
    norm_event,
)


@define(slots=True)
class Check:
    """The verdict on one vector."""

    vector: Vector
    parser: str | None
    ok: bool
    compared: int = 0
    reasons: list[str] = field(factory=list)
    not_compared: list[str] = field(factory=list)
    untestable: str | None = None  # why the vector cannot be tested (vector_rules.INPUT_MISSING)

    @property
    def family(self) -> str:
        return family_of(self.vector.format)


def _num_equal(actual: Any, want: float, tol: float | None) -> bool:
    if isinstance(actual, bool):
        actual = int(actual)
    if not isinstance(actual, int | float):
        return False
    if tol is not None:
        return abs(actual - want) <= tol + 1e-9
    return math.isclose(actual, want, rel_tol=1e-9, abs_tol=1e-6)


def _lookup(result: ParseResult, key: str) -> Any:
    if key in result.readings:
        return result.readings[key]
    return result.facts.get(key)


def _event_pairs(result: ParseResult) -> list[tuple[str, str]]:
    return sorted(
        (str(ev.get("key", ev.get("type"))), norm_event(str(ev.get("event"))))
        for ev in result.facts.get("events", [])
    )


def _expected_events(value: Any) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else [value]
    pairs = []
    for i, ev in enumerate(items):
        kind = ev.get("key") or ev.get("device_type")
        if "key" not in ev and len(items) > 1:  # spec style: the position is the button index
            kind = f"{kind}_{i + 1}"
        etype = ev.get("event_type")
        if etype in (None, "None"):
            continue
        pairs.append((str(kind), norm_event(str(etype))))
    return sorted(pairs)


def compare(vector: Vector, outcome: Outcome) -> Check:
    """Compare one outcome with the vector's published values (README rules)."""
    chk = Check(vector, outcome.parser, ok=True)
    result = outcome.result
    if vector.negative:
        if result is not None:
            chk.ok = False
            chk.reasons.append(f"negative vector decoded by {outcome.parser}")
        return chk
    if vector.wrong_key:
        if not outcome.decrypt_failed or (result is not None and result.readings):
            chk.ok = False
            chk.reasons.append("wrong bind key was not reported as a decryption failure")
        for prefix, note in WRONG_KEY_TESTS.items():
            if vector.source.startswith(prefix):
                chk.not_compared.append(f"all values: a wrong-key test ({note})")
        chk.compared = 1
        return chk
    missing = rules.input_missing(vector)
    if missing is not None:
        chk.ok = False
        chk.untestable = missing
        chk.reasons.append(f"untestable: {missing}")
        return chk
    if result is None and rules.expects_nothing(vector):
        return chk  # nothing published, nothing reported (declined or a counted parse error)
    if result is None:
        chk.ok = False
        chk.reasons.append(outcome.error or "no parser claimed the advertisement")
        rules.explain(chk)
        return chk
    expected_metrics: set[str] = set()
    exp = vector.expected
    absent = _absent_keys(vector)
    for key, want in exp.items():
        if key in NOT_PAYLOAD or rules.skipped(key):
            continue
        why = (
            DERIVED.get((vector.format, key)) or absent.get(key) or rules.not_compared(vector, key)
        )
        if why is not None:
            chk.not_compared.append(f"{key}: {why}")
            continue
        chk.compared += 1
        reason = _compare_one(vector, result, key, want, exp, expected_metrics)
        if reason:
            chk.ok = False
            chk.reasons.append(reason)
    if vector.complete:
        extra = sorted(set(result.readings) - expected_metrics - _unpublished(vector, result, chk))
        if extra:
            chk.ok = False
            chk.reasons.append(f"readings the complete expectation lacks: {', '.join(extra)}")
    rules.explain(chk)
    return chk


def _absent_keys(vector: Vector) -> dict[str, str]:
    """Expected keys whose values come from adverts the vector does not carry, with why."""
    out: dict[str, str] = {}
    for pattern, keys, why in INCOMPLETE_INPUT:
        if pattern.search(vector.source):
            out.update(dict.fromkeys(keys, why))
    return out


def _unpublished(vector: Vector, result: ParseResult, chk: Check) -> set[str]:
    """Readings the source leaves out of a complete expectation by policy (noted in ``chk``)."""
    model = str(result.facts.get("model", ""))
    out: set[str] = set()
    for source, model_re, keys, why in UNPUBLISHED:
        if source.search(vector.source) and model_re.search(model):
            hit = keys & set(result.readings)
            if hit:
                out |= hit
                chk.not_compared.append(f"{', '.join(sorted(hit))}: {why}")
    return out


def _event_props_ok(result: ParseResult, want: Any) -> str | None:
    """Each expected event's ``event_properties`` against the extras of our matching event."""
    items = want if isinstance(want, list) else [want]
    ours = result.facts.get("events", [])
    for ev in items:
        props = ev.get("event_properties") if isinstance(ev, dict) else None
        if not props:
            continue
        match = [o for o in ours if o.get("key", o.get("type")) == ev.get("key")]
        for name, value in props.items():
            mine = EVENT_PROPERTIES.get(name, name)
            if not any(o.get(mine) == value for o in match):
                return f"event property {name}: want {value}, got {[o.get(mine) for o in match]}"
    return None


def _compare_one(
    vector: Vector,
    result: ParseResult,
    key: str,
    want: Any,
    exp: dict[str, Any],
    seen: set[str],
) -> str | None:
    key, want, reason, done = rules.pre_compare(vector, result, key, want)
    if done:
        return reason
    if key in ("events", "event"):
        got = _event_pairs(result)
        wanted = _expected_events(want)
        if got != wanted:
            return f"events: want {wanted}, got {got}"
        return _event_props_ok(result, want)
    xiaomi = vector.format.startswith("xiaomi_mibeacon")
    if xiaomi and key in EVENT_ACTION_KEYS and isinstance(want, str):
        actions = [norm_action(a) for _, a in _event_pairs(result)]
        return None if norm_action(want) in actions else f"{key}: want {want!r}, got {actions}"
    ev_key = event_key_for(key, want) if xiaomi else None
    if ev_key is not None:
        keys = [k for k, _ in _event_pairs(result)]
        return None if ev_key in keys else f"{key}={want!r}: want an event {ev_key}, got {keys}"
    if key == "local_name":  # the advert's own name, delivered beside the readings
        have = vector.advert.name or ""
        return None if have == want else f"local_name: want {want!r}, advert has {have!r}"
    if key in ("button", "dimmer") and isinstance(want, str):  # ble_monitor's event keys
        pairs = _event_pairs(result)
        if (key, norm_event(want)) not in pairs:
            return f"{key} event: want {want!r}, got {pairs}"
        return None
    if key == "steps" and "dimmer" in exp:
        steps = [
            ev.get("steps", ev.get("presses", ev.get("duration_s")))
            for ev in result.facts.get("events", [])
        ]
        return None if want in steps else f"steps: want {want}, got {steps}"
    if key == "mac":
        got_mac = result.facts.get("mac") or vector.advert.mac
        same = str(got_mac).replace(":", "").upper() == str(want).replace(":", "").upper()
        return None if same else f"mac: want {want}, got {got_mac}"
    if key == "decrypted_payload_hex":
        seen.update(result.readings)
        return _compare_plaintext(vector, result, want)
    if want == "no packet id":  # ble_monitor's way of saying the payload carries none
        want = None
    if key == "timestamp" and isinstance(want, str):
        want = datetime.fromisoformat(want).timestamp()
        key = "timestamp_s"
    ours, scale = (
        format_alias(vector.format, key, want) or rules.alias(vector, key) or map_key(key, want)
    )
    seen.add(ours)
    got = _lookup(result, ours)
    for source, pkey, _why, policy in POLICIES:
        if pkey == ours and source.search(vector.source):
            got = policy(got)
    if want is None:
        return None if got is None else f"{key}: want not available, got {ours}={got!r}"
    if got is None:
        return f"{key}: want {want!r}, {ours} missing"
    if isinstance(want, dict) and "approx" in want:
        ok = _num_equal(got, want["approx"] * scale, want.get("abs", 0) * scale)
        return None if ok else f"{key}: want {want['approx']}±{want.get('abs')}, got {got!r}"
    if isinstance(want, bool):
        return None if got in (want, int(want)) else f"{key}: want {want}, got {got!r}"
    if isinstance(want, int | float):
        ok = _num_equal(got, want * scale, rules.rounding_tol(want, scale))
        return None if ok else f"{key}: want {want} (x{scale:g}), got {ours}={got!r}"
    if isinstance(want, str):
        ok = norm_event(want) == norm_event(str(got))
        return None if ok else f"{key}: want {want!r}, got {got!r}"
    return None if got == want else f"{key}: want {want!r}, got {got!r}"


def _compare_plaintext(vector: Vector, result: ParseResult, plain_hex: str) -> str | None:
    """The spec walk-through publishes the plaintext: decode it unencrypted and compare."""
    reg = Registry.default(plugins=False)
    uuid = next(iter(vector.advert.service_data))
    plain = Advert(
        mac=vector.advert.mac,
        rssi=0,
        service_data={uuid: bytes([0x40]) + bytes.fromhex(plain_hex)},
    )
    ref = reg.parse(plain, ParseContext())
    if ref is None or ref.readings != result.readings:
        return f"decrypted readings {result.readings} differ from plaintext {plain_hex}"
    return None


def check_group(registry: Registry, group: list[Vector]) -> list[Check]:
    """Feed a group to the registry with one fresh context; one ``Check`` per vector."""
    ctx = ParseContext()
    out = []
    for vector in group:
        if vector.bindkey is not None:
            ctx.bindkeys[vector.advert.mac] = vector.bindkey
        for pattern, setup in [*CONTEXT_SETUP, *rules.CONTEXT_SETUP]:
            if pattern.search(vector.source):
                setup(ctx, vector.advert.mac, vector.raw)
        out.append(compare(vector, registry.decode(vector.advert, ctx)))
    return out


def check_all(registry: Registry | None = None, directory: Path | None = None) -> list[Check]:
    """Every vector checked against ``registry`` (default: the built-in parsers)."""
    registry = registry or Registry.default(plugins=False)
    checks: list[Check] = []
    for group in groups(load_vectors(directory)):
        checks.extend(check_group(registry, group))
    return checks
