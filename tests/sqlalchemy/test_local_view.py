"""The PostgreSQL local view: the same contract, revocations from elsewhere seen, gaps fail closed.

Speed is measured in ``benchmarks/sql.py``; these tests only wait (boundedly) for
what must happen, and never assert how fast.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url

from tests.redis.test_two_processes import Child
from tests.sqlalchemy.conftest import Db, make_db, with_driver, with_query
from tests.sqlalchemy.proxy import Proxy
from tokenauth import (
    AsyncTokenStore,
    ConfigurationError,
    StoreUnreachableError,
    TokenRecord,
    TokenStore,
    open_async_store,
    open_store,
)
from tokenauth.testing import AsyncTokenStoreContract, TokenStoreContract
from tokenauth_sqlalchemy._url import parse_url
from tokenauth_sqlalchemy._view import MISS, LocalView

TIMEOUT = 10.0


def viewed(url: str, **options: str) -> str:
    return with_query(url, local_view="true", **options)


def wait_current(store: Any) -> LocalView:
    view: LocalView = store._view
    deadline = time.monotonic() + TIMEOUT
    while not view.current:
        assert time.monotonic() < deadline, "the local view never started listening"
        time.sleep(0.01)
    return view


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def kept(store: Any, view: LocalView, jti: str) -> bool:
    """Whether ``jti``'s record is in the store and, after a lookup, in the view."""
    # A lookup right after another client's add can race that add's notification
    # (which voids the answer), so the callers ask until the answer sticks.
    return store.get(jti) is not None and view.lookup(jti) is not MISS


def record(jti: str) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(
        jti=jti, subject="alice", issued_at=now, expires_at=now + 3600, method="password"
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    """This test's tables on PostgreSQL, the one database with a local view."""
    database = make_db("postgresql", tmp_path)
    try:
        yield database
    finally:
        database.drop()
        database.engine.dispose()


class TestLocalViewContract(TokenStoreContract):
    @pytest.fixture
    def store_factory(self, db: Db) -> Callable[[], TokenStore]:
        def make() -> TokenStore:
            db.clear()
            store = open_store(viewed(db.url))
            wait_current(store)
            return store

        return make


class TestAsyncLocalViewContract(AsyncTokenStoreContract):
    @pytest.fixture
    def async_store_factory(self, db: Db) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            db.clear()
            store = open_async_store(viewed(db.async_url))
            wait_current(store)
            return store

        return make


@pytest.fixture
def stores(db: Db) -> Iterator[tuple[Any, TokenStore]]:
    """A store with a local view and a plain one, on the same tables."""
    store: Any = open_store(viewed(db.url))
    other = open_store(db.url)
    try:
        yield store, other
    finally:
        store.close()
        other.close()


def test_a_removal_elsewhere_reaches_the_view(stores: tuple[Any, TokenStore]) -> None:
    """Another client's remove reaches this store's view without any call of ours; once
    its notification has been applied the record is never served again."""
    store, other = stores
    view = wait_current(store)
    other.add(record("lv-a"))
    wait_for(lambda: kept(store, view, "lv-a"), "never kept")
    assert other.remove("lv-a") is True
    wait_for(lambda: view.lookup("lv-a") is MISS, "the revocation never reached the view")
    for _ in range(100):
        assert store.get("lv-a") is None


def test_any_writer_is_heard(db: Db, stores: tuple[Any, TokenStore]) -> None:
    """The trigger announces writes made by plain SQL too, TRUNCATE included."""
    store, other = stores
    view = wait_current(store)
    for jti in ("lv-sql", "lv-t1", "lv-t2"):
        other.add(record(jti))
    for jti in ("lv-sql", "lv-t1", "lv-t2"):
        wait_for(functools.partial(kept, store, view, jti), "never kept")
    with db.engine.begin() as conn:
        conn.execute(delete(db.schema.tokens).where(db.schema.tokens.c.jti == "lv-sql"))
    wait_for(lambda: view.lookup("lv-sql") is MISS, "a DELETE in SQL never reached the view")
    assert store.get("lv-sql") is None
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {db.schema.tokens.name}"))
    wait_for(lambda: len(view) == 0 or view.lookup("lv-t1") is MISS, "TRUNCATE was not heard")
    assert store.get("lv-t1") is None
    assert store.get("lv-t2") is None


def test_own_writes_are_seen_at_once(stores: tuple[Any, TokenStore]) -> None:
    store, _ = stores
    wait_current(store)
    store.add(record("lv-c"))
    assert store.get("lv-c") is not None
    assert store.remove("lv-c") is True
    assert store.get("lv-c") is None
    store.add(record("lv-c"))
    assert store.get("lv-c") is not None
    assert store.remove_subject("alice") == 1
    assert store.get("lv-c") is None
    store.add(record("lv-d"))
    assert store.get("lv-d") is not None
    assert store.purge_expired(int(time.time()) + 7200) == 1
    assert store.get("lv-d") is None


def test_a_lost_listening_connection_empties_the_view(
    db: Db, stores: tuple[Any, TokenStore]
) -> None:
    """Killed by the server: the view stops answering and is emptied, answers from the
    database meanwhile, then listens anew."""
    store, _ = stores
    view = wait_current(store)
    store.add(record("lv-e"))
    wait_for(functools.partial(kept, store, view, "lv-e"), "never kept")
    pid = view.backend_pid
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
    # Removed behind the view's back, with nothing listening: never answered stale.
    with db.engine.begin() as conn:
        conn.execute(delete(db.schema.tokens).where(db.schema.tokens.c.jti == "lv-e"))
    wait_for(lambda: view.backend_pid != pid or not view.current, "never noticed")
    assert store.get("lv-e") is None
    wait_for(lambda: view.current and view.backend_pid != pid, "never listened again")
    assert store.get("lv-e") is None


@pytest.fixture
def proxied(db: Db) -> Iterator[tuple[Proxy, Any]]:
    """A store with a local view that reaches PostgreSQL through a loopback proxy, with its
    listening connection: short timeouts, and a view that trusts itself for 0.5 s."""
    target = make_url(db.url)
    with Proxy((target.host or "127.0.0.1", target.port or 0)) as proxy:
        url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        store: Any = open_store(viewed(url, timeout="2", local_view_max_lag="0.5"))
        try:
            wait_current(store)
            yield proxy, store
        finally:
            store.close()


def test_a_cut_database_fails_closed(proxied: tuple[Proxy, Any]) -> None:
    """The database and the listening connection cut together: the view empties itself and
    every lookup is StoreUnreachableError (503), never a record from memory."""
    proxy, store = proxied
    view = store._view
    store.add(record("lv-f"))
    wait_for(functools.partial(kept, store, view, "lv-f"), "never kept")
    proxy.cut()
    wait_for(lambda: not view.current and len(view) == 0, "the view kept answering")
    with pytest.raises(StoreUnreachableError):
        store.get("lv-f")
    proxy.restore()
    wait_current(store)
    assert store.get("lv-f") is not None


def test_a_silent_listening_connection_stops_the_view(proxied: tuple[Proxy, Any]) -> None:
    """A connection that stays open but carries nothing: after max_lag the view no longer
    answers, and lookups go to the database."""
    proxy, store = proxied
    view = store._view
    store.add(record("lv-g"))
    wait_for(functools.partial(kept, store, view, "lv-g"), "never kept")
    proxy.blackhole()
    wait_for(lambda: not view.current, "the view trusted a silent connection")
    assert view.lookup("lv-g") is MISS
    with pytest.raises(StoreUnreachableError):
        store.get("lv-g")
    proxy.restore()
    wait_current(store)
    assert store.get("lv-g") is not None


def test_revocation_in_one_process_is_refused_by_another(db: Db) -> None:
    """Two processes: the other holds the record in its view; this one removes it."""
    store = open_store(db.url)
    child = Child(viewed(db.url))
    try:
        store.add(record("lv-b"))
        wait_for(lambda: child.ask("get", "lv-b") == "present", "never present")
        assert child.ask("get", "lv-b") == "present"
        assert store.remove("lv-b") is True
        wait_for(lambda: child.ask("get", "lv-b") == "absent", "never revoked")
        assert child.ask("remove", "lv-b") == "not-removed"
    finally:
        try:
            child.close()
        finally:
            store.close()


def test_lookups_in_flight_together_keep_the_first_answer(stores: tuple[Any, TokenStore]) -> None:
    """News of a jti voids every answer asked before it; overlapping lookups share one."""
    store, _ = stores
    view = wait_current(store)
    kept = record("kept")
    first, second = view.reserve("kept"), view.reserve("kept")
    assert first is not None
    assert second is first
    view.fill("kept", first, kept)
    view.fill("kept", second, None)
    assert view.lookup("kept") == kept
    early = view.reserve("raced")
    view.forget(["raced"])
    late = view.reserve("raced")
    assert late is not early
    view.fill("raced", early, record("raced"))
    assert view.lookup("raced") is MISS
    view.fill("raced", late, None)
    assert view.lookup("raced") is None


def test_a_table_without_the_trigger_is_never_followed(db: Db) -> None:
    """Tables made before migration 0002 (or by hand): the view stays off, lookups work."""
    with db.engine.begin() as conn:
        conn.execute(
            text(f"DROP TRIGGER {db.schema.prefix}tokens_notify ON {db.schema.tokens.name}")
        )
    store: Any = open_store(viewed(db.url))
    try:
        store.add(record("lv-h"))
        time.sleep(0.3)
        assert not store._view.current
        assert store.get("lv-h") is not None
        assert store._view.lookup("lv-h") is MISS
    finally:
        store.close()


def test_local_view_needs_postgresql() -> None:
    for url in ("sqlite:///x.db", "mysql+pymysql://root@127.0.0.1/test"):
        with pytest.raises(ConfigurationError, match="PostgreSQL"):
            parse_url(viewed(url))
    with pytest.raises(ConfigurationError, match="local_view"):
        parse_url("postgresql://h/db?local_view=maybe")
    with pytest.raises(ConfigurationError, match="local_view_max_lag"):
        parse_url("postgresql://h/db?local_view=true&local_view_max_lag=0")
    parsed = parse_url("postgresql://h/db?local_view=1&local_view_size=5&local_view_max_lag=2")
    assert (parsed.local_view, parsed.local_view_size, parsed.local_view_max_lag) == (True, 5, 2.0)


def test_async_store_sees_removals_elsewhere(db: Db) -> None:
    """The async store (asyncpg) answers from the same kind of view."""
    import asyncio

    async def scenario() -> None:
        store: Any = open_async_store(viewed(with_driver(db.url, "asyncpg")))
        other = open_store(db.url)
        try:
            view = wait_current(store)
            other.add(record("lv-i"))
            assert await store.get("lv-i") is not None
            deadline = time.monotonic() + TIMEOUT
            while view.lookup("lv-i") is MISS:
                assert time.monotonic() < deadline
                await store.get("lv-i")
                await asyncio.sleep(0.001)
            assert other.remove("lv-i") is True
            wait_for(lambda: view.lookup("lv-i") is MISS, "the revocation never arrived")
            assert await store.get("lv-i") is None
        finally:
            await store.aclose()
            other.close()

    asyncio.run(scenario())
