"""Fail closed: a Redis that is down or hung makes every operation raise StoreError, promptly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenauth import StoreError, StoreUnreachableError, TokenRecord, open_async_store, open_store

from ._servers import RedisServer, free_port, redis_server, require_redis_server

#: Short timeouts for these tests, and the bound every failing call must meet: two
#: attempts of connect plus reply timeouts, one backoff, and a wide margin for a busy machine.
OPTIONS = "socket_timeout=0.5&connect_timeout=0.5&retries=1"
BOUND = 2 * (0.5 + 0.5) + 0.5 + 3.0


# Records live an hour from import: far longer than the suite runs, so Redis keeps them.
NOW = int(time.time())


def _record(jti: str) -> TokenRecord:
    now = NOW
    return TokenRecord(
        jti=jti, subject="alice", issued_at=now, expires_at=now + 3600, method="password"
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with redis_server(tmp_path) as started:
        yield started


def _operations(store: Any) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: store.get("f-1"),
        "add": lambda: store.add(_record("f-2")),
        "remove": lambda: store.remove("f-1"),
        "list_subject": lambda: store.list_subject("alice"),
        "remove_subject": lambda: store.remove_subject("alice"),
        "purge_expired": lambda: store.purge_expired(int(time.time())),
    }


def _fails_promptly(call: Callable[[], Any], error: type[StoreError]) -> None:
    started = time.monotonic()
    with pytest.raises(error):
        call()
    assert time.monotonic() - started < BOUND


def test_down_redis_raises_store_unreachable_then_recovers(server: RedisServer) -> None:
    """With Redis killed, every operation raises StoreUnreachableError; after a restart all work."""
    store = open_store(f"{server.url}?{OPTIONS}")
    try:
        store.add(_record("f-1"))
        assert store.get("f-1") == _record("f-1")
        server.kill()
        for call in _operations(store).values():
            _fails_promptly(call, StoreUnreachableError)
        server.start()
        # The restarted server kept nothing (no persistence): the store works on it at once.
        assert store.get("f-1") is None
        store.add(_record("f-1"))
        assert store.get("f-1") == _record("f-1")
        assert store.remove_subject("alice") == 1
    finally:
        store.close()


def test_hung_redis_times_out_then_recovers(server: RedisServer) -> None:
    """A server that accepts connections but never answers (SIGSTOP) fails reads in time."""
    store = open_store(f"{server.url}?{OPTIONS}")
    try:
        store.add(_record("f-1"))
        server.pause()
        try:
            for name in ("get", "list_subject"):
                _fails_promptly(_operations(store)[name], StoreUnreachableError)
        finally:
            server.resume()
        assert store.get("f-1") == _record("f-1")
    finally:
        store.close()


def test_async_down_redis_raises_store_unreachable_then_recovers(server: RedisServer) -> None:
    """The async store fails closed the same way, and recovers on the same event loop."""

    async def scenario() -> None:
        store = open_async_store(f"{server.url}?{OPTIONS}")
        try:
            await store.add(_record("f-1"))
            assert await store.get("f-1") == _record("f-1")
            server.kill()
            for name, call in _operations(store).items():
                started = time.monotonic()
                with pytest.raises(StoreUnreachableError):
                    await call()
                assert time.monotonic() - started < BOUND, name
            server.start()
            await store.add(_record("f-1"))
            assert await store.get("f-1") == _record("f-1")
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_store_opens_while_redis_is_down(tmp_path: Path) -> None:
    """Opening needs no connection: a server can start before Redis and answer 503 meanwhile."""
    require_redis_server()
    server = RedisServer(tmp_path, free_port())
    store = open_store(f"{server.url}?{OPTIONS}")
    try:
        _fails_promptly(lambda: store.get("f-1"), StoreUnreachableError)
        server.start()
        assert store.get("f-1") is None
    finally:
        store.close()
        server.kill()
