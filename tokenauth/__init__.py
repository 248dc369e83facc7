"""tokenauth: JWT bearer-token authentication for HTTP APIs."""

from __future__ import annotations

from ._clock import Clock, system_clock
from ._errors import (
    ConfigurationError,
    DuplicateTokenError,
    StoreError,
    StoreUnreachableError,
    TokenAuthError,
    WeakKeyError,
)
from ._memory import AsyncMemoryStore, MemoryStore
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
    "AsyncMemoryStore",
    "AsyncTokenStore",
    "Clock",
    "ConfigurationError",
    "DuplicateTokenError",
    "LoginMethod",
    "MemoryStore",
    "StoreBackend",
    "StoreError",
    "StoreUnreachableError",
    "TokenAuthError",
    "TokenRecord",
    "TokenStore",
    "WeakKeyError",
    "open_async_store",
    "open_store",
    "system_clock",
]
