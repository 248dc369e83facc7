"""tokenauth: JWT bearer-token authentication for HTTP APIs.

Clients trade HTTP Basic credentials (a password, or an API key as the
username) for a signed JWT, then send it as ``Authorization: Bearer``; every
token is checked against its signature, its claims and the token store on
every request. See the README for a tour.

What an application uses, by topic:

- The front doors and the request: :class:`TokenAuth`, :class:`AsyncTokenAuth`,
  :class:`Request`.
- Results, one closed family a server renders blindly: :class:`Granted`,
  :class:`Authenticated`, :class:`LoggedOut`, :class:`BadRequest`,
  :class:`Unauthorized`, :class:`HttpsRequired`, :class:`StoreUnavailable`, and
  :class:`Reason` for logs.
- Keys and tokens: :class:`KeySet`, :class:`Key`, :class:`Claims`,
  :class:`Principal`, the JWT issuer and validator and their protocols.
- Users and API keys: the registries, the authenticators and their helpers.
- Stores: :func:`open_store` and friends, :class:`MemoryStore`,
  :class:`TokenRecord` and the store protocols.
- Events and logging: :class:`SecurityEvent`, :class:`RedactingFilter`.
- Errors: :class:`TokenAuthError` and its tree.

Authors of stores, bindings and authenticators find the plumbing (flows and
their drivers, store back-ends, the request parsers) in :mod:`tokenauth.extend`.
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
from ._claims import Claims, JSONObject, JSONValue, Principal
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
from ._events import EventKind, RedactingFilter, SecurityEvent, redact
from ._frontdoor import AsyncTokenAuth, TokenAuth
from ._health import Health
from ._identity import AnonymousUser, TokenUser
from ._jwt import (
    DEFAULT_AUDIENCE,
    DEFAULT_CLIENT_ID,
    DEFAULT_ISSUER,
    MAX_EXTRA_CLAIMS_SIZE,
    RESERVED_CLAIMS,
    ExtraClaims,
    IssuedToken,
    JWTIssuer,
    JWTValidator,
    TokenIssuer,
    TokenRejected,
    TokenValidator,
)
from ._keys import JWKS_MAX_AGE, STAGE_DELAY, Algorithm, Key, KeySet
from ._memory import AsyncMemoryStore, MemoryStore
from ._refresh import (
    DEFAULT_REFRESH_TTL,
    DEFAULT_SESSION_LIFETIME,
    FORM_CONTENT_TYPE,
    MAX_FORM_BODY,
    REFRESH_TOKEN_PREFIX,
    AsyncRefreshStore,
    RefreshGrant,
    RefreshRecord,
    RefreshStore,
    parse_token_form,
)
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
    InsufficientScope,
    InvalidGrant,
    LoggedOut,
    LoginResult,
    LogoutResult,
    Overloaded,
    Reason,
    RefreshResult,
    Response,
    ScopeResult,
    StepUpRequired,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
)
from ._scopes import ScopeRequirement, authorize, scope_tokens
from ._stepup import LoginAgeRequirement, login_time
from ._store import (
    MAX_LEEWAY,
    AsyncTokenStore,
    LoginMethod,
    TokenRecord,
    TokenStore,
    open_api_key_registry,
    open_async_api_key_registry,
    open_async_store,
    open_async_user_registry,
    open_store,
    open_user_registry,
)
from ._throttle import (
    AsyncLoginCounters,
    Limit,
    LoginCounters,
    LoginThrottle,
    MemoryCounters,
    Window,
    client_address,
    open_async_counters,
    open_counters,
)

__all__ = [
    "API_KEY_PREFIX",
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_ISSUER",
    "DEFAULT_REFRESH_TTL",
    "DEFAULT_SESSION_LIFETIME",
    "FORM_CONTENT_TYPE",
    "JWKS_MAX_AGE",
    "MAX_EXTRA_CLAIMS_SIZE",
    "MAX_FORM_BODY",
    "MAX_LEEWAY",
    "REFRESH_TOKEN_PREFIX",
    "RESERVED_CLAIMS",
    "STAGE_DELAY",
    "Algorithm",
    "AlreadyExistsError",
    "AnonymousUser",
    "ApiKeyAuthenticator",
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyRegistry",
    "AsyncLoginCounters",
    "AsyncMemoryStore",
    "AsyncRefreshStore",
    "AsyncTokenAuth",
    "AsyncTokenStore",
    "AsyncUserRegistry",
    "AuthResult",
    "Authenticated",
    "Authenticator",
    "BadRequest",
    "BasicAuthenticator",
    "Claims",
    "Clock",
    "ConfigurationError",
    "DuplicateTokenError",
    "EventKind",
    "ExtraClaims",
    "Failure",
    "Granted",
    "Health",
    "HttpsRequired",
    "InsufficientScope",
    "InvalidGrant",
    "IssuedToken",
    "JSONObject",
    "JSONValue",
    "JWTIssuer",
    "JWTValidator",
    "Key",
    "KeySet",
    "Limit",
    "LoggedOut",
    "LoginAgeRequirement",
    "LoginCounters",
    "LoginMethod",
    "LoginResult",
    "LoginThrottle",
    "LogoutResult",
    "MemoryApiKeyRegistry",
    "MemoryCounters",
    "MemoryStore",
    "MemoryUserRegistry",
    "Overloaded",
    "PasswordAuthenticator",
    "Principal",
    "Reason",
    "RedactingFilter",
    "RefreshGrant",
    "RefreshRecord",
    "RefreshResult",
    "RefreshStore",
    "Request",
    "Response",
    "ScopeRequirement",
    "ScopeResult",
    "SecurityEvent",
    "StepUpRequired",
    "StoreError",
    "StoreUnavailable",
    "StoreUnreachableError",
    "TokenAuth",
    "TokenAuthError",
    "TokenIssuer",
    "TokenRecord",
    "TokenRejected",
    "TokenStore",
    "TokenUser",
    "TokenValidator",
    "TooManyRequests",
    "Unauthorized",
    "UserRecord",
    "UserRegistry",
    "WeakKeyError",
    "Window",
    "api_key_digest",
    "authorize",
    "client_address",
    "default_password_hasher",
    "generate_api_key",
    "is_well_formed_api_key",
    "login_time",
    "new_user",
    "open_api_key_registry",
    "open_async_api_key_registry",
    "open_async_counters",
    "open_async_store",
    "open_async_user_registry",
    "open_counters",
    "open_store",
    "open_user_registry",
    "parse_token_form",
    "redact",
    "scope_tokens",
    "system_clock",
]
