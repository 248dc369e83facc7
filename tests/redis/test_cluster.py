"""The core's store contract against a three-node Redis Cluster the tests start themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tokenauth import AsyncTokenStore, TokenStore, open_async_store, open_store
from tokenauth.testing import AsyncTokenStoreContract, TokenStoreContract


class TestClusterStoreContract(TokenStoreContract):
    forgets_expired = True

    @pytest.fixture
    def store_factory(self, cluster_store_urls: Callable[[], str]) -> Callable[[], TokenStore]:
        return lambda: open_store(cluster_store_urls())


class TestAsyncClusterStoreContract(AsyncTokenStoreContract):
    forgets_expired = True

    @pytest.fixture
    def async_store_factory(
        self, cluster_store_urls: Callable[[], str]
    ) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            return open_async_store(cluster_store_urls())

        return make
