"""A hung database: every request is answered 503 within the documented bound, on every driver.

The proxy in front of the real server stalls (every connection stays open, new
ones are accepted, nothing is answered: what a SIGSTOPped server looks like to
its clients), and a front door on the store answers concurrent requests. The
bound is the adapter's documented one, three times the URL's ``timeout``, end
to end: pool wait, pre-ping, connect, statement and the driver's cancellation
clean-up. Then the proxy forwards again and the same store recovers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.sqlalchemy.conftest import Db, via, with_driver, with_query
from tests.sqlalchemy.proxy import Proxy
from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    KeySet,
    Principal,
    StoreUnavailable,
    StoreUnreachableError,
    TokenAuth,
    open_async_store,
    open_store,
)
from tokenauth._jwt import JWTIssuer

#: The URL's ``timeout``; the documented bound is three of them.
TIMEOUT = 1.0
BOUND = 3 * TIMEOUT
#: Allowance for a loaded test machine on top of the bound (threads, scheduling).
SLACK = 1.5
#: Requests in flight at once while the database hangs: more than the pool's 5.
CONCURRENT = 8
#: How long recovery may take once the database answers again.
RECOVERY = BOUND + SLACK

KEYS = KeySet.generate("HS256")

SYNC = [("postgresql", "psycopg"), ("mariadb", "pymysql")]
ASYNC = [("postgresql", "psycopg"), ("postgresql", "asyncpg"), ("mariadb", "aiomysql")]


def _token(store_add: Any) -> str:
    issued = JWTIssuer(KEYS, ttl=600).issue(Principal("alice", "password"), now=int(time.time()))
    store_add(issued.record)
    return f"Bearer {issued.token}"


def _timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize(("db", "driver"), SYNC, indirect=["db"], ids=[f"{s}-{d}" for s, d in SYNC])
def test_hung_database_sync_answers_503_within_the_bound(db: Db, proxy: Proxy, driver: str) -> None:
    """Sync driver, server hung: every concurrent request gets 503 within 3 x timeout."""
    store = open_store(with_driver(via(db.url, proxy, TIMEOUT), driver))
    auth = TokenAuth(keys=KEYS, store=store)
    try:
        header = _token(store.add)
        with ThreadPoolExecutor(CONCURRENT) as pool:
            # Warm the pool: connections exist and are idle when the server hangs.
            warm = list(pool.map(lambda _: auth.authenticate(header, secure=True), range(8)))
            assert all(isinstance(r, Authenticated) for r in warm)
            proxy.stall()

            def hung(_: int) -> tuple[Any, float]:
                return _timed(lambda: auth.authenticate(header, secure=True))

            answers = list(pool.map(hung, range(CONCURRENT)))
        for result, took in answers:
            assert isinstance(result, StoreUnavailable), result
            assert result.status == 503
            assert took < BOUND + SLACK, f"a request took {took:.2f} s, bound {BOUND} s"
        proxy.restore()
        _recovers(lambda: auth.authenticate(header, secure=True))
    finally:
        proxy.restore()
        store.close()


def _recovers(call: Any) -> None:
    started = time.monotonic()
    while not isinstance(call(), Authenticated):
        assert time.monotonic() - started < RECOVERY, "the store did not recover in time"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("db", "driver"), ASYNC, indirect=["db"], ids=[f"{s}-{d}" for s, d in ASYNC]
)
def test_hung_database_async_answers_503_within_the_bound(
    db: Db, proxy: Proxy, driver: str
) -> None:
    """Async driver, server hung: 503 within 3 x timeout, its cancellation clean-up included."""

    async def scenario() -> None:
        store = open_async_store(with_driver(via(db.url, proxy, TIMEOUT), driver))
        auth = AsyncTokenAuth(keys=KEYS, store=store)
        try:
            issued = JWTIssuer(KEYS, ttl=600).issue(
                Principal("alice", "password"), now=int(time.time())
            )
            await store.add(issued.record)
            header = f"Bearer {issued.token}"
            warm = await asyncio.gather(
                *(auth.authenticate(header, secure=True) for _ in range(CONCURRENT))
            )
            assert all(isinstance(r, Authenticated) for r in warm)
            proxy.stall()

            async def hung() -> tuple[Any, float]:
                started = time.monotonic()
                result = await auth.authenticate(header, secure=True)
                return result, time.monotonic() - started

            for result, took in await asyncio.gather(*(hung() for _ in range(CONCURRENT))):
                assert isinstance(result, StoreUnavailable), result
                assert took < BOUND + SLACK, f"a request took {took:.2f} s, bound {BOUND} s"
            proxy.restore()
            started = time.monotonic()
            while not isinstance(await auth.authenticate(header, secure=True), Authenticated):
                assert time.monotonic() - started < RECOVERY, "the store did not recover in time"
                await asyncio.sleep(0.05)
        finally:
            proxy.restore()
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_locked_sqlite_file_async_answers_503_within_the_bound(db: Db) -> None:
    """aiosqlite, the file held by another process's writer: 503 within 3 x timeout, then 200."""
    path = make_url(db.url).database
    assert path is not None

    async def scenario() -> None:
        store = open_async_store(with_query(db.async_url, timeout=f"{TIMEOUT:g}"))
        auth = AsyncTokenAuth(keys=KEYS, store=store)
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            issued = JWTIssuer(KEYS, ttl=600).issue(
                Principal("alice", "password"), now=int(time.time())
            )
            await store.add(issued.record)
            header = f"Bearer {issued.token}"
            assert isinstance(await auth.authenticate(header, secure=True), Authenticated)
            # A login's write waits for the other writer's lock: the busy timeout gives
            # up within the deadline (WAL readers never wait, so reads go on meanwhile).
            locker.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            with pytest.raises(StoreUnreachableError):
                await store.add(
                    JWTIssuer(KEYS, ttl=600)
                    .issue(Principal("bob", "password"), now=int(time.time()))
                    .record
                )
            took = time.monotonic() - started
            assert took < BOUND + SLACK, f"a write took {took:.2f} s, bound {BOUND} s"
            locker.execute("ROLLBACK")
            assert isinstance(await auth.authenticate(header, secure=True), Authenticated)
        finally:
            locker.close()
            await store.aclose()

    asyncio.run(scenario())
