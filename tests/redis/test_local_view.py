"""The Redis store's local view: the same contract, and revocations from elsewhere seen.

Speed is measured in ``benchmarks/``; these tests only wait (boundedly) for what
must happen, and never assert how fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from tokenauth import (
    AsyncTokenStore,
    ConfigurationError,
    TokenRecord,
    TokenStore,
    open_async_store,
    open_store,
)
from tokenauth.testing import (
    AsyncRefreshStoreContract,
    AsyncTokenStoreContract,
    RefreshStoreContract,
    TokenStoreContract,
)
from tokenauth_redis import parse_url
from tokenauth_redis._view import MISS

from .conftest import with_option
from .test_two_processes import Child

TIMEOUT = 10.0


def viewed(url: str) -> str:
    return with_option(url, "local_view", "true")


def wait_current(store: Any) -> Any:
    view = store._view
    deadline = time.monotonic() + TIMEOUT
    while not view.current:
        assert time.monotonic() < deadline, "the local view never started tracking"
        time.sleep(0.01)
    return view


def record(jti: str) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(
        jti=jti, subject="alice", issued_at=now, expires_at=now + 3600, method="password"
    )


class TestLocalViewContract(TokenStoreContract, RefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def store_factory(self, store_urls: Callable[[], str]) -> Callable[[], TokenStore]:
        def make() -> TokenStore:
            store = open_store(viewed(store_urls()))
            wait_current(store)
            return store

        return make


class TestAsyncLocalViewContract(AsyncTokenStoreContract, AsyncRefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def async_store_factory(
        self, store_urls: Callable[[], str]
    ) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            store = open_async_store(viewed(store_urls()))
            wait_current(store)
            return store

        return make


def test_a_removal_elsewhere_empties_the_view(store_urls: Callable[[], str]) -> None:
    """Another client's remove reaches this store's view without any call of ours."""
    url = store_urls()
    store = open_store(viewed(url))
    other = open_store(url)
    try:
        view = wait_current(store)
        store.add(record("lv-a"))
        assert store.get("lv-a") is not None
        assert view.lookup("lv-a") is not None  # answered from memory now
        assert other.remove("lv-a") is True
        deadline = time.monotonic() + TIMEOUT
        while store.get("lv-a") is not None:
            assert time.monotonic() < deadline, "the revocation never reached the view"
            time.sleep(0.001)
    finally:
        store.close()
        other.close()


def test_revocation_in_one_process_is_refused_by_another(store_urls: Callable[[], str]) -> None:
    """Two processes: the other holds the record in its view; this one removes it."""
    url = store_urls()
    store = open_store(url)
    child = Child(viewed(url))
    try:
        store.add(record("lv-b"))
        assert child.ask("get", "lv-b") == "present"
        assert child.ask("get", "lv-b") == "present"
        assert store.remove("lv-b") is True
        deadline = time.monotonic() + TIMEOUT
        while child.ask("get", "lv-b") != "absent":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert child.ask("remove", "lv-b") == "not-removed"
    finally:
        try:
            child.close()
        finally:
            store.close()


def test_own_writes_are_seen_at_once(store_urls: Callable[[], str]) -> None:
    store = open_store(viewed(store_urls()))
    try:
        wait_current(store)
        store.add(record("lv-c"))
        assert store.get("lv-c") is not None
        assert store.remove("lv-c") is True
        assert store.get("lv-c") is None
        store.add(record("lv-c"))
        assert store.get("lv-c") is not None
        assert store.remove_subject("alice") == 1
        assert store.get("lv-c") is None
    finally:
        store.close()


def test_a_lost_tracking_connection_empties_the_view(
    store_urls: Callable[[], str], redis_url: str
) -> None:
    """Killed by the server: the view stops answering and is emptied, then tracks anew."""
    url = store_urls()
    store = open_store(viewed(url))
    raw = redis.Redis.from_url(redis_url)
    try:
        view = wait_current(store)
        store.add(record("lv-d"))
        assert store.get("lv-d") is not None
        assert len(view) == 1
        connection = view._connection
        assert connection is not None
        raw.client_kill_filter(_id=view.client_id)
        deadline = time.monotonic() + TIMEOUT
        while view._connection is connection:
            assert time.monotonic() < deadline, "the view never noticed its connection died"
            time.sleep(0.005)
        assert len(view) == 0
        # Removed behind the view's back while it was not tracking: never answered stale.
        prefix = parse_url(url).prefix
        raw.delete(f"{prefix}t:lv-d")
        assert store.get("lv-d") is None
        wait_current(store)
        assert store.get("lv-d") is None
    finally:
        raw.close()
        store.close()


def test_local_view_needs_one_server() -> None:
    """Sentinel fail-over and Cluster slots are not followed: refused, not half-supported."""
    for url in ("redis+cluster://127.0.0.1:7000", "redis+sentinel://127.0.0.1/mymaster"):
        with pytest.raises(ConfigurationError):
            parse_url(with_option(url, "local_view", "true"))


def test_lookups_in_flight_together_keep_the_first_answer(store_urls: Callable[[], str]) -> None:
    """Under load, many lookups of a missing jti overlap: one answer must stick, or the
    view never serves that jti. News of the jti voids every answer asked before it."""
    store: Any = open_store(viewed(store_urls()))
    try:
        view = wait_current(store)
        kept = record("kept")
        first, second = view.reserve("kept"), view.reserve("kept")
        assert first is not None
        assert second is first
        view.fill("kept", first, kept)
        view.fill("kept", second, None)  # a later answer of the same round changes nothing
        assert view.lookup("kept") == kept
        # News between the reservations: the earlier answer is void, the later one kept.
        early = view.reserve("raced")
        view.forget(["raced"])
        late = view.reserve("raced")
        assert late is not early
        view.fill("raced", early, record("raced"))
        assert view.lookup("raced") is MISS
        view.fill("raced", late, None)
        assert view.lookup("raced") is None
    finally:
        store.close()


def test_the_view_works_in_a_process_with_many_descriptors(
    store_urls: Callable[[], str],
) -> None:
    """A busy server holds more than 1,024 descriptors, which select() cannot watch: the
    view keeps tracking with a descriptor numbered past that, and still hears news."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the descriptor limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    url = store_urls()
    held: list[int] = []
    store: Any = None
    other = open_store(url)
    try:
        while len(held) < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        store = open_store(viewed(url))
        view = wait_current(store)
        assert view._connection._sock.fileno() >= 1024
        store.add(record("lv-many"))
        assert store.get("lv-many") is not None
        time.sleep(0.6)  # a few rounds of the tracking thread's waits and pings
        assert view.current
        assert view.lookup("lv-many") is not MISS  # still answered from memory
        assert other.remove("lv-many") is True
        deadline = time.monotonic() + TIMEOUT
        while store.get("lv-many") is not None:
            assert time.monotonic() < deadline, "the revocation never reached the view"
            time.sleep(0.001)
    finally:
        if store is not None:
            store.close()
        other.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_session_that_ends_is_forgotten_at_once(store_urls: Callable[[], str]) -> None:
    """Ending a login session drops its access tokens from this process's view at once."""
    from tokenauth import Principal
    from tokenauth._refresh import Sessions

    sessions = Sessions(3600, 7200, None)
    store: Any = open_store(viewed(store_urls()))
    try:
        wait_current(store)
        now = int(time.time())
        session = sessions.new_id()
        _, first = sessions.first(session, Principal("alice", "password"), now)
        store.start_session(first)
        access = TokenRecord(
            jti=f"{session}.{'a' * 22}", subject="alice", issued_at=now,
            expires_at=now + 3600, method="password", session=session,
        )  # fmt: skip
        store.add(access)
        # News of the add's own writes may reach the view after its first lookup and void
        # that answer, and a loaded machine may let the view's proof of being current
        # lapse: ask again until the view holds the record.
        deadline = time.monotonic() + TIMEOUT
        while store._view.lookup(access.jti) != access:
            assert time.monotonic() < deadline, "the view did not keep the record"
            wait_current(store)
            assert store.get(access.jti) == access
        assert store.revoke_session(session) == 2
        assert store._view.lookup(access.jti) is MISS
        assert store.get(access.jti) is None
    finally:
        store.close()
