"""The real ``bt-mqtt-console`` process in a pseudo-terminal: the bytes an operator's terminal
receives hold nothing from outside that could act on it, a retained hostile heartbeat does not
stop it at start-up, and when it does stop on an error its exit status says so."""

from __future__ import annotations

import asyncio
import re
import sys

from bt_mqtt.demo.services import free_port
from tests.console import helpers
from tests.console.hostile import NASTY, OSC_TITLE, advert_obj, raw, status
from tests.console.ptyconsole import MODULE, PtyConsole
from tests.console.terminal import TEXTUAL_SEQUENCE, terminal_problems
from tests.fixtures.mosquitto import Broker

# What Textual's Linux driver writes besides frames: mouse, focus, paste and keyboard modes,
# the alternate screen, and a mode query.
DRIVER_SEQUENCE = re.compile(r"\x1b\[\?[0-9]+\$p|\x1b\[>[0-9]+u|\x1b\[<u")

CRASH = """
import sys
from bt_mqtt.console import main
from bt_mqtt.console.state import ConsoleState

def expire(self, now):
    raise RuntimeError("injected failure")

ConsoleState.expire = expire  # the first frame fails: stands for any bug that stops the app
sys.exit(main.main(sys.argv[1:]))
"""


def test_a_console_that_stops_on_an_error_exits_non_zero() -> None:
    args = [sys.executable, "-c", CRASH, "--host", "127.0.0.1", "--port", str(free_port())]
    with PtyConsole(args) as con:
        code = con.wait_exit()
        assert "injected failure" in con.text()  # Textual's traceback, after the UI is gone
    assert code == 1


def test_the_operator_quitting_exits_0(mosquitto: Broker) -> None:
    args = [*MODULE, "--host", mosquitto.host, "--port", str(mosquitto.port), "--no-database"]
    with PtyConsole(args) as con:
        con.wait_for(lambda t: "mqtt ok" in t, "the console to connect")
        con.send("q")
        assert con.wait_exit() == 0


def wait_since(con: PtyConsole, mark: int, needle: str, what: str, timeout: float = 15.0) -> None:
    """Wait until ``needle`` is drawn after output position ``mark``."""
    con.wait_for(
        lambda _: needle in con.output[mark:].decode("utf-8", "replace"), what, timeout=timeout
    )


def open_device(con: PtyConsole, mac: str, attempts: int = 5) -> None:
    """From the Live screen, filter the table down to ``mac`` and open its one row.

    Each step waits until the console has drawn the previous one; on a loaded machine an Enter
    can still reach the filter field a second time, so a try that does not open the device
    screen goes back to Live and starts again."""
    for attempt in range(attempts):
        try:
            mark = len(con.output)
            for key in ("/", "\x15", mac, "\r"):  # ctrl+u: the filter's old text goes
                con.send(key)
                con.read(0.05)
            wait_since(con, mark, f"1 shown │ sort seen▼ │ /{mac}", f"Live filtered to {mac}")
            con.read(0.2 * (attempt + 1))
            con.send("\r")
            wait_since(con, mark, f"{mac} (random)", f"the device screen of {mac}")
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise
            mark = len(con.output)
            con.send("\x1b")  # escape: back (device screen) or clear the filter (Live)
            con.read(0.3)
            con.send("1")
            wait_since(con, mark, " shown │ sort ", "the Live screen again")


def test_nothing_from_outside_reaches_the_terminal(mosquitto: Broker) -> None:
    beat = {"hostname": OSC_TITLE} | {
        k: v for k, v in helpers.heartbeat("attic").items() if k != "hostname"
    }  # first, so the detail pane shows it
    retained = [status("garden", b"[" * 5000), status("attic", beat)]
    adverts = [
        raw(advert_obj(f"66:00:00:00:00:{i:02X}", seq=i + 1, name=nasty))
        for i, nasty in enumerate(NASTY)
    ]
    adverts.append(("bt-mqtt/raw/kitchen", b"\x1b]52;c;cm0gLXJmIH4=\x07\x9b2J \xff"))
    asyncio.run(helpers.publish(mosquitto, retained, retain=True))
    args = [*MODULE, "--host", mosquitto.host, "--port", str(mosquitto.port), "--fps", "10"]
    with PtyConsole([*args, "--no-database"], size=(160, 50)) as con:
        con.wait_for(lambda t: "mqtt ok" in t and "1 rej" in t, "the retained messages")
        asyncio.run(helpers.publish(mosquitto, adverts))
        con.wait_text("2 rej", "the rejected payload")
        con.wait_text("\\x1b]0;PW", "a hostile name, escaped, on the Live screen")
        for keys, seen in (
            ("4", "REJECTED invalid_utf8"),  # Tail
            ("2", "\\x1b]0;PWN\\x07"),  # Scanners: attic's heartbeat (selected), hostname
            ("1", " shown │ sort "),  # Live's status line ("Live" is in every footer)
        ):
            mark = len(con.output)
            con.send(keys)
            wait_since(con, mark, seen, f"{keys!r} to show {seen!r}")
        controls = [i for i, nasty in enumerate(NASTY) if not nasty.isprintable()]
        for i in controls:  # open each device named with controls, from a filtered Live table
            mac = f"66:00:00:00:00:{i:02X}"
            open_device(con, mac)
            mark = len(con.output)
            con.send("\x7f")  # backspace: back to Live
            wait_since(con, mark, " shown │ sort ", "the Live screen again")
        con.send("q")
        code = con.wait_exit()
        out = con.text()
    assert code == 0
    for raw_sequence in ("\x1b]0;PWN", "\x1b]52;c;", "\x1b]8;;http", "\x9b", "\x1b[2J\x1b[H\r\n"):
        assert raw_sequence not in out
    rest = DRIVER_SEQUENCE.sub("", out)
    assert terminal_problems(rest.replace("\r", "")) == []
    assert TEXTUAL_SEQUENCE.search(out)  # the check looked at real terminal output
