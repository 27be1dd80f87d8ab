"""Device detail: the last advertisement field by field, readings and facts, RSSI per scanner,
and (with a database) history sparklines of each metric."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from bt_mqtt.console import views
from bt_mqtt.console.rates import sparkline
from bt_mqtt.console.screens import ConsoleScreen
from bt_mqtt.console.state import DeviceState
from bt_mqtt.console.widgets import StatusLine

log = logging.getLogger(__name__)

_KNOWN_FIELDS = frozenset(
    {"v", "scanner_id", "boot", "seq", "ts", "mac", "address_type", "rssi", "tx_power", "name"}
    | {"manufacturer_data", "service_data", "service_uuids"}
)


def _hex(data: bytes) -> str:
    return data.hex(" ") if data else "(empty)"


def _kv_table(title: str) -> Table:
    table = Table(title=title, title_justify="left", box=None, show_header=False, expand=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    return table


def advert_table(dev: DeviceState) -> Table:
    """The last advertisement of ``dev`` broken down field by field."""
    msg = dev.last
    a = msg.advert
    t = _kv_table("Last advertisement")
    t.add_row("mac", f"{a.mac} ({a.address_type or 'type unknown'})")
    t.add_row("name", a.name or "-")
    t.add_row("rssi / tx", f"{a.rssi} dBm / {'-' if a.tx_power is None else f'{a.tx_power} dBm'}")
    t.add_row("scanner", f"{msg.scanner_id}  boot {msg.boot} seq {msg.seq}")
    t.add_row("ts", msg.ts)
    for cid, data in a.manufacturer_data.items():
        label = views.COMPANIES.get(cid, "")
        t.add_row(f"mfr 0x{cid:04X}", f"{_hex(data)}  {label}".rstrip())
    for uuid, data in a.service_data.items():
        t.add_row(f"svc {views.short_uuid(uuid)}", _hex(data))
    if a.service_uuids:
        t.add_row("uuids", " ".join(views.short_uuid(u) for u in a.service_uuids))
    for key in sorted(set(msg.raw) - _KNOWN_FIELDS):
        t.add_row(f"+{key}", repr(msg.raw[key])[:200])
    return t


def readings_table(dev: DeviceState) -> Table:
    t = _kv_table(f"Decoded by {dev.parser}" if dev.parser else "No parser claims this device")
    for metric, value in sorted(dev.readings.items()):
        t.add_row(metric, views.fmt_value(value))
    for key, value in sorted(dev.facts.items()):
        t.add_row(key, str(value)[:200])
    return t


def scanners_table(dev: DeviceState, now: float) -> Table:
    t = Table(title="Heard by", title_justify="left", box=None, expand=False)
    t.add_column("scanner")
    t.add_column("rssi", justify="right")
    t.add_column("seen", justify="right")
    for sid, s in sorted(dev.scanners.items(), key=lambda kv: -kv[1].rssi):
        t.add_row(sid, str(s.rssi), views.fmt_age(now - s.at))
    t.add_row(
        "all", sparkline(list(dev.rssi_hist)), f"{dev.count} adv", style="dim", end_section=True
    )
    return t


def history_text(history: dict[str, list[float]] | None, hours: int) -> Text | str:
    if history is None:
        return "History: no database configured (--database-url or database.url)."
    if not history:
        return Text(f"History: no readings stored in the last {hours} h.\n")
    text = Text(f"History, last {hours} h\n", style="bold")
    width = max((len(m) for m in history), default=0)
    for metric, values in sorted(history.items()):
        low, high = min(values), max(values)
        text.append(f"{metric:<{width}} ")
        text.append(sparkline(values, 48))
        text.append(f" {views.fmt_value(round(low, 2))}..{views.fmt_value(round(high, 2))}\n")
    return text


class DeviceScreen(ConsoleScreen):
    """Everything about one address; escape goes back."""

    TITLE = "Device"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,backspace", "back", "Back")]

    def __init__(self, mac: str) -> None:
        super().__init__()
        self.mac = mac
        self.history: dict[str, list[float]] | None = None
        self.history_hours = 24
        self.facts: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with VerticalScroll(id="detail-body"):
            yield Static(id="advert")
            yield Static(id="readings")
            yield Static(id="scanners")
            yield Static(id="history")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()
        db = self.capp.db
        if db is None:
            self.query_one("#history", Static).update(history_text(None, self.history_hours))
        else:
            self.query_one("#history", Static).update("History: loading…")
            self.run_worker(self._load_history(), exclusive=True)

    async def _load_history(self) -> None:
        db = self.capp.db
        assert db is not None
        try:
            self.history = await db.history(self.mac, self.history_hours, 48)
            text: Text | str = history_text(self.history, self.history_hours)
            registry = await db.device(self.mac)
            if registry is not None:
                assert isinstance(text, Text)
                text.append("Registry ", style="bold")
                text.append(
                    "  ".join(f"{k}={v}" for k, v in registry.items() if v not in (None, {}))
                )
            elif isinstance(text, Text):
                text.append("Registry: not in the devices table")
        except Exception as exc:  # the database is optional: show the problem, keep running
            log.warning("history query for %s failed: %s", self.mac, exc)
            text = f"History: database query failed: {exc}"
        self.query_one("#history", Static).update(text)

    def render_view(self, now: float) -> None:
        dev = self.capp.state.devices.get(self.mac)
        name = f" {dev.name}" if dev and dev.name else ""
        self.query_one(StatusLine).update(self.status_text(now, f"{self.mac}{name}"))
        if dev is None:
            self.query_one("#advert", Static).update(
                f"{self.mac}: not in the live state (expired?)"
            )
            return
        self.query_one("#advert", Static).update(advert_table(dev))
        self.query_one("#readings", Static).update(readings_table(dev))
        self.query_one("#scanners", Static).update(scanners_table(dev, now))

    def action_back(self) -> None:
        self.app.pop_screen()
