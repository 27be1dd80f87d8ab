"""MiBeacon lock objects: fingerprint (0x0006), door (0x0007), armed (0x0008), lock (0x000B)
and the lock attribute (0x100E).

States are 0/1 readings: ``lock`` (1 = unlocked, as the lock reports "open"), ``childlock``,
``antilock``, ``door`` (1 = open), ``door_left_open``, ``pry_the_door``, ``knock_on_the_door``,
``door_stuck``, ``fingerprint`` (1 = match), ``armed``.  What happened is an event:
``{"type": "lock", "key": "lock", "event": "unlock_outside_the_door"}``; the fingerprint result,
door action and lock errors likewise.  Text facts: ``lock_method``, ``lock_type``, ``key_id``
(who: ``administrator``, ``Fingerprint key id 2``...), ``key_index`` (the number), ``lock_error``.
"""

from __future__ import annotations

import logging
from typing import Final

from bt_mqtt.parsers.api import ParseError, ParseResult

log = logging.getLogger(__name__)

# action nibble -> (lock state: 1 = unlocked, which lock, what happened)
LOCK_ACTIONS: Final[dict[int, tuple[int, str, str]]] = {
    0x0: (1, "lock", "unlock_outside_the_door"),
    0x1: (0, "lock", "lock"),
    0x2: (0, "antilock", "turn_on_antilock"),
    0x3: (1, "antilock", "turn_off_antilock"),
    0x4: (1, "lock", "unlock_inside_the_door"),
    0x5: (0, "lock", "lock_inside_the_door"),
    0x6: (0, "childlock", "turn_on_child_lock"),
    0x7: (1, "childlock", "turn_off_child_lock"),
    0x8: (0, "lock", "lock_outside_the_door"),
    0xF: (1, "lock", "abnormal"),
}
LOCK_METHODS: Final[dict[int, str]] = {
    0x0: "bluetooth",
    0x1: "password",
    0x2: "biometrics",
    0x3: "key",
    0x4: "turntable",
    0x5: "nfc",
    0x6: "one_time_password",
    0x7: "two_step_verification",
    0x8: "coercion",
    0x9: "homekit",
    0xA: "manual",
    0xB: "automatic",
    0xF: "abnormal",
}
_ERROR_NAMES: Final = (
    "frequent unlocking with incorrect password",
    "frequent unlocking with wrong fingerprints",
    "operation timeout (password input timeout)",
    "lock picking",
    "reset button is pressed",
    "the wrong key is frequently unlocked",
    "foreign body in the keyhole",
    "the key has not been taken out",
    "error NFC frequently unlocks",
    "timeout is not locked as required",
    "failure to unlock frequently in multiple ways",
    "unlocking the face frequently fails",
    "failure to unlock the vein frequently",
    "hijacking alarm",
    "unlock inside the door after arming",
    "palmprints frequently fail to unlock",
    "the safe was moved",
)
_DEVICE_ERRORS: Final = (
    "the battery level is less than 10%",
    "the battery level is less than 5%",
    "the fingerprint sensor is abnormal",
    "the accessory battery is low",
    "mechanical failure",
    "the lock sensor is faulty",
)
LOCK_ERRORS: Final[dict[int, str]] = {0xC0DE0000 + i: t for i, t in enumerate(_ERROR_NAMES)}
LOCK_ERRORS.update({0xC0DE1000 + i: t for i, t in enumerate(_DEVICE_ERRORS)})
_KEY_KINDS: Final = (
    "Fingerprint",
    "Password",
    "Keys",
    "NFC",
    "Two-step verification",
    "Human face",
    "Finger veins",
    "Palm print",
)
_SPECIAL_KEYS: Final = {0: "administrator", 0xFFFFFFFF: "unknown operator"}
_SPECIAL_KEYS[0xDEADBEEF] = "invalid operator"
_FINGERPRINT: Final = (
    "match_successful",
    "match_failed",
    "timeout",
    "low_quality_too_light_fuzzy",
    "insufficient_area",
    "skin_is_too_dry",
    "skin_is_too_wet",
)
# door byte -> (door open?, the action, readings it sets besides ``door``)
_DOOR: Final[dict[int, tuple[int, str, dict[str, int]]]] = {
    0: (1, "open_the_door", {"door_stuck": 0, "knock_on_the_door": 0}),
    1: (0, "close_the_door", {"door_left_open": 0, "pry_the_door": 0}),
    2: (1, "timeout_not_closed", {"door_left_open": 1}),
    3: (0, "knock_on_the_door", {"knock_on_the_door": 1}),
    4: (1, "pry_the_door", {"pry_the_door": 1}),
    5: (0, "door_stuck", {"door_stuck": 1}),
}


def _need(value: bytes, n: int, what: str) -> None:
    if len(value) < n:
        raise ParseError(f"MiBeacon {what} object has {len(value)} bytes, needs {n}")


def key_description(key_id: int) -> str:
    """Who operated the lock, from the 32-bit key id (MiBeacon lock object layout)."""
    special = _SPECIAL_KEYS.get(key_id)
    if special is not None:
        return special
    if key_id <= 0x7FFFFFFF:
        return f"Bluetooth key {key_id}"
    kind = (key_id >> 16) - 0x8000
    if 1 <= kind <= len(_KEY_KINDS):
        return f"{_KEY_KINDS[kind - 1]} key id {key_id & 0xFFFF}"
    return f"key id {key_id & 0xFFFF}"


def _fingerprint(v: bytes, r: ParseResult, model: str) -> None:
    """0x0006: key id (u32) and match result (u8)."""
    _need(v, 5, "fingerprint")
    key_id = int.from_bytes(v[:4], "little")
    match = v[4]
    r.readings["fingerprint"] = 1 if match == 0 else 0
    special = _SPECIAL_KEYS.get(key_id)
    r.facts["key_id"] = special if special is not None else str(key_id)
    r.facts["key_index"] = key_id
    if match < len(_FINGERPRINT):
        r.add_event("fingerprint", _FINGERPRINT[match], key="fingerprint")


def _door(v: bytes, r: ParseResult, model: str) -> None:
    """0x0007: door action (u8), then a timestamp (u32) on most locks."""
    _need(v, 1, "door")
    entry = _DOOR.get(v[0])
    if entry is None:
        r.facts["door_action_code"] = v[0]
        return
    is_open, action, others = entry
    r.readings["door"] = is_open
    r.readings.update(others)
    r.add_event("door", action, key="door")
    if len(v) >= 5:
        r.facts["timestamp_s"] = int.from_bytes(v[1:5], "little")


def _armed(v: bytes, r: ParseResult, model: str) -> None:
    """0x0008: 0 armed, 1 disarmed (then an optional timestamp)."""
    _need(v, 1, "armed")
    armed = v[0] ^ 1 if v[0] in (0, 1) else 0
    r.readings["armed"] = armed
    if len(v) >= 5:
        r.facts["timestamp_s"] = int.from_bytes(v[1:5], "little")
    if model == "DSL-C08":  # lifting the outside handle locks this lock and sends 0x0008
        r.readings["lock"] = armed
        r.facts["lock_method"] = "manual"
        r.add_event("lock", "lock_outside_the_door", key="lock")


def _lock(v: bytes, r: ParseResult, model: str) -> None:
    """0x000B: action (low nibble) and method (high nibble), key id (u32), time (u32)."""
    _need(v, 9, "lock")
    action = LOCK_ACTIONS.get(v[0] & 0x0F)
    method = LOCK_METHODS.get(v[0] >> 4)
    if action is None or method is None:
        r.facts["lock_code"] = v[0]
        return
    key_id = int.from_bytes(v[1:5], "little")
    error = LOCK_ERRORS.get(key_id)
    state, which, what = action
    lock_type = which if model == "ZNMS17LM" else "lock"
    if model == "DSL-C08" and method == "password" and 5000 <= key_id < 6000:
        method = "one_time_password"
    r.readings[lock_type] = state
    r.facts["lock_type"] = lock_type
    r.facts["lock_method"] = method
    r.facts["timestamp_s"] = int.from_bytes(v[5:9], "little")
    r.add_event("lock", what, key="lock")
    if error is not None:
        r.facts["lock_error"] = error
        r.facts["key_id"] = "error"
        r.facts["key_index"] = key_id
        r.add_event("error", error, key="error")
        return
    r.facts["key_id"] = key_description(key_id)
    r.facts["key_index"] = key_id & 0xFFFF if v[0] >> 4 else key_id


def _lock_attribute(v: bytes, r: ParseResult, model: str) -> None:
    """0x100E: bit 0 bolt out (locked), bit 3 child lock on (decoded for DSL-C08)."""
    _need(v, 1, "lock attribute")
    if model == "DSL-C08":
        r.readings["lock"] = (v[0] & 1) ^ 1
        r.readings["childlock"] = ((v[0] >> 3) & 1) ^ 1
    else:
        r.facts["lock_attribute"] = v[0]


LOCK_OBJECTS: Final = {
    0x0006: _fingerprint,
    0x0007: _door,
    0x0008: _armed,
    0x000B: _lock,
    0x100E: _lock_attribute,
}
