"""Every use of dbus-fast's internals, in one module: an asyncio bus whose socket reads we own.

At a few hundred BlueZ signals a second, reading the bus socket on every readable event costs
each advert its own event-loop wakeup (epoll, callback), which dominates the agent's CPU per
advert.  ``CoalescingBus`` reads the socket at most every ``interval_s`` instead, except while a
method reply is awaited (replies are never delayed) and after a read that found ``BURST``
messages or more (the socket buffer holds only a few hundred: the sender may be ahead of us).

dbus-fast has no public way to pace its reads.  Its asyncio ``MessageBus.connect`` builds the
socket reader (``dbus_fast.aio.message_reader.build_message_reader``: read what the socket has,
unmarshal, dispatch every complete message) and registers it with ``self._loop.add_reader``.
We let it build that reader and register it ourselves: the bus's private ``_loop`` is a
stand-in (``_LoopTap``) that hands the reader's registration and removal (``connect``,
``_finalize``) to ``_PacedReader`` and passes every other call to the real loop.  Taking
dbus-fast's own reader as it registers it, rather than building a second one after
``connect``, means no bytes it already buffered (part of a message) are lost.  Nothing here
touches asyncio's internals.

Each access to a dbus-fast private name is commented.  ``check()`` looks for them once (the
first ``CoalescingBus`` calls it) and raises ``DbusFastIncompatible`` naming the installed
version and what is missing; ``connect`` raises it too if the reader was not registered through
the stand-in, so a dbus-fast upgrade that changes this fails at start-up with that message
instead of silently reading on every event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import dbus_fast
from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

VERSION: Final[str] = str(getattr(dbus_fast, "__version__", "unknown"))
BURST: Final = 100  # messages in one paced read that mean "the sender is ahead of us"


class DbusFastIncompatible(RuntimeError):
    """The installed dbus-fast lacks an internal BT-MQTT relies on."""


# -- the start-up check ------------------------------------------------------------------------


def missing_internals(bus_class: type[Any] = MessageBus) -> list[str]:
    """The dbus-fast internals used below that ``bus_class`` (dbus-fast's asyncio MessageBus)
    does not have."""
    out: list[str] = []
    # MessageBus._loop: the event loop connect() registers the socket reader with (a slot).
    slots = {s for k in bus_class.__mro__ for s in getattr(k, "__slots__", ())}
    if "_loop" not in slots:
        out.append("MessageBus._loop")
    # connect() builds the reader and calls self._loop.add_reader with it.
    connect = getattr(bus_class, "connect", None)
    names = getattr(getattr(connect, "__code__", None), "co_names", ())
    for name in ("_loop", "add_reader", "build_message_reader"):
        if name not in names:
            out.append(f"MessageBus.connect -> {name}")
    return out


_checked = False


def check(bus_class: type[Any] = MessageBus) -> None:
    """Verify once that dbus-fast has what this module uses; ``DbusFastIncompatible`` if not."""
    global _checked  # noqa: PLW0603 - a once-per-process flag
    if _checked and bus_class is MessageBus:
        return
    missing = missing_internals(bus_class)
    if missing:
        raise DbusFastIncompatible(
            f"dbus-fast {VERSION} lacks {', '.join(missing)}: BT-MQTT paces its D-Bus reads "
            "through these internals (bt_mqtt/agent/backends/dbus_fast_adapter.py); install a "
            "dbus-fast that has them (2.21 to 5.2 do)"
        )
    if bus_class is MessageBus:
        _checked = True


# -- the paced reader --------------------------------------------------------------------------


class _PacedReader:
    """Registers dbus-fast's socket reader and decides when the socket is read.

    ``awaiting``: method replies (or the Hello of ``connect``) still awaited: read at once.
    ``reads``: how many times the socket was read (for tests and benchmarks).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval_s: float,
        progress: Callable[[], int] | None,
    ) -> None:
        self._loop = loop
        self._interval_s = interval_s
        self._progress = progress
        self._fd = -1
        self._read: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._open = False
        self._seen = 0
        self.awaiting = 0
        self.reads = 0

    def install(self, fd: int, read: Callable[[], None]) -> None:
        """dbus-fast asked the loop to call ``read`` whenever ``fd`` is readable."""
        self._fd = fd
        self._read = read
        self._open = True
        self._seen = self._progress() if self._progress is not None else 0
        self._loop.add_reader(fd, self._on_readable)

    def uninstall(self, fd: int) -> bool:
        """dbus-fast asked the loop to stop reading ``fd``: the connection is finished."""
        self._open = False
        self._cancel()
        return self._loop.remove_reader(fd)

    def read_now(self) -> None:
        """Read as soon as the socket is readable again (a reply is about to be awaited)."""
        if self._timer is not None:
            self._cancel()
            self._rearm()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _rearm(self) -> None:
        self._timer = None
        if self._open:  # not once dbus-fast finished the connection: the fd is closed
            self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        self.reads += 1
        self._read()  # type: ignore[misc]  # set by install before the loop can call us
        if self.awaiting or self._interval_s <= 0:
            return  # a reply is awaited (or pacing is off): keep reading as data comes
        if self._progress is not None:
            before, self._seen = self._seen, self._progress()
            if self._seen - before >= BURST:
                return  # a full socket: keep reading as data comes
        self._loop.remove_reader(self._fd)
        self._timer = self._loop.call_later(self._interval_s, self._rearm)


class _LoopTap:
    """The event loop as the bus sees it: registering and removing the socket reader goes to a
    ``_PacedReader``, everything else to the real loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reader: _PacedReader) -> None:
        self._real = loop
        self._paced = reader
        self.taken = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def add_reader(self, fd: int, callback: Callable[..., None], *args: Any) -> None:
        self.taken += 1
        self._paced.install(fd, (lambda: callback(*args)) if args else callback)

    def remove_reader(self, fd: int) -> bool:
        return self._paced.uninstall(fd)


class CoalescingBus(MessageBus):
    """dbus-fast's asyncio ``MessageBus`` reading its socket at most every ``interval_s``.

    ``progress`` (messages handled so far, counted by the caller's message handler) keeps
    reading immediate after a read that handled ``BURST`` messages or more.  Method calls
    (``call``) read their reply at once.  ``interval_s`` 0 reads on every readable event.
    """

    def __init__(
        self,
        *,
        interval_s: float,
        progress: Callable[[], int] | None = None,
        bus_address: str | None = None,
        bus_type: BusType = BusType.SYSTEM,
    ) -> None:
        check()
        super().__init__(bus_address=bus_address, bus_type=bus_type)
        # MessageBus._loop: the running loop, set by MessageBus.__init__ (checked in check()).
        loop = self._loop
        if not isinstance(loop, asyncio.AbstractEventLoop):
            raise DbusFastIncompatible(
                f"dbus-fast {VERSION}: MessageBus._loop is {type(loop).__name__}, not the "
                "event loop (bt_mqtt/agent/backends/dbus_fast_adapter.py)"
            )
        self.paced = _PacedReader(loop, interval_s, progress)
        self._btmqtt_tap = _LoopTap(loop, self.paced)
        # MessageBus._loop: connect() registers the socket reader with self._loop.add_reader
        # and _finalize() removes it with self._loop.remove_reader; the tap takes both.
        self._loop = self._btmqtt_tap  # type: ignore[assignment]

    async def connect(self) -> CoalescingBus:
        tap = self._btmqtt_tap
        taken = tap.taken
        self.paced.awaiting += 1  # the Hello reply: read at once
        try:
            await super().connect()
        finally:
            self.paced.awaiting -= 1
        if tap.taken != taken + 1:
            self.disconnect()
            raise DbusFastIncompatible(
                f"dbus-fast {VERSION}: MessageBus.connect registered {tap.taken - taken} socket "
                "readers through MessageBus._loop.add_reader, not 1 "
                "(bt_mqtt/agent/backends/dbus_fast_adapter.py)"
            )
        return self

    def disconnect(self) -> None:
        """``MessageBus.disconnect``; the end of the stream is read at once, not after a pause."""
        super().disconnect()
        self.paced.read_now()

    async def call(self, msg: Message) -> Message:
        """``MessageBus.call``, reading the socket at once until the reply is in."""
        paced = self.paced
        paced.awaiting += 1
        paced.read_now()
        try:
            return await super().call(msg)
        finally:
            paced.awaiting -= 1
