"""redis+sentinel:// URLs: the store finds the master through a Sentinel the test starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenauth import TokenRecord, open_async_store, open_store

from ._servers import RedisServer, redis_sentinel, require_redis_server


def fresh_record() -> TokenRecord:
    """A record that expires a minute from now (made when the test runs, not at import)."""
    now = int(time.time())
    return TokenRecord(
        jti="via-sentinel", subject="alice", issued_at=now, expires_at=now + 60, method="password"
    )


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with redis_sentinel(tmp_path, "tokens") as started:
        yield started


def test_sync_store_through_sentinel(sentinel: RedisServer) -> None:
    """Records written through a Sentinel-discovered master read back and remove."""
    store = open_store(f"redis+sentinel://127.0.0.1:{sentinel.port}/tokens/0?prefix=s:")
    record = fresh_record()
    try:
        store.add(record)
        assert store.get(record.jti) == record
        assert store.list_subject("alice") == [record]
        assert store.remove_subject("alice") == 1
    finally:
        store.close()


def test_async_store_through_sentinel(sentinel: RedisServer) -> None:
    """The async store finds the master through the Sentinel the same way."""

    async def scenario() -> None:
        store = open_async_store(f"redis+sentinel://127.0.0.1:{sentinel.port}/tokens/0")
        record = fresh_record()
        try:
            await store.add(record)
            assert await store.get(record.jti) == record
            assert await store.remove(record.jti) is True
        finally:
            await store.aclose()

    asyncio.run(scenario())
