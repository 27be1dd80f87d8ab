"""A database connection that goes silent is noticed (issue 12 item 10): the subscriber's
connection settings, and a stalled connection severed after the configured time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.topics import Topics
from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.subscriber.batch import plan_chunk
from bt_mqtt.subscriber.config import conninfo, load_config
from bt_mqtt.subscriber.migrate import migrate
from bt_mqtt.subscriber.store import DatabaseUnavailable, Store


class StallingProxy:
    """A TCP proxy that can stop forwarding (both ways) while keeping every socket open: to the
    client, a network path that went silent without a reset."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.stalled = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            if self.stalled.is_set():
                await asyncio.sleep(3600)  # hold the bytes, answer nothing
            w.write(data)
            await w.drain()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        tasks = [asyncio.ensure_future(self._pipe(r, uw)), asyncio.ensure_future(self._pipe(ur, w))]
        try:
            await asyncio.gather(*tasks)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            w.close()
            uw.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _plan(seq: int) -> Any:
    payload = encode(
        Advert(mac="A4:C1:38:00:00:01", rssi=-40), "pi", "b", seq, format_ts(time.time())
    )
    return plan_chunk(
        ["bt-mqtt/raw/pi"],
        [payload],
        [time.time()],
        Topics("bt-mqtt"),
        Registry([]),
        ParseContext(),
        max_bytes=16384,
        skew_s=300,
    )


def test_conninfo_sets_keepalives_and_user_timeout(tmp_path: Any) -> None:
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text("database: {keepalive_s: 12, tcp_user_timeout_s: 7}\n")
    kw = conninfo(load_config(cfg_file, env={}), None)
    assert (kw["keepalives"], kw["keepalives_idle"], kw["keepalives_interval"]) == (1, 12, 4)
    assert (kw["keepalives_count"], kw["tcp_user_timeout"]) == (3, 7000)


def test_a_stalled_connection_is_severed_and_the_batch_written_again(pg_database: str) -> None:
    migrate({"conninfo": pg_database})
    cfg = load_config(None, env={})
    parts = urlsplit(pg_database)
    port = parts.port
    assert port is not None

    async def run() -> float:
        proxy = StallingProxy(port)
        await proxy.start()
        via = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        store = Store(
            {**conninfo(cfg, None), "conninfo": via}, keep_days=90, future_days=2, timeout_s=1.0
        )
        try:
            await store.connect()
            assert store._conn is not None
            cur = await store._conn.execute("SHOW statement_timeout")
            assert await cur.fetchone() == ("1s",)
            params = store._conn.info.get_parameters()
            assert params.get("keepalives") == "1" and params.get("tcp_user_timeout") == "30000"
            assert (await store.write(_plan(1), _now())).archived == 1
            proxy.stalled.set()
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                await asyncio.wait_for(store.write(_plan(2), _now()), 30)
            took = time.monotonic() - started
            assert not store.connected
            proxy.stalled.clear()
            direct = Store({"conninfo": pg_database}, keep_days=90, future_days=2, timeout_s=1.0)
            await direct.connect()  # the retry, on a new connection, writes it once
            assert (await direct.write(_plan(2), _now())).archived == 1
            await direct.close()
            return took
        finally:
            await store.close()
            proxy.close()

    took = asyncio.run(run())
    assert 1.5 <= took < 15  # 1 s + the margin, then psycopg gives up at once
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM raw_advertisements").fetchone() == (2,)


def _now() -> datetime:
    return datetime.now(UTC)
