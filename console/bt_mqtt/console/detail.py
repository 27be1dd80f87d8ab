"""Device detail: the last advertisement field by field, readings and facts, RSSI per scanner,
and (with a database) history sparklines of each metric."""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from bt_mqtt.console import safe, views
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
    table = Table(
        title=safe.text(title, "table.title"),
        title_justify="left",
        box=None,
        show_header=False,
        expand=False,
    )
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    return table


def _row(table: Table, *cells: object) -> None:
    """A row of cleaned, literal cells: nothing in them is markup."""
    table.add_row(*(safe.text(c) for c in cells))


def advert_table(dev: DeviceState) -> Table:
    """The last advertisement of ``dev`` broken down field by field."""
    msg = dev.last
    a = msg.advert
    t = _kv_table("Last advertisement")
    _row(t, "mac", f"{a.mac} ({a.address_type or 'type unknown'})")
    _row(t, "name", a.name or "-")
    _row(t, "rssi / tx", f"{a.rssi} dBm / {'-' if a.tx_power is None else f'{a.tx_power} dBm'}")
    _row(t, "scanner", f"{msg.scanner_id}  boot {msg.boot} seq {safe.brief(msg.seq)}")
    _row(t, "ts", msg.ts)
    for cid, data in a.manufacturer_data.items():
        label = views.COMPANIES.get(cid, "")
        _row(t, f"mfr 0x{cid:04X}", f"{_hex(data)}  {label}".rstrip())
    for uuid, data in a.service_data.items():
        _row(t, f"svc {views.short_uuid(uuid)}", _hex(data))
    if a.service_uuids:
        _row(t, "uuids", " ".join(views.short_uuid(u) for u in a.service_uuids))
    for key in sorted(set(msg.raw) - _KNOWN_FIELDS):
        _row(t, f"+{key}", safe.brief(msg.raw[key]))
    return t


def readings_table(dev: DeviceState) -> Table:
    t = _kv_table(f"Decoded by {dev.parser}" if dev.parser else "No parser claims this device")
    for metric, value in sorted(dev.readings.items()):
        _row(t, metric, views.fmt_value(value))
    for key, value in sorted(dev.facts.items()):
        _row(t, key, safe.value(value))
    return t


def scanners_table(dev: DeviceState, now: float) -> Table:
    t = Table(title="Heard by", title_justify="left", box=None, expand=False)
    t.add_column("scanner")
    t.add_column("rssi", justify="right")
    t.add_column("seen", justify="right")
    for sid, s in sorted(dev.scanners.items(), key=lambda kv: -kv[1].rssi):
        _row(t, sid, str(s.rssi), views.fmt_age(now - s.at))
    t.add_row(
        "all", sparkline(list(dev.rssi_hist)), f"{dev.count} adv", style="dim", end_section=True
    )
    return t


def history_text(history: dict[str, list[float]] | None, hours: int) -> Text:
    if history is None:
        return Text("History: no database configured (--database-url or database.url).")
    if not history:
        return Text(f"History: no readings stored in the last {hours} h.\n")
    text = Text()
    text.append(f"History, last {hours} h\n", style="bold")
    width = max((len(m) for m in history), default=0)
    for metric, values in sorted(history.items()):
        finite = [v for v in values if math.isfinite(v)]
        span = "-"
        if finite:
            low, high = min(finite), max(finite)
            span = f"{views.fmt_value(round(low, 2))}..{views.fmt_value(round(high, 2))}"
        text.append(safe.clean(f"{metric:<{width}} "))
        text.append(sparkline(values, 48))
        text.append(f" {span}\n")
    return text


def registry_text(registry: dict[str, Any]) -> Text:
    """The device's row in the ``devices`` table (its name and facts came over the air)."""
    shown = "  ".join(f"{k}={safe.value(v)}" for k, v in registry.items() if v not in (None, {}))
    return safe.assemble(("Registry ", "bold"), shown)


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
            yield Static(id="advert", markup=False)
            yield Static(id="readings", markup=False)
            yield Static(id="scanners", markup=False)
            yield Static(id="history", markup=False)
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
            text = history_text(self.history, self.history_hours)
            registry = await db.device(self.mac)
            if registry is not None:
                text.append_text(registry_text(registry))
            else:
                text.append("Registry: not in the devices table")
        except Exception as exc:  # the database is optional: show the problem, keep running
            log.warning("history query for %s failed: %s", self.mac, exc)
            text = safe.text(f"History: database query failed: {exc}")
        self.query_one("#history", Static).update(text)

    def render_view(self, now: float) -> None:
        dev = self.capp.state.devices.get(self.mac)
        name = f" {dev.name}" if dev and dev.name else ""
        self.query_one(StatusLine).update(self.status_text(now, f"{self.mac}{name}"))
        if dev is None:
            self.query_one("#advert", Static).update(
                safe.text(f"{self.mac}: not in the live state (expired?)")
            )
            return
        self.query_one("#advert", Static).update(advert_table(dev))
        self.query_one("#readings", Static).update(readings_table(dev))
        self.query_one("#scanners", Static).update(scanners_table(dev, now))

    def action_back(self) -> None:
        self.app.pop_screen()
