"""The core's store contract against a three-node Redis Cluster the tests start themselves."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.cluster

from tokenauth import AsyncTokenStore, TokenRecord, TokenStore, open_async_store, open_store
from tokenauth.testing import (
    AsyncRefreshStoreContract,
    AsyncTokenStoreContract,
    RefreshStoreContract,
    TokenStoreContract,
)

from ._servers import RedisServer


class TestClusterStoreContract(TokenStoreContract, RefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def store_factory(self, cluster_store_urls: Callable[[], str]) -> Callable[[], TokenStore]:
        return lambda: open_store(cluster_store_urls())


class TestAsyncClusterStoreContract(AsyncTokenStoreContract, AsyncRefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def async_store_factory(
        self, cluster_store_urls: Callable[[], str]
    ) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            return open_async_store(cluster_store_urls())

        return make


def test_keys_spread_over_the_nodes(
    cluster: list[RedisServer], cluster_store_urls: Callable[[], str]
) -> None:
    """Records and indexes need no shared slot: they land on every node, and still agree."""
    url = cluster_store_urls()
    store = open_store(url)
    try:
        now = int(time.time())
        for i in range(30):
            store.add(
                TokenRecord(
                    jti=f"spread-{i}",
                    subject=f"user-{i % 3}",
                    issued_at=now + i,
                    expires_at=now + 3600,
                    method="password",
                )
            )
        prefix = parse_qs(urlsplit(url).query)["prefix"][0]
        client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            # redis-py leaves get_node_from_key unannotated.
            nodes = {cast(Any, client).get_node_from_key(key).name for key in keys}
        finally:
            client.close()
        assert len(nodes) == 3
        for n in range(3):
            listed = store.list_subject(f"user-{n}")
            assert [r.jti for r in listed] == [f"spread-{i}" for i in range(n, 30, 3)]
        assert store.remove_subject("user-0") == 10
        assert store.get("spread-0") is None
        assert store.get("spread-1") is not None
    finally:
        store.close()
