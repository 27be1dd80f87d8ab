"""What the console puts on a terminal, for the hostile-input tests.

Two views of it: the segments of the screen as drawn (``screen_segments``: text plus style,
where markup would show up as a link or a ``@click`` action), and the raw characters handed to
the driver (``RecordingDriver``; ``terminal_problems`` finds anything in them that Textual's own
output never holds: OSC, BEL, any other control or format character).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rich.segment import Segment
from textual._compositor import LayoutUpdate
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver
from textual.strip import Strip

from bt_mqtt.core.safetext import is_safe

# What Textual writes for a frame: SGR (colours), cursor positioning, private modes (sync), and
# the mouse pointer's shape (OSC 22 with a word of its own: default, pointer, text ...).
TEXTUAL_SEQUENCE = re.compile(r"\x1b\[(?:[0-9;]*[mH]|\?[0-9;]+[hl])|\x1b\]22;[a-z-]+\x07")


class RecordingDriver(HeadlessDriver):
    """A headless driver that keeps every frame Textual writes (Textual skips writing to a
    driver that says it is headless, so this one says it is not)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.written: list[str] = []

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self.written.append(data)


def recorded(app: App[Any]) -> str:
    """What the app wrote to its ``RecordingDriver`` since the last call."""
    driver = app._driver
    assert isinstance(driver, RecordingDriver), "run the app with driver_class=RecordingDriver"
    out = "".join(driver.written)
    driver.written.clear()
    return out


def terminal_problems(data: str) -> list[str]:
    """Characters in terminal output that did not come from Textual: every escape sequence but
    the ones Textual writes, and every control or format character but newline."""
    rest = TEXTUAL_SEQUENCE.sub("", data).replace("\n", "")
    problems = []
    for match in re.finditer(r"\x1b.{0,12}", rest, re.S):
        problems.append(f"escape sequence {match.group()!r}")
    if not is_safe(rest.replace("\x1b", "")):
        bad = sorted({ch for ch in rest if ch != "\x1b" and not is_safe(ch)})
        problems.append(f"control or format characters {bad!r}")
    return problems


def _lines(app: App[Any]) -> list[list[Strip]]:
    """The whole screen as drawn now: per terminal row, its strips."""
    update = app.screen._compositor.render_update(full=True)
    assert isinstance(update, LayoutUpdate)
    return [list(line) for line in update.strips]


def screen_segments(app: App[Any]) -> Iterator[Segment]:
    """The text segments of the whole screen as drawn now (cursor moves left out)."""
    for line in _lines(app):
        for strip in line:
            for seg in strip:
                if not seg.control:
                    yield seg


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, one line per terminal row."""
    return "\n".join(
        "".join(seg.text for strip in line for seg in strip if not seg.control)
        for line in _lines(app)
    )


def screen_problems(app: App[Any]) -> list[str]:
    """Anything drawn that outside text could have put there: a control or format character,
    a hyperlink, or a click action (Textual's own widgets use neither)."""
    problems = []
    for seg in screen_segments(app):
        if not is_safe(seg.text):
            problems.append(f"unsafe text {seg.text!r}")
        style = seg.style
        if style is not None and style.link:
            problems.append(f"hyperlink {style.link!r} on {seg.text!r}")
        if style is not None and any(k.startswith("@click") for k in style.meta):
            problems.append(f"click action {style.meta!r} on {seg.text!r}")
    return problems
