"""A lookup is one indexed read in autocommit; a dead pooled connection costs a read nothing.

Speed is measured in ``benchmarks/sql.py``; these tests check the shape of the
work (how many statements, which transaction mode) and the fault rules.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine, make_url

from tests.sqlalchemy.conftest import Db, with_driver, with_query
from tokenauth import StoreError, StoreUnreachableError, TokenRecord, open_async_store, open_store
from tokenauth_sqlalchemy import AsyncSQLTokenStore, SQLTokenStore

ALL = ["sqlite", "postgresql", "mariadb"]


def _record(jti: str) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(jti, "alice", now, now + 3600, "password")


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_a_lookup_is_one_select_in_autocommit(db: Db) -> None:
    """No pre-ping, no BEGIN or COMMIT: the one SELECT, on a connection in autocommit."""
    store = SQLTokenStore.from_url(db.url)
    try:
        store.add(_record("one"))
        assert store.get("one") is not None  # the connection exists and has been used
        seen = _statements(store.engine)
        assert store.get("one") is not None
        assert store.get("none") is None
        assert len(seen) == 2
        assert all(each.lstrip().upper().startswith("SELECT") for each in seen)
        with store.engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            assert store.engine.dialect.detect_autocommit_setting(dbapi)
    finally:
        store.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sqlite_file_is_in_wal_mode(db: Db) -> None:
    """Readers never wait for a writer: the store puts its file in WAL mode."""
    store = SQLTokenStore.from_url(db.url)
    try:
        store.add(_record("wal"))
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        store.close()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_a_given_engine_gets_a_transaction_per_statement(db: Db) -> None:
    """An engine the caller configured (not in autocommit) still has every write committed."""
    base = make_url(db.url).difference_update_query(["table_prefix"])
    engine = create_engine(base)
    store = SQLTokenStore(engine, schema=db.schema)
    try:
        store.add(_record("given"))
        with db.engine.connect() as conn:
            tokens = db.schema.tokens
            found = conn.execute(select(tokens.c.jti).where(tokens.c.jti == "given")).all()
        assert len(found) == 1
        assert store.get("given") is not None
        assert store.remove("given") is True
        assert store.get("given") is None
    finally:
        engine.dispose()


def _terminate(db: Db, name: str) -> int:
    with db.engine.begin() as conn:
        killed: int = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": name},
        ).scalar_one()
    return killed


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_dead_connection_is_replaced_for_a_read_and_fails_a_write_closed(db: Db) -> None:
    """The server drops the pooled connection: a read runs again on a new one and answers;
    a write is not run again (its first try may have been done) and fails closed."""
    name = "tokenauth-retry-test"
    store = open_store(with_query(db.url, application_name=name))
    try:
        record = _record("retry")
        store.add(record)
        assert _terminate(db, name) == 1
        assert store.get(record.jti) == record
        assert _terminate(db, name) == 1
        with pytest.raises(StoreUnreachableError):
            store.remove(record.jti)
        assert store.get(record.jti) == record  # the failed write did nothing
        assert store.remove(record.jti) is True
    finally:
        store.close()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_async_dead_connection_is_replaced_for_a_read_and_fails_a_write_closed(
    db: Db, driver: str
) -> None:
    """The async store follows the same rule as the sync one."""

    async def terminate(store: Any) -> None:
        # The store's one pooled connection (one task uses one): its server process.
        async with store.engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        with db.engine.begin() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            assert killed.scalar_one() is True

    async def scenario() -> None:
        store: Any = open_async_store(with_driver(db.url, driver))
        try:
            record = _record("aretry")
            await store.add(record)
            await terminate(store)
            assert await store.get(record.jti) == record
            await terminate(store)
            with pytest.raises(StoreUnreachableError):
                await store.remove(record.jti)
            assert await store.get(record.jti) == record
            assert await store.remove(record.jti) is True
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_a_lookup_on_the_driver_answers_as_sqlalchemy_does(db: Db) -> None:
    """The plain path (the driver's own cursor) and SQLAlchemy's give the same records."""
    plain = SQLTokenStore.from_url(db.url)
    layered = SQLTokenStore.from_url(db.url)
    _statements(layered.engine)  # a statement listener: every statement goes through SQLAlchemy
    try:
        for jti in ("one", "Zoë ☃", "x" * 64):
            plain.add(_record(jti))
        for jti in ("one", "Zoë ☃", "x" * 64, "none", "ONE", "one "):
            assert plain.get(jti) == layered.get(jti)
        assert [each is not None for each in plain._plain.values()] == [True]
        assert layered._plain == {}
    finally:
        plain.close()
        layered.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_plain_lookup_is_one_select(db: Db) -> None:
    """Seen by SQLite itself: a lookup on the plain path runs the one SELECT."""
    store = SQLTokenStore.from_url(db.url)
    seen: list[str] = []

    @event.listens_for(store.engine, "connect")
    def _trace(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    try:
        store.add(_record("traced"))
        seen.clear()
        assert store.get("traced") is not None
        assert store.get("untraced") is None
        assert len(seen) == 2
        assert all(each.startswith("SELECT") for each in seen)
    finally:
        store.close()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_an_asyncpg_lookup_on_the_driver_answers_as_sqlalchemy_does(db: Db) -> None:
    """asyncpg's plain path and SQLAlchemy's give the same records; a server's refusal
    (a missing table) is the same StoreError with its fix."""

    async def scenario() -> None:
        url = with_driver(db.url, "asyncpg")
        plain: Any = AsyncSQLTokenStore.from_url(url)
        layered: Any = AsyncSQLTokenStore.from_url(url)
        _statements(layered.engine.sync_engine)
        try:
            for jti in ("one", "Zoë ☃"):
                await plain.add(_record(jti))
            for jti in ("one", "Zoë ☃", "none", "one "):
                assert await plain.get(jti) == await layered.get(jti)
            assert [each is not None for each in plain._plain.values()] == [True]
            assert layered._plain == {}
        finally:
            await plain.aclose()
            await layered.aclose()
        missing: Any = AsyncSQLTokenStore.from_url(with_query(url, table_prefix="nosuch_"))
        try:
            with pytest.raises(StoreError, match="tables are missing"):
                await missing.get("one")
        finally:
            await missing.aclose()

    asyncio.run(scenario())
