"""tokenauth: JWT bearer-token authentication for HTTP APIs."""

from __future__ import annotations

from ._clock import Clock, system_clock
from ._errors import (
    AlreadyExistsError,
    ConfigurationError,
    DuplicateTokenError,
    StoreError,
    StoreUnreachableError,
    TokenAuthError,
    WeakKeyError,
)
from ._memory import AsyncMemoryStore, MemoryStore
from ._registry import (
    ApiKeyRecord,
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncUserRegistry,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    UserRecord,
    UserRegistry,
)
from ._store import (
    AsyncTokenStore,
    LoginMethod,
    StoreBackend,
    TokenRecord,
    TokenStore,
    open_async_store,
    open_store,
)

__all__ = [
    "AlreadyExistsError",
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyRegistry",
    "AsyncMemoryStore",
    "AsyncTokenStore",
    "AsyncUserRegistry",
    "Clock",
    "ConfigurationError",
    "DuplicateTokenError",
    "LoginMethod",
    "MemoryApiKeyRegistry",
    "MemoryStore",
    "MemoryUserRegistry",
    "StoreBackend",
    "StoreError",
    "StoreUnreachableError",
    "TokenAuthError",
    "TokenRecord",
    "TokenStore",
    "UserRecord",
    "UserRegistry",
    "WeakKeyError",
    "open_async_store",
    "open_store",
    "system_clock",
]
