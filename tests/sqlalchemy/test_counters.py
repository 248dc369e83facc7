"""Login counters in SQL: the counter contract (a Hypothesis model test and a race), sync
and async, on SQLite, PostgreSQL and MariaDB; purging; and the refusal on MySQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import mysql

from tests.sqlalchemy.conftest import Db
from tokenauth import (
    AsyncLoginCounters,
    ConfigurationError,
    LoginCounters,
    Window,
    open_async_counters,
    open_counters,
)
from tokenauth.testing import AsyncLoginCountersContract, LoginCountersContract
from tokenauth_sqlalchemy import SQLCounters
from tokenauth_sqlalchemy._counters import _refused_returning

SERVERS = ["sqlite", "postgresql", "mariadb"]


def _emptied(db: Db) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(db.schema.login_counters))


class _Sync(LoginCountersContract):
    backend = ""

    @pytest.fixture
    def counters_factory(self, db: Db) -> Callable[[], LoginCounters]:
        def make() -> LoginCounters:
            _emptied(db)
            return open_counters(db.url)

        return make


class _Async(AsyncLoginCountersContract):
    backend = ""

    @pytest.fixture
    def async_counters_factory(
        self, db: Db
    ) -> Callable[[], Awaitable[AsyncLoginCounters | LoginCounters]]:
        async def make() -> AsyncLoginCounters | LoginCounters:
            _emptied(db)
            return open_async_counters(db.async_url)

        return make


class TestSQLiteCounters(_Sync):
    backend = "sqlite"


class TestPostgreSQLCounters(_Sync):
    backend = "postgresql"


class TestMariaDBCounters(_Sync):
    backend = "mariadb"


class TestAsyncSQLiteCounters(_Async):
    backend = "sqlite"


class TestAsyncPostgreSQLCounters(_Async):
    backend = "postgresql"


class TestAsyncMariaDBCounters(_Async):
    backend = "mariadb"


@pytest.mark.parametrize("db", ["postgresql", "mariadb"], indirect=True)
def test_many_threads_each_see_their_own_place(db: Db) -> None:
    """32 threads hit one key 8 times each at once: 256 distinct counts, none lost."""
    counters = open_counters(db.url)
    now = int(time.time())
    barrier = threading.Barrier(32)
    seen: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        barrier.wait()
        mine = [counters.hit("acct:race", now, 60).count for _ in range(8)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(32)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(seen) == list(range(1, 257))
        assert counters.get("acct:race", now) == Window(256, now + 60)
    finally:
        counters.close()


@pytest.mark.parametrize("db", SERVERS, indirect=True)
def test_ended_windows_are_purged_as_the_counters_are_used(db: Db) -> None:
    """A hit purges windows that ended over a minute ago; open and recent ones stay."""
    counters = SQLCounters(db.engine, schema=db.schema, purge_interval=0)
    table = db.schema.login_counters

    def rows() -> int:
        with db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    now = int(time.time())
    for i in range(50):
        counters.hit(f"client:192.0.2.{i}", now, 10)  # these end at now + 10
    counters.hit("acct:long", now, 600)
    assert rows() == 51
    counters.hit("acct:other", now + 10 + 60, 600)  # ended exactly a minute ago: kept
    assert rows() == 52
    counters.hit("acct:other", now + 10 + 61, 600)  # ended more than a minute ago: purged
    assert rows() == 2
    assert counters.get("acct:long", now + 71) == Window(1, now + 600)
    assert counters.purge_ended(now + 10_000) == 2


def test_mysql_is_refused_with_the_fix() -> None:
    """MySQL has no INSERT ... RETURNING: the counters say so and name Redis instead."""
    dialect = mysql.dialect()
    assert _refused_returning(dialect) is None  # not connected yet: not known
    dialect.server_version_info = (8, 0, 36)
    refusal = _refused_returning(dialect)
    assert isinstance(refusal, ConfigurationError)
    assert "redis://" in str(refusal)
    dialect.is_mariadb = True
    dialect.server_version_info = (10, 11, 6)
    assert _refused_returning(dialect) is None
