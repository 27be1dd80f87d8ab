"""MiBeacon event objects: buttons, remotes, the dimmer, the cube, motion and toothbrushes.

Every event is ``result.add_event(kind, event, key=...)``: ``kind`` is ``button``, ``dimmer``,
``cube``, ``motion``; ``event`` is ``press``, ``double_press``, ``long_press``,
``rotate_left``... and ``key`` names the button (``button``, ``button_left``, ``button_on``).
Dimmer events carry ``steps``, ``presses`` or ``duration_s``.  Which button a value means
depends on the model (``xiaomi_devices``).  Lock objects come from ``xiaomi_locks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from bt_mqtt.parsers.api import ParseError, ParseResult
from bt_mqtt.parsers.xiaomi_locks import LOCK_OBJECTS

log = logging.getLogger(__name__)

Handler = Callable[[bytes, ParseResult, str], None]

# 0x1001 press byte -> event, for remotes and most buttons ...
_PRESS: Final = {0: "press", 1: "double_press", 2: "long_press", 5: "press", 6: "long_press"}
# ... and for the K9B wall switches, which swap 1 and 2.
_SWITCH_PRESS: Final = {0: "press", 1: "long_press", 2: "double_press"}
# Remote buttons by the 0x1001 button byte.
_REMOTES: Final[dict[str, tuple[str, ...]]] = {
    "YLYK01YL": ("on", "off", "brightness", "plus", "M", "min"),
    "YLYK01YL-FANCL": (
        "fan",
        "light",
        "wind_speed",
        "color_temperature",
        "wind_mode",
        "brightness",
    ),
    "YLYK01YL-VENFAN": (
        "swing",
        "power",
        "timer_60_minutes",
        "increase_wind_speed",
        "timer_30_minutes",
        "decrease_wind_speed",
    ),
    "YLYB01YL-BHFRC": (
        "stop",
        "air_exchange",
        "fan",
        "increase_speed",
        "decrease_speed",
        "dry",
        "light",
        "swing",
        "heat",
    ),
}
# K9B wall switches: button byte -> the buttons pressed together.
_K9B: Final[dict[str, dict[int, tuple[str, ...]]]] = {
    "K9B-1BTN": {0: ("button",)},
    "K9B-2BTN": {0: ("left",), 1: ("right",), 2: ("left", "right")},
    "K9B-3BTN": {
        0: ("left",),
        1: ("middle",),
        2: ("right",),
        3: ("left", "middle"),
        4: ("middle", "right"),
        5: ("left", "right"),
        6: ("left", "middle", "right"),
    },
}
_PLAIN_BUTTON: Final = frozenset({"RTCGQ02LM", "YLAI003", "JTYJGD03MI", "SJWS01LM"})
QUAD: Final = {1: "left", 2: "mid_left", 3: "mid_right", 4: "right"}


def _need(value: bytes, n: int, what: str) -> None:
    if len(value) < n:
        raise ParseError(f"MiBeacon {what} object has {len(value)} bytes, needs {n}")


def _key(name: str) -> str:
    return "button" if name == "button" else f"button_{name}"


def _dimmer(r: ParseResult, button: int, value: int, press: int) -> None:
    """YLKG07YL/08YL: press (count), long press (seconds) or rotation (steps)."""
    if press == 3 and button == 0:
        r.add_event("dimmer", "press", key="dimmer", presses=value)
    elif press == 3 and button == 1:
        r.add_event("dimmer", "long_press", key="dimmer", duration_s=value)
    elif press == 4 and button == 0:
        if value <= 127:
            r.add_event("dimmer", "rotate_right", key="dimmer", steps=value)
        else:
            r.add_event("dimmer", "rotate_left", key="dimmer", steps=256 - value)
    elif press == 4:
        if button <= 127:
            r.add_event("dimmer", "rotate_right_pressed", key="dimmer", steps=button)
        else:
            r.add_event("dimmer", "rotate_left_pressed", key="dimmer", steps=256 - button)
    else:
        r.add_event("dimmer", _PRESS.get(press, f"type_{press}"), key="dimmer")


def _button_1001(v: bytes, r: ParseResult, model: str) -> None:
    """0x1001: button byte, value byte, press type byte; meaning by model."""
    _need(v, 3, "button")
    button, value, press = v[0], v[1], v[2]
    kind = _PRESS.get(press, f"type_{press}")
    if model in _PLAIN_BUTTON:
        r.add_event("button", kind, key="button")
    elif model == "XMMF01JQD":
        if button in (0, 1):
            r.add_event("cube", ("rotate_right", "rotate_left")[button], key="cube")
    elif model == "YLKG07YL/YLKG08YL":
        _dimmer(r, button, value, press)
    elif model in _REMOTES:
        names = _REMOTES[model]
        if button < len(names):
            r.add_event("button", kind, key=f"button_{names[button]}")
            if model == "YLYK01YL" and button < 2:
                r.readings["power"] = 1 - button
    elif model in _K9B:
        kind = _SWITCH_PRESS.get(press, f"type_{press}")
        for name in _K9B[model].get(button, ()):
            r.add_event("button", kind, key=_key(name))
    else:
        r.add_event("button", kind, index=button)


def _click(event: str) -> Handler:
    """0x4A0C-0x4A0E, 0x4E0C-0x4E0E, 0x560C-0x560E: a click; the value names the button."""

    def decode(v: bytes, r: ParseResult, model: str) -> None:
        code = v[0] if v else -1
        keys: tuple[str, ...] = ("button",)
        kind = event
        if model == "XMWS01XS":
            keys = {0: ("left",), 1: ("right",)}.get(code, ())
        elif model == "XMWXKG01YL":
            keys = {1: ("left",), 2: ("right",), 3: ("left", "right")}.get(code, ())
        elif model == "K9BB-1BTN" and event == "press":
            kind = {1: "press", 8: "long_press", 15: "double_press"}.get(code, "")
            keys = ("button",) if kind else ()
        elif model in ("KS1", "KS1BP", "PTX-F1-Display") and code >= 0:
            keys = (QUAD[code],) if code in QUAD else ()
        for name in keys:
            r.add_event("button", kind, key=_key(name))

    return decode


def _button_4a13(v: bytes, r: ParseResult, model: str) -> None:
    """0x4A13: 1 = the button was pressed."""
    if v and v[0] == 1:
        r.add_event("button", "press", key="button")


def _motion_event(v: bytes, r: ParseResult, model: str) -> None:
    """0x0003: motion seen (the device never sends a clear)."""
    r.readings["motion"] = 1
    r.add_event("motion", "motion_detected", key="motion")


def _bed(v: bytes, r: ParseResult, model: str) -> None:
    """0x5A16 (MJZNZ018H): 1 in bed, 2 out of bed, 3 double click."""
    _need(v, 1, "bed occupancy")
    if v[0] in (1, 2):
        r.readings["bed_occupancy"] = 2 - v[0]
    elif v[0] == 3:
        r.add_event("button", "double_press", key="button")


def bed_in_out(v: bytes, r: ParseResult, occupied: int) -> None:
    """0x4E16 / 0x4E17 on MJZNZ018H: 1 = went to bed / got up."""
    if v and v[0] == 1:
        r.readings["bed_occupancy"] = occupied


def _bed_out(v: bytes, r: ParseResult, model: str) -> None:
    bed_in_out(v, r, 0)


def _toothbrush(v: bytes, r: ParseResult, model: str) -> None:
    """0x0010: 0 brushing (then a counter), else stopped (then the score)."""
    _need(v, 1, "toothbrush")
    on = v[0] == 0
    r.readings["toothbrush"] = 1 if on else 0
    if len(v) > 1:
        r.readings["count" if on else "score"] = v[1]


def _brushing(v: bytes, r: ParseResult, model: str) -> None:
    """0x3003: 0 start / 1 end, a u32 time, and a score on the end frame."""
    _need(v, 5, "brushing")
    if v[0] in (0, 1):
        r.readings["toothbrush"] = 1 - v[0]
        r.facts["timestamp_s"] = int.from_bytes(v[1:5], "little")
    if len(v) >= 6:
        r.readings["score"] = v[5]


EVENT_OBJECTS: Final[dict[int, Handler]] = {
    0x0003: _motion_event,
    0x0010: _toothbrush,
    0x1001: _button_1001,
    0x3003: _brushing,
    0x4A0C: _click("press"),
    0x4A0D: _click("double_press"),
    0x4A0E: _click("long_press"),
    0x4A13: _button_4a13,
    0x4E0C: _click("press"),
    0x4E0D: _click("double_press"),
    0x4E0E: _click("long_press"),
    0x4E17: _bed_out,
    0x560C: _click("press"),
    0x560D: _click("double_press"),
    0x560E: _click("long_press"),
    0x5A16: _bed,
    **LOCK_OBJECTS,
}
# Click objects that some switches send with no value.
EVENTS_EMPTY_OK: Final = frozenset(
    {0x4A0C, 0x4A0D, 0x4A0E, 0x4E0C, 0x4E0D, 0x4E0E, 0x560C, 0x560D, 0x560E}
)
