from __future__ import annotations

from collections.abc import Callable

import pytest

from tokenauth import ApiKeyRegistry, MemoryApiKeyRegistry, MemoryUserRegistry, UserRegistry
from tokenauth.testing import ApiKeyRegistryContract, UserRegistryContract


class TestMemoryUserRegistry(UserRegistryContract):
    @pytest.fixture
    def user_registry_factory(self) -> Callable[[], UserRegistry]:
        return MemoryUserRegistry


class TestMemoryApiKeyRegistry(ApiKeyRegistryContract):
    @pytest.fixture
    def api_key_registry_factory(self) -> Callable[[], ApiKeyRegistry]:
        return MemoryApiKeyRegistry
