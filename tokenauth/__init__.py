"""tokenauth: JWT bearer-token authentication for HTTP APIs.

Clients trade HTTP Basic credentials (a password, or an API key as the
username) for a signed JWT, then send it as ``Authorization: Bearer``; every
token is checked against its signature, its claims and the token store on
every request. See the README for a tour.
"""

from __future__ import annotations

from ._authenticators import (
    API_KEY_PREFIX,
    ApiKeyAuthenticator,
    Authenticator,
    BasicAuthenticator,
    PasswordAuthenticator,
    api_key_digest,
    default_password_hasher,
    generate_api_key,
    is_well_formed_api_key,
    new_user,
)
from ._claims import Claims, Principal
from ._clock import Clock, system_clock
from ._drivers import Call, Flow, run_async, run_sync
from ._errors import (
    AlreadyExistsError,
    ConfigurationError,
    DuplicateTokenError,
    StoreError,
    StoreUnreachableError,
    TokenAuthError,
    WeakKeyError,
)
from ._events import EventKind, RedactingFilter, SecurityEvent, redact
from ._frontdoor import AsyncTokenAuth, TokenAuth
from ._http import BasicCredentials, Query, TrustedProxies, extract_bearer, is_secure, parse_basic
from ._jwt import (
    IssuedToken,
    JWTIssuer,
    JWTValidator,
    TokenIssuer,
    TokenRejected,
    TokenValidator,
)
from ._keys import Algorithm, Key, KeySet
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
from ._request import Request
from ._results import (
    Authenticated,
    AuthResult,
    BadRequest,
    Failure,
    Granted,
    HttpsRequired,
    LoggedOut,
    LoginResult,
    LogoutResult,
    Reason,
    Response,
    StoreUnavailable,
    Unauthorized,
)
from ._store import (
    AsyncTokenStore,
    LoginMethod,
    RegistryBackend,
    StoreBackend,
    TokenRecord,
    TokenStore,
    open_api_key_registry,
    open_async_api_key_registry,
    open_async_store,
    open_async_user_registry,
    open_store,
    open_user_registry,
    store_backend,
)

__all__ = [
    "API_KEY_PREFIX",
    "Algorithm",
    "AlreadyExistsError",
    "ApiKeyAuthenticator",
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyRegistry",
    "AsyncMemoryStore",
    "AsyncTokenAuth",
    "AsyncTokenStore",
    "AsyncUserRegistry",
    "AuthResult",
    "Authenticated",
    "Authenticator",
    "BadRequest",
    "BasicAuthenticator",
    "BasicCredentials",
    "Call",
    "Claims",
    "Clock",
    "ConfigurationError",
    "DuplicateTokenError",
    "EventKind",
    "Failure",
    "Flow",
    "Granted",
    "HttpsRequired",
    "IssuedToken",
    "JWTIssuer",
    "JWTValidator",
    "Key",
    "KeySet",
    "LoggedOut",
    "LoginMethod",
    "LoginResult",
    "LogoutResult",
    "MemoryApiKeyRegistry",
    "MemoryStore",
    "MemoryUserRegistry",
    "PasswordAuthenticator",
    "Principal",
    "Query",
    "Reason",
    "RedactingFilter",
    "RegistryBackend",
    "Request",
    "Response",
    "SecurityEvent",
    "StoreBackend",
    "StoreError",
    "StoreUnavailable",
    "StoreUnreachableError",
    "TokenAuth",
    "TokenAuthError",
    "TokenIssuer",
    "TokenRecord",
    "TokenRejected",
    "TokenStore",
    "TokenValidator",
    "TrustedProxies",
    "Unauthorized",
    "UserRecord",
    "UserRegistry",
    "WeakKeyError",
    "api_key_digest",
    "default_password_hasher",
    "extract_bearer",
    "generate_api_key",
    "is_secure",
    "is_well_formed_api_key",
    "new_user",
    "open_api_key_registry",
    "open_async_api_key_registry",
    "open_async_store",
    "open_async_user_registry",
    "open_store",
    "open_user_registry",
    "parse_basic",
    "redact",
    "run_async",
    "run_sync",
    "store_backend",
    "system_clock",
]
