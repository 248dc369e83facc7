"""redis+sentinel:// URLs: the store finds the master through a Sentinel the test starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenauth import TokenRecord, open_async_store, open_store

from ._servers import RedisServer, redis_sentinel, require_redis_server

NOW = int(time.time())
RECORD = TokenRecord(
    jti="via-sentinel", subject="alice", issued_at=NOW, expires_at=NOW + 60, method="password"
)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with redis_sentinel(tmp_path, "tokens") as started:
        yield started


def test_sync_store_through_sentinel(sentinel: RedisServer) -> None:
    """Records written through a Sentinel-discovered master read back and remove."""
    store = open_store(f"redis+sentinel://127.0.0.1:{sentinel.port}/tokens/0?prefix=s:")
    try:
        store.add(RECORD)
        assert store.get(RECORD.jti) == RECORD
        assert store.list_subject("alice") == [RECORD]
        assert store.remove_subject("alice") == 1
    finally:
        store.close()


def test_async_store_through_sentinel(sentinel: RedisServer) -> None:
    """The async store finds the master through the Sentinel the same way."""

    async def scenario() -> None:
        store = open_async_store(f"redis+sentinel://127.0.0.1:{sentinel.port}/tokens/0")
        try:
            await store.add(RECORD)
            assert await store.get(RECORD.jti) == RECORD
            assert await store.remove(RECORD.jti) is True
        finally:
            await store.aclose()

    asyncio.run(scenario())
