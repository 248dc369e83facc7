from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenStore,
    ConfigurationError,
    MemoryStore,
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


class TestMemoryStoreContract(TokenStoreContract, RefreshStoreContract):
    @pytest.fixture
    def store_factory(self) -> Callable[[], TokenStore]:
        return MemoryStore


class TestAsyncMemoryStoreContract(AsyncTokenStoreContract, AsyncRefreshStoreContract):
    @pytest.fixture
    def async_store_factory(self) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            return AsyncMemoryStore()

        return make


def test_open_store_memory_url() -> None:
    """memory:// opens a fresh in-memory store, sync or async."""
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_async_store("memory://"), AsyncMemoryStore)


def test_open_store_names_missing_package() -> None:
    """A scheme whose adapter is not installed names the package to install."""
    with pytest.raises(ConfigurationError, match="no token store is registered"):
        open_store("nosuchscheme://x")


def test_open_store_needs_scheme() -> None:
    """A URL without a scheme is a configuration error, not a crash."""
    with pytest.raises(ConfigurationError, match="scheme"):
        open_store("tokens.db")


def test_memory_url_takes_no_options() -> None:
    """memory:// refuses options it would silently ignore."""
    with pytest.raises(ConfigurationError):
        open_store("memory://shared?size=10")
