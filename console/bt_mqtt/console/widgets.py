"""Widgets: ``RowTable``, a virtual table that draws only its visible rows, and ``StatusLine``.

``RowTable`` holds a list of ``views.Row`` and renders with Textual's line API, so replacing
thousands of rows a few times a second costs one list assignment; the cursor follows its row's
key across updates.  Cells are drawn as plain segments (never markup), each cleaned by
``safe.clean`` first, so no control character in a cell reaches the terminal.  Row classes map
to the component classes ``rowtable--<cls>`` whose styles live in ``console.tcss``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from attrs import define
from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from bt_mqtt.console.safe import clean
from bt_mqtt.console.views import Row

log = logging.getLogger(__name__)


@define(frozen=True)
class Column:
    """A column: header text, width in cells (a minimum when ``flex``), right-justified or not."""

    title: str
    width: int
    flex: bool = False
    right: bool = False


ROW_CLASSES = ("unknown", "offline", "stale", "silent", "no-status", "error", "status")


class RowTable(Widget, can_focus=True):
    """A keyboard-driven table of ``Row`` objects; posts ``RowTable.Selected`` on enter."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowtable--header",
        "rowtable--cursor",
        *(f"rowtable--{c}" for c in ROW_CLASSES),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "PgUp", show=False),
        Binding("pagedown", "page(1)", "PgDn", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Selected(Message):
        """The user chose the row with ``key``."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(
        self, columns: list[Column], *, id: str | None = None, follow_key: bool = True
    ) -> None:
        super().__init__(id=id)
        self.columns = columns
        self.follow_key = follow_key
        self.rows: Sequence[Row] = []
        self.cursor = 0
        self.top = 0
        self.cursor_key: str | None = None
        self._widths: list[int] = [c.width for c in columns]
        self._widths_for = -1

    # -- data ---------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows.  With ``follow_key`` the cursor moves with its row's key (for
        tables whose order is stable); otherwise it keeps its position on screen."""
        self.rows = rows
        if self.follow_key and self.cursor_key is not None:
            if self.cursor < len(rows) and rows[self.cursor].key == self.cursor_key:
                pass
            else:
                for i, row in enumerate(rows):
                    if row.key == self.cursor_key:
                        self.cursor = i
                        break
        self._clamp()
        self.refresh()

    @property
    def current_key(self) -> str | None:
        return self.rows[self.cursor].key if self.rows else None

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _clamp(self) -> None:
        n = len(self.rows)
        self.cursor = min(max(0, self.cursor), max(0, n - 1))
        self.cursor_key = self.rows[self.cursor].key if n else None
        vis = self.visible_rows
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + vis:
            self.top = self.cursor - vis + 1
        self.top = max(0, min(self.top, max(0, n - vis)))

    # -- actions and events -------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.cursor += delta
        self._clamp()
        self.refresh()

    def action_page(self, direction: int) -> None:
        self.action_move(direction * self.visible_rows)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self.rows) - 1
        self._clamp()
        self.refresh()

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self, self.rows[self.cursor].key))

    def on_click(self, event: events.Click) -> None:
        index = self.top + event.y - 1
        if 0 <= index < len(self.rows):
            again = index == self.cursor
            self.cursor = index
            self._clamp()
            self.refresh()
            if again or event.chain > 1:
                self.action_select()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.action_move(3)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.action_move(-3)
        event.stop()

    def on_resize(self) -> None:
        self._clamp()

    # -- drawing ------------------------------------------------------------------------------

    def _layout(self, width: int) -> list[int]:
        if width == self._widths_for:
            return self._widths
        widths = [c.width for c in self.columns]
        spare = width - sum(widths) - (len(widths) - 1)
        flex = [i for i, c in enumerate(self.columns) if c.flex]
        if spare > 0 and flex:
            for n, i in enumerate(flex):
                widths[i] += spare // len(flex) + (1 if n < spare % len(flex) else 0)
        self._widths, self._widths_for = widths, width
        return widths

    def _line(self, cells: tuple[str, ...], widths: list[int]) -> str:
        out = []
        for col, width, cell in zip(self.columns, widths, cells, strict=False):
            text = clean(cell, width)
            out.append(set_cell_size(text.rjust(width) if col.right else text, width))
        return " ".join(out)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths = self._layout(width)
        base = self.rich_style
        if y == 0:
            text = self._line(tuple(c.title for c in self.columns), widths)
            head = base + self.get_component_rich_style("rowtable--header")
            return Strip([Segment(set_cell_size(text, width), head)], width)
        index = self.top + y - 1
        if index >= len(self.rows):
            return Strip([Segment(" " * width, base)], width)
        row = self.rows[index]
        style: Style = base
        if row.cls:
            style = style + self.get_component_rich_style(f"rowtable--{row.cls}", partial=True)
        if index == self.cursor:
            style = style + self.get_component_rich_style("rowtable--cursor")
        return Strip([Segment(set_cell_size(self._line(row.cells, widths), width), style)], width)


class StatusLine(Static):
    """One line of figures at the top of every screen (given ``Text``; a ``str`` is not
    parsed as markup)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
