"""The core's store and registry contracts against every SQL backend, sync and async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.sqlalchemy.conftest import Db
from tokenauth import (
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncTokenStore,
    AsyncUserRegistry,
    TokenStore,
    UserRegistry,
    open_async_store,
    open_store,
)
from tokenauth.testing import (
    ApiKeyRegistryContract,
    AsyncApiKeyRegistryContract,
    AsyncRefreshStoreContract,
    AsyncTokenStoreContract,
    AsyncUserRegistryContract,
    RefreshStoreContract,
    TokenStoreContract,
    UserRegistryContract,
)
from tokenauth_sqlalchemy import (
    AsyncSQLApiKeyRegistry,
    AsyncSQLUserRegistry,
    SQLApiKeyRegistry,
    SQLUserRegistry,
)

# Token stores: each factory call empties the test's tables and opens a new store
# through the core's open_store, as an application would.


class _SyncStore(TokenStoreContract, RefreshStoreContract):
    backend: ClassVar[str]

    @pytest.fixture
    def store_factory(self, db: Db) -> Callable[[], TokenStore]:
        def make() -> TokenStore:
            db.clear()
            return open_store(db.url)

        return make


class _AsyncStore(AsyncTokenStoreContract, AsyncRefreshStoreContract):
    backend: ClassVar[str]

    @pytest.fixture
    def async_store_factory(self, db: Db) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            db.clear()
            return open_async_store(db.async_url)

        return make


class TestSQLiteFileStore(_SyncStore):
    backend = "sqlite"


class TestPostgreSQLStore(_SyncStore):
    backend = "postgresql"


class TestMariaDBStore(_SyncStore):
    backend = "mariadb"


class TestAsyncSQLiteFileStore(_AsyncStore):
    backend = "sqlite"


class TestAsyncPostgreSQLStore(_AsyncStore):
    backend = "postgresql"


class TestAsyncPsycopgStore(_AsyncStore):
    backend = "postgresql-psycopg-async"


class TestAsyncMariaDBStore(_AsyncStore):
    backend = "mariadb"


class TestSQLiteMemoryStore(TokenStoreContract):
    """``sqlite://``: every store opened is its own fresh database."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], TokenStore]:
        return lambda: open_store("sqlite://")


class TestAsyncSQLiteMemoryStore(AsyncTokenStoreContract):
    @pytest.fixture
    def async_store_factory(self) -> Callable[[], Awaitable[AsyncTokenStore]]:
        async def make() -> AsyncTokenStore:
            return open_async_store("sqlite+aiosqlite://")

        return make


# Registries. The async contracts run each example in a new event loop and never
# close the registry, so the async engines here keep no connection between calls.


class _Users(UserRegistryContract):
    backend: ClassVar[str]

    @pytest.fixture
    def user_registry_factory(self, db: Db) -> Callable[[], UserRegistry]:
        def make() -> UserRegistry:
            db.clear()
            return SQLUserRegistry(db.engine, schema=db.schema)

        return make


class _AsyncUsers(AsyncUserRegistryContract):
    backend: ClassVar[str]

    @pytest.fixture
    def async_user_registry_factory(self, db: Db) -> Callable[[], AsyncUserRegistry]:
        engine = create_async_engine(db.async_url.split("?")[0], poolclass=NullPool)

        def make() -> AsyncUserRegistry:
            db.clear()
            return AsyncSQLUserRegistry(engine, schema=db.schema)

        return make


class _Keys(ApiKeyRegistryContract):
    backend: ClassVar[str]

    @pytest.fixture
    def api_key_registry_factory(self, db: Db) -> Callable[[], ApiKeyRegistry]:
        def make() -> ApiKeyRegistry:
            db.clear()
            return SQLApiKeyRegistry(db.engine, schema=db.schema)

        return make


class _AsyncKeys(AsyncApiKeyRegistryContract):
    backend: ClassVar[str]

    @pytest.fixture
    def async_api_key_registry_factory(self, db: Db) -> Callable[[], AsyncApiKeyRegistry]:
        engine = create_async_engine(db.async_url.split("?")[0], poolclass=NullPool)

        def make() -> AsyncApiKeyRegistry:
            db.clear()
            return AsyncSQLApiKeyRegistry(engine, schema=db.schema)

        return make


class TestSQLiteUsers(_Users):
    backend = "sqlite"


class TestSQLiteKeys(_Keys):
    backend = "sqlite"


class TestAsyncSQLiteUsers(_AsyncUsers):
    backend = "sqlite"


class TestAsyncSQLiteKeys(_AsyncKeys):
    backend = "sqlite"


class TestPostgreSQLUsers(_Users):
    backend = "postgresql"


class TestPostgreSQLKeys(_Keys):
    backend = "postgresql"


class TestAsyncPostgreSQLUsers(_AsyncUsers):
    backend = "postgresql"


class TestAsyncPostgreSQLKeys(_AsyncKeys):
    backend = "postgresql"


class TestMariaDBUsers(_Users):
    backend = "mariadb"


class TestMariaDBKeys(_Keys):
    backend = "mariadb"


class TestAsyncMariaDBUsers(_AsyncUsers):
    backend = "mariadb"


class TestAsyncMariaDBKeys(_AsyncKeys):
    backend = "mariadb"


class TestSQLiteMemoryUsers(UserRegistryContract):
    @pytest.fixture
    def user_registry_factory(self) -> Callable[[], UserRegistry]:
        return lambda: SQLUserRegistry.from_url("sqlite://")


class TestSQLiteMemoryKeys(ApiKeyRegistryContract):
    @pytest.fixture
    def api_key_registry_factory(self) -> Callable[[], ApiKeyRegistry]:
        return lambda: SQLApiKeyRegistry.from_url("sqlite://")
