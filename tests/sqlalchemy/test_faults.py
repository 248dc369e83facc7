"""The database stops answering mid-run: the store fails closed, promptly, and recovers.

A loopback proxy stands between the store and the real server, which the tests
never stop: cutting the proxy is the database going away.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.sqlalchemy.conftest import Db, via, with_driver, with_query
from tests.sqlalchemy.proxy import Proxy
from tokenauth import (
    StoreError,
    StoreUnreachableError,
    TokenRecord,
    open_async_store,
    open_store,
)
from tokenauth_sqlalchemy import SQLUserRegistry

#: Seconds the store may take to give up; the test allows some slack on top.
TIMEOUT = 2
PROMPT = TIMEOUT * 3 + 2

SERVERS = ["postgresql", "mariadb"]
ASYNC_DRIVERS = {"postgresql": ["asyncpg", "psycopg"], "mariadb": ["aiomysql"]}


def _record(jti: str, *, ttl: int = 3600) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(jti, "alice", now, now + ttl, "password")


def _via(url: str, proxy: Proxy) -> str:
    return via(url, proxy, TIMEOUT)


def _fails_promptly(
    call: Callable[[], Any], error: type[StoreError] = StoreUnreachableError
) -> None:
    start = time.monotonic()
    with pytest.raises(error):
        call()
    assert time.monotonic() - start < PROMPT


@pytest.mark.parametrize("db", SERVERS, indirect=True)
def test_cut_database_fails_closed_then_recovers(db: Db, proxy: Proxy) -> None:
    """Database gone: every call raises StoreUnreachableError; nothing stale or half-written."""
    store = open_store(_via(db.url, proxy))
    try:
        kept = _record("fault-kept")
        store.add(kept)
        assert store.get(kept.jti) == kept
        proxy.cut()
        now = int(time.time())
        _fails_promptly(lambda: store.get(kept.jti))
        _fails_promptly(lambda: store.add(_record("fault-lost")))
        _fails_promptly(lambda: store.remove(kept.jti))
        _fails_promptly(lambda: store.remove_subject("alice"))
        _fails_promptly(lambda: store.list_subject("alice"))
        _fails_promptly(lambda: store.purge_expired(now))
        proxy.restore()
        assert store.get(kept.jti) == kept
        assert store.get("fault-lost") is None
        assert store.list_subject("alice") == [kept]
        assert store.remove(kept.jti) is True
    finally:
        store.close()


@pytest.mark.parametrize("db", SERVERS, indirect=True)
def test_unanswering_database_times_out(db: Db, proxy: Proxy) -> None:
    """A server that accepts connections but never answers costs a bounded wait, not a hang."""
    store = open_store(_via(db.url, proxy))
    try:
        store.add(_record("fault-slow"))
        proxy.blackhole()
        _fails_promptly(lambda: store.get("fault-slow"))
        proxy.restore()
        assert store.get("fault-slow") is not None
    finally:
        store.close()


@pytest.mark.parametrize("db", SERVERS, indirect=True)
def test_registry_fails_closed_then_recovers(db: Db, proxy: Proxy) -> None:
    """The registries surface a lost database as StoreUnreachableError too."""
    users = SQLUserRegistry.from_url(_via(db.url, proxy))
    try:
        assert users.get_user("nobody") is None
        proxy.cut()
        _fails_promptly(lambda: users.get_user("nobody"))
        proxy.restore()
        assert users.get_user("nobody") is None
    finally:
        users.close()


@pytest.mark.parametrize(
    ("db", "driver"),
    [(server, driver) for server in SERVERS for driver in ASYNC_DRIVERS[server]],
    indirect=["db"],
)
def test_async_cut_database_fails_closed_then_recovers(db: Db, proxy: Proxy, driver: str) -> None:
    """The async store fails closed and recovers as the sync one does."""

    async def scenario() -> None:
        store = open_async_store(with_driver(_via(db.url, proxy), driver))
        try:
            kept = _record("afault-kept")
            await store.add(kept)
            proxy.cut()
            for call in (
                lambda: store.get(kept.jti),
                lambda: store.add(_record("afault-lost")),
                lambda: store.remove(kept.jti),
            ):
                start = time.monotonic()
                with pytest.raises(StoreUnreachableError):
                    await call()
                assert time.monotonic() - start < PROMPT
            proxy.restore()
            assert await store.get(kept.jti) == kept
            assert await store.get("afault-lost") is None
            assert await store.remove(kept.jti) is True
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("db", "driver"),
    [(server, driver) for server in SERVERS for driver in ASYNC_DRIVERS[server]],
    indirect=["db"],
)
def test_async_unanswering_database_times_out(db: Db, proxy: Proxy, driver: str) -> None:
    """Async drivers too give up on a silent server within the bound, then recover."""

    async def scenario() -> None:
        store = open_async_store(with_driver(_via(db.url, proxy), driver))
        try:
            await store.add(_record("aslow"))
            proxy.blackhole()
            start = time.monotonic()
            with pytest.raises(StoreUnreachableError):
                await store.get("aslow")
            assert time.monotonic() - start < PROMPT
            proxy.restore()
            assert await store.get("aslow") is not None
        finally:
            await store.aclose()

    asyncio.run(scenario())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:{port}/test",
        "mysql+pymysql://root@127.0.0.1:{port}/test",
    ],
)
def test_nothing_listening_is_unreachable(url: str) -> None:
    """A port where nothing listens gives StoreUnreachableError at once."""
    store = open_store(url.format(port=_closed_port()) + f"?timeout={TIMEOUT}")
    try:
        _fails_promptly(lambda: store.get("x"))
        _fails_promptly(lambda: store.add(_record("x")))
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:{port}/test",
        "postgresql+psycopg://postgres@127.0.0.1:{port}/test",
        "mysql+aiomysql://root@127.0.0.1:{port}/test",
    ],
)
def test_async_nothing_listening_is_unreachable(url: str) -> None:
    """The async drivers' refused connections are StoreUnreachableError as well."""

    async def scenario() -> None:
        store = open_async_store(url.format(port=_closed_port()) + f"?timeout={TIMEOUT}")
        try:
            with pytest.raises(StoreUnreachableError):
                await store.get("x")
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_terminated_backends_are_replaced(db: Db) -> None:
    """After the server kills the store's connections, the next call reconnects and works."""
    store = open_store(with_query(db.url, application_name="tokenauth-fault-test"))
    try:
        record = _record("fault-term")
        store.add(record)
        with db.engine.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'tokenauth-fault-test'"
                )
            ).scalar_one()
        assert killed >= 1
        assert store.get(record.jti) == record
        assert store.remove(record.jti) is True
    finally:
        store.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_locked_sqlite_file_times_out_then_recovers(db: Db) -> None:
    """SQLite held locked by another process's writer: a write waits a bounded time and
    fails closed, then works again. Reads go on meanwhile (the file is in WAL mode, where
    readers never wait for a writer) and see only what was committed."""
    path = make_url(db.url).database
    assert path is not None
    store = open_store(with_query(db.url, timeout="0.5"))
    store.add(_record("seen"))
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        assert locker.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute(f"DELETE FROM {db.schema.tokens.name}")  # noqa: S608  # our own table
        _fails_promptly(lambda: store.add(_record("locked")))
        _fails_promptly(lambda: store.remove("seen"))
        assert store.get("seen") is not None  # the uncommitted DELETE is not seen
        assert store.get("locked") is None
        locker.execute("ROLLBACK")
        assert store.get("locked") is None
        store.add(_record("locked"))
        assert store.get("locked") is not None
    finally:
        locker.close()
        store.close()
