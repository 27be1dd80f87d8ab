"""The Textual application: modes for the four live screens, the frame timer, commands.

A timer fires ``fps`` times a second: it drains the feed, ingests the batch into the state with
one ``now`` from the injected clock, expires stale devices now and then, and (unless paused)
redraws the active screen.  Nothing is drawn per message.  ``clock`` is injectable so tests and
snapshots are deterministic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar, Protocol

from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import Screen

from bt_mqtt.console import safe
from bt_mqtt.console.commanding import Commander
from bt_mqtt.console.detail import DeviceScreen
from bt_mqtt.console.screens import (
    ConsoleScreen,
    LiveScreen,
    ParsersScreen,
    ScannersScreen,
    TailScreen,
)
from bt_mqtt.console.state import ConsoleState
from bt_mqtt.console.views import SORT_KEYS, Thresholds
from bt_mqtt.core.topics import ALERT, DEFAULT_PREFIX, RAW, STATUS, Topics

log = logging.getLogger(__name__)

EXPIRE_EVERY_S = 5.0


class Source(Protocol):
    """Where payloads come from (``feed.MqttFeed``)."""

    connected: bool
    dropped: int

    @property
    def prefix(self) -> str: ...

    def drain(self) -> list[tuple[str, bytes]]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class History(Protocol):
    """Read-only access to stored history (``db.HistoryDb``)."""

    async def history(self, mac: str, hours: int, buckets: int) -> dict[str, list[float]]: ...

    async def device(self, mac: str) -> dict[str, Any] | None: ...

    async def parser_totals(self, hours: int) -> dict[str, int]: ...

    async def scanner_loss(self) -> dict[str, int]: ...

    async def storage(self) -> str: ...

    async def recent_commands(self, scanner: str, limit: int) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


def highlight(matcher: Matcher, candidate: str) -> Content:
    """``candidate`` (cleaned outside text) with the fuzzy match styled, never parsed as markup
    (Textual's ``Matcher.highlight`` would parse it)."""
    content = Content(candidate)
    score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    if score:
        for offset in offsets:
            if not candidate[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class DeviceCommands(Provider):
    """Command palette: open any live device by MAC or name."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, ConsoleApp)
        matcher = self.matcher(query)
        shown = 0
        for dev in reversed(app.state.devices.values()):
            name = safe.clean(dev.name or "", 60)
            text = f"Device {dev.mac} {name} {dev.parser or 'unknown'}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score, highlight(matcher, text), partial(app.open_device, dev.mac), text=text
                )
                shown += 1
                if shown >= 50:
                    break


class ConsoleApp(App[None]):
    """``bt-mqtt-console``."""

    CSS_PATH = "console.tcss"
    TITLE = "bt-mqtt console"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "live": LiveScreen,
        "scanners": ScannersScreen,
        "parsers": ParsersScreen,
        "tail": TailScreen,
    }
    DEFAULT_MODE = "live"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('live')", "Live"),
        Binding("2", "switch_mode('scanners')", "Scanners"),
        Binding("3", "switch_mode('parsers')", "Parsers"),
        Binding("4", "switch_mode('tail')", "Tail"),
        Binding("p,space", "toggle_pause", "Pause"),
        Binding("q", "quit", "Quit"),
    ]
    COMMANDS: ClassVar[Any] = App.COMMANDS | {DeviceCommands}

    def __init__(
        self,
        state: ConsoleState,
        source: Source | None = None,
        *,
        clock: Callable[[], float] = time.time,
        fps: float = 4.0,
        thresholds: Thresholds | None = None,
        db: History | None = None,
        parser_errors: Callable[[], dict[str, int]] | None = None,
        ansi: bool = False,
        commander: Commander | None = None,
    ) -> None:
        super().__init__()
        self.commander = commander  # sends scanner commands (None: the console cannot)
        self.state = state
        self.source = source
        self.clock = clock
        self.fps = fps
        self.thresholds = thresholds or Thresholds()
        self.db = db
        self._parser_errors = parser_errors
        self.paused = False
        self.frames = 0
        self._topics: Topics | None = None
        self._last_expire = -1e18
        if ansi:
            self.theme = "ansi-dark"

    @property
    def connected(self) -> bool:
        return self.source is not None and self.source.connected

    def parser_errors(self) -> dict[str, int]:
        return self._parser_errors() if self._parser_errors else {}

    async def on_mount(self) -> None:
        if self.source is not None:
            await self.source.start()
        self.set_interval(1.0 / self.fps, self.tick)

    async def on_unmount(self) -> None:
        if self.source is not None:
            await self.source.stop()
        if self.db is not None:
            await self.db.close()

    def ingest(self, batch: Iterable[tuple[str, bytes]], now: float) -> None:
        """Feed a batch of (topic, payload) into the state."""
        prefix = self.source.prefix if self.source is not None else DEFAULT_PREFIX
        if self._topics is None or self._topics.prefix != prefix:
            self._topics = Topics(prefix)
        classify = self._topics.classify
        state = self.state
        for topic, payload in batch:
            where = classify(topic)
            if where is not None and where.kind == ALERT:
                state.ingest_alert(topic, f"{where.alert_kind}/{where.subject}", payload, now)
            elif where is None or where.scanner_id is None:
                state.counters["rejected:bad_topic"] += 1
            elif where.kind == RAW:
                state.ingest_raw(topic, where.scanner_id, payload, now)
            elif where.kind == STATUS:
                state.ingest_status(topic, where.scanner_id, payload, now)
            else:  # ours, but not what the console subscribes to
                state.counters["rejected:bad_topic"] += 1

    def tick(self) -> None:
        """One frame: ingest what arrived, expire now and then, redraw the active screen."""
        now = self.clock()
        if self.source is not None:
            batch = self.source.drain()
            if batch:
                self.ingest(batch, now)
            if self.source.dropped:
                self.state.counters["rejected:backlog"] = self.source.dropped
        if now - self._last_expire >= EXPIRE_EVERY_S:
            self.state.expire(now)
            self._last_expire = now
        if not self.paused:
            self.redraw(now)

    def redraw(self, now: float | None = None) -> None:
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down
            return
        if isinstance(screen, ConsoleScreen) and screen.is_mounted:
            screen.refresh_view(self.clock() if now is None else now)
            self.frames += 1

    # -- actions ------------------------------------------------------------------------------

    async def action_switch_mode(self, mode: str) -> None:
        """Show a mode's screen; for the current mode, close any device screen above it (and
        leave focus alone, so keys typed right after are not lost)."""
        if mode != self.current_mode:
            self.switch_mode(mode)
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.redraw()

    def open_device(self, mac: str) -> None:
        self.push_screen(DeviceScreen(mac))

    def show_live_filtered(self, text: str) -> None:
        self.switch_mode("live")
        live = self._live()
        if live is not None:
            live.set_filter(text)

    def _live(self) -> LiveScreen | None:
        screen = self.screen
        return screen if isinstance(screen, LiveScreen) else None

    def _sort(self, key: str) -> None:
        self.switch_mode("live")
        live = self._live()
        if live is not None:
            live.set_sort(key)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Live devices", "One row per address", partial(self.switch_mode, "live")
        )
        yield SystemCommand("Scanners", "Scanner health", partial(self.switch_mode, "scanners"))
        yield SystemCommand(
            "Parsers", "Hits and unknown adverts", partial(self.switch_mode, "parsers")
        )
        yield SystemCommand("Raw tail", "The newest messages", partial(self.switch_mode, "tail"))
        yield SystemCommand("Pause / resume", "Freeze the display", self.action_toggle_pause)
        yield SystemCommand(
            "Show unknown devices", "Filter Live to unclaimed adverts",
            partial(self.show_live_filtered, "is:unknown"),
        )  # fmt: skip
        for key in SORT_KEYS:
            yield SystemCommand(
                f"Sort by {key}", f"Order the Live table by {key}", partial(self._sort, key)
            )
