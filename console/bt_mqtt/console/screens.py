"""The four live screens: Live devices, Scanners, Parsers and the raw Tail.

Each screen renders from the shared ``ConsoleState`` in ``refresh_view(now)``, which the app
calls a few times a second (never per message) for the active screen only, and immediately after
a key changes what the screen shows.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from bt_mqtt.console import commanding, health, safe, views
from bt_mqtt.console.views import DeviceFilter
from bt_mqtt.console.widgets import Column, RowTable, StatusLine
from bt_mqtt.core import command as cmd

if TYPE_CHECKING:
    from bt_mqtt.console.app import ConsoleApp

log = logging.getLogger(__name__)


class ConsoleScreen(Screen[None]):
    """Common parts: the status line, access to the app and its state."""

    TITLE = ""

    @property
    def capp(self) -> ConsoleApp:
        from bt_mqtt.console.app import ConsoleApp  # noqa: PLC0415 - import cycle

        assert isinstance(self.app, ConsoleApp)
        return self.app

    def status_text(self, now: float, extra: str = "") -> Text:
        """The status line: our figures, plus ``extra`` (which may hold outside text, such as
        a device name: it is cleaned and drawn literally)."""
        app = self.capp
        s = views.summary(app.state, now, app.thresholds)
        problems = f" ({s.problems}!)" if s.problems else ""
        sep = " │ "
        line = Text()
        line.append(self.TITLE, style="bold")
        figures = [f"{s.devices} dev", f"{views.fmt_rate(s.rate)} adv/s"]
        figures.append(f"{s.scanners} scn{problems}")
        if s.rejected:
            figures.append(f"{s.rejected} rej")
        for part in figures:
            line.append(sep + part)
        if extra:
            line.append(sep)
            line.append_text(safe.text(extra))
        if app.state.alerts:  # the alert banner: how many fire, and the newest one
            n = len(app.state.alerts)
            newest = next(reversed(app.state.alerts.values()))
            line.append(sep)
            line.append(f"{n} ALERT{'S' if n > 1 else ''}", style="bold reverse")
            line.append(" ")
            line.append_text(safe.text(newest))
        if app.paused:
            line.append(sep)
            line.append("PAUSED", style="reverse")
        line.append(sep)
        if app.connected:
            line.append("mqtt ok")
        else:
            line.append("mqtt down", style="reverse")
        return line

    ready = False

    def refresh_view(self, now: float) -> None:
        """Redraw from the state (ignored until the screen's widgets are mounted)."""
        if not self.ready:
            return
        try:
            self.render_view(now)
        except NoMatches:  # widgets are being removed (shutdown)
            log.debug("screen %s is not drawable", self)

    def render_view(self, now: float) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.ready = True

    def on_unmount(self) -> None:
        self.ready = False

    def on_screen_resume(self) -> None:
        self.refresh_view(self.capp.clock())


class LiveScreen(ConsoleScreen):
    """One row per address; sortable, filterable, pausable."""

    TITLE = "Live"
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled as the key arrives, so keys typed right after it reach the filter
        Binding("slash", "filter", "Filter", priority=True),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("u", "known", "Known/unknown"),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = DeviceFilter()
        self.sort = "seen"
        self.reverse = False
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Input(
            placeholder="filter: words parser:NAME scanner:ID is:known|unknown", id="filter"
        )
        yield RowTable(
            [
                Column("MAC", 17),
                Column("Name", 10),
                Column("Parser", 8),
                Column("Values", 18, flex=True),
                Column("RSSI", 5, right=True),
                Column("/s", 4, right=True),
                Column("Seen", 4, right=True),
                Column("Scanners", 7, flex=True),
            ],
            id="table",
            follow_key=False,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()

    def render_view(self, now: float) -> None:
        state = self.capp.state
        devices = views.select_devices(
            state.devices.values(), self.filter, self.sort, self.reverse, now
        )
        self.shown = len(devices)
        self.query_one(RowTable).set_rows(views.LazyRows(devices, now))
        arrow = "▲" if self.reverse else "▼"
        desc = self.filter.describe()
        extra = f"{self.shown} shown │ sort {self.sort}{arrow}" + (f" │ /{desc}" if desc else "")
        self.query_one(StatusLine).update(self.status_text(now, extra))

    def _changed(self) -> None:
        self.refresh_view(self.capp.clock())

    def action_filter(self) -> None:
        # Synchronously, so keys already queued behind "/" (a paste, a fast typist) go to it.
        self.set_focus(self.query_one(Input))

    def action_clear_filter(self) -> None:
        inp = self.query_one(Input)
        inp.value = ""
        self.query_one(RowTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = DeviceFilter.parse(event.value)
        self._changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(RowTable).focus()

    def set_filter(self, text: str) -> None:
        """Filter by ``text`` (it may quote outside text, a scanner id: shown cleaned)."""
        text = safe.clean(text)
        self.query_one(Input).value = text
        self.filter = DeviceFilter.parse(text)
        self._changed()

    def action_sort(self) -> None:
        keys = views.SORT_KEYS
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self._changed()

    def set_sort(self, key: str) -> None:
        self.sort = key
        self._changed()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._changed()

    def action_known(self) -> None:
        cycle = {None: True, True: False, False: None}
        known = cycle[self.filter.known]
        words = [w for w in self.query_one(Input).value.split() if not w.startswith("is:")]
        if known is not None:
            words.append("is:known" if known else "is:unknown")
        self.set_filter(" ".join(words))

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        self.capp.open_device(event.key)


class ScannersScreen(ConsoleScreen):
    """Each scanner's health from its heartbeats; offline, stale and silent ones stand out.
    With a database, the selected scanner's recent commands; with a commander, ``c`` sends one
    to it (a disruptive one after a confirmation)."""

    TITLE = "Scanners"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "devices", "Its devices"),
        Binding("c", "command", "Command"),
        Binding("escape", "close_command", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield RowTable(
            [
                Column("Scanner", 12, flex=True),
                Column("State", 9),
                Column("HB", 4, right=True),
                Column("Recv/s", 6, right=True),
                Column("Pub/s", 6, right=True),
                Column("Seen/s", 6, right=True),
                Column("Drops", 5, right=True),
                Column("Lost", 5, right=True),
                Column("Adapter", 8, flex=True),
                Column("CPU%", 5, right=True),
                Column("MB", 4, right=True),
            ],
            id="table",
        )
        yield Input(placeholder="command: VERB [key=value ...]  (escape closes)", id="command")
        yield Static(id="detail", markup=False)
        yield Footer()

    LOSS_EVERY_S: ClassVar[float] = 15.0
    COMMANDS_EVERY_S: ClassVar[float] = 5.0
    RECENT: ClassVar[int] = 5

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()
        self.lost: dict[str, int] | None = None
        self.recent: dict[str, list[dict[str, Any]]] = {}
        self.last_reply: Text | None = None
        self._target: str | None = None
        if self.capp.db is not None:
            self.run_worker(self._load_loss(), exclusive=True)
            self.set_interval(
                self.LOSS_EVERY_S, lambda: self.run_worker(self._load_loss(), exclusive=True)
            )
            self.set_interval(self.COMMANDS_EVERY_S, self._reload_recent)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("command", "close_command"):
            return self.capp.commander is not None  # hidden without one
        return True

    async def _load_loss(self) -> None:
        db = self.capp.db
        assert db is not None
        try:
            self.lost = await db.scanner_loss()
        except Exception as exc:  # optional database: keep the live view going
            log.warning("scanner loss query failed: %s", exc)

    def _reload_recent(self) -> None:
        key = self.query_one(RowTable).current_key
        if key:
            self.run_worker(self._load_recent(key), group="recent", exclusive=True)

    async def _load_recent(self, scanner: str) -> None:
        db = self.capp.db
        assert db is not None
        try:
            self.recent[scanner] = await db.recent_commands(scanner, self.RECENT)
        except Exception as exc:  # older schema, or no database right now
            log.warning("recent commands query failed: %s", exc)

    def render_view(self, now: float) -> None:
        app = self.capp
        table = self.query_one(RowTable)
        lost = getattr(self, "lost", None)
        table.set_rows(health.scanner_rows(app.state, now, app.thresholds, lost))
        self.query_one(StatusLine).update(self.status_text(now))
        key = table.current_key
        sc = app.state.scanners.get(key) if key else None
        detail = health.scanner_detail(sc)
        recent = getattr(self, "recent", {}).get(key or "")
        if recent:
            detail.append("\n")
            detail.append_text(commanding.recent_text(recent))
        last = getattr(self, "last_reply", None)
        if last is not None:
            detail.append("\n")
            detail.append_text(last)
        self.query_one("#detail", Static).update(detail)

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        self.capp.show_live_filtered(f"scanner:{event.key}")

    # -- commands ----------------------------------------------------------------------------
    def action_command(self) -> None:
        key = self.query_one(RowTable).current_key
        if not key or self.capp.commander is None:
            return
        self._target = key
        inp = self.query_one("#command", Input)
        inp.placeholder = f"command to {safe.clean(key, 64)}: VERB [key=value ...]"
        inp.add_class("-open")
        self.set_focus(inp)

    def action_close_command(self) -> None:
        inp = self.query_one("#command", Input)
        inp.value = ""
        inp.remove_class("-open")
        self.query_one(RowTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        scanner = self._target
        self.action_close_command()
        if scanner is None:
            return
        try:
            verb, args = commanding.parse_line(event.value)
        except ValueError as exc:
            self._show(safe.text(f"{scanner}: {exc}"))
            return
        if verb in cmd.DISRUPTIVE:
            question = f"Send {verb} to {safe.clean(scanner, 64)}?"

            def answered(yes: bool | None) -> None:
                if yes:
                    self._send(scanner, verb, args)
                else:
                    self._show(safe.text(f"{scanner} {verb}: not sent"))

            self.app.push_screen(commanding.ConfirmScreen(question), answered)
            return
        self._send(scanner, verb, args)

    def _send(self, scanner: str, verb: str, args: dict[str, Any]) -> None:
        self._show(safe.text(f"{scanner} {verb}: sent, waiting for the reply"))
        self.run_worker(self._exchange(scanner, verb, args), group="command")

    async def _exchange(self, scanner: str, verb: str, args: dict[str, Any]) -> None:
        commander = self.capp.commander
        assert commander is not None
        try:
            replies = await commander(scanner, verb, args)
        except Exception as exc:  # the broker is unreachable or refused us
            self._show(safe.text(f"{scanner} {verb}: not sent: {exc}"))
            return
        self._show(commanding.reply_text(scanner, verb, replies))
        if self.capp.db is not None:
            self.run_worker(self._load_recent(scanner), group="recent")

    def _show(self, text: Text) -> None:
        self.last_reply = text
        self.refresh_view(self.capp.clock())


class ParsersScreen(ConsoleScreen):
    """Hits per parser over time, and unknown adverts grouped so the next parser is obvious."""

    TITLE = "Parsers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "focus_next", "Next table", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield RowTable(
            [
                Column("Parser", 14),
                Column("Hits", 8, right=True),
                Column("/s", 5, right=True),
                Column("Devs", 5, right=True),
                Column("Errors", 6, right=True),
                Column("DB 24h", 8, right=True),
                Column("Last 10 min", 12, flex=True),
            ],
            id="parsers",
        )
        yield Static("", id="storage", markup=False)
        with Vertical(id="unknown-box"):
            yield Static("Unknown adverts by company id / service UUID", id="unknown-title")
            yield RowTable(
                [
                    Column("Kind", 7),
                    Column("Key", 10, flex=True),
                    Column("Company", 10),
                    Column("Adverts", 8, right=True),
                    Column("Devs", 5, right=True),
                    Column("Example name", 12, flex=True),
                ],
                id="unknown",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#parsers", RowTable).focus()
        self.stored: dict[str, int] | None = None
        if self.capp.db is not None:
            self.run_worker(self._load_totals(), exclusive=True)
            self.set_interval(60.0, lambda: self.run_worker(self._load_totals(), exclusive=True))

    async def _load_totals(self) -> None:
        db = self.capp.db
        assert db is not None
        try:
            self.stored = await db.parser_totals(24)
            storage = self.query_one("#storage", Static)
            storage.update(await db.storage())
            storage.display = True
        except Exception as exc:  # optional database: keep the live view going
            log.warning("parser totals query failed: %s", exc)

    def render_view(self, now: float) -> None:
        app = self.capp
        parsers = self.query_one("#parsers", RowTable)
        width = max(10, parsers._layout(parsers.size.width)[-1])
        stored = getattr(self, "stored", None)
        parsers.set_rows(views.parser_rows(app.state, now, width, app.parser_errors(), stored))
        cap = app.state.limits.unknown_macs_cap
        self.query_one("#unknown", RowTable).set_rows(views.unknown_rows(app.state, cap))
        self.query_one(StatusLine).update(self.status_text(now))

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        if event.table.id == "parsers":
            name = event.key
            self.capp.show_live_filtered("is:unknown" if name == "(unknown)" else f"parser:{name}")
        else:
            self.capp.show_live_filtered(event.key)


class TailScreen(ConsoleScreen):
    """The newest raw messages (adverts, heartbeats, rejected payloads), newest first."""

    TITLE = "Tail"

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield RowTable(
            [Column("Age", 4, right=True), Column("Topic", 22), Column("Message", 40, flex=True)],
            id="table",
            follow_key=False,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()

    def render_view(self, now: float) -> None:
        app = self.capp
        self.query_one(RowTable).set_rows(
            views.tail_rows(app.state, now, app.state.limits.tail_size)
        )
        self.query_one(StatusLine).update(self.status_text(now))

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        mac = event.key.partition(":")[2]
        if mac:
            self.capp.open_device(mac)
