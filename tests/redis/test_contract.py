"""The core's store contract against the machine's Redis, sync and async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tokenauth import AsyncTokenStore, TokenStore, open_async_store, open_store
from tokenauth.testing import (
    AsyncRefreshStoreContract,
    AsyncTokenStoreContract,
    RefreshStoreContract,
    TokenStoreContract,
)


class TestRedisStoreContract(TokenStoreContract, RefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def store_factory(self, store_urls: Callable[[], str]) -> Callable[[], TokenStore]:
        return lambda: open_store(store_urls())


class TestAsyncRedisStoreContract(AsyncTokenStoreContract, AsyncRefreshStoreContract):
    forgets_expired = True

    @pytest.fixture
    def async_store_factory(
        self, store_urls: Callable[[], str]
    ) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            return open_async_store(store_urls())

        return make
