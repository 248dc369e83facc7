"""Token records, the store protocols and store lookup by URL."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, cast, runtime_checkable

from ._errors import ConfigurationError
from ._registry import ApiKeyRegistry, AsyncApiKeyRegistry, AsyncUserRegistry, UserRegistry

__all__ = [
    "MAX_LEEWAY",
    "MAX_USER_AGENT_LENGTH",
    "AsyncCappedTokenStore",
    "AsyncSessionStore",
    "AsyncTokenStore",
    "CapOutcome",
    "CapPolicy",
    "CappedTokenStore",
    "LoginMethod",
    "RegistryBackend",
    "Session",
    "SessionStore",
    "StoreBackend",
    "TokenRecord",
    "TokenStore",
    "open_api_key_registry",
    "open_async_api_key_registry",
    "open_async_store",
    "open_async_user_registry",
    "open_store",
    "open_user_registry",
    "store_backend",
]

LoginMethod = Literal["password", "api_key"]
#: What a capped add does when the subject already holds its most live tokens.
CapPolicy = Literal["refuse", "evict_oldest"]

#: Longest ``jti``, subject and API-key id a record may hold; stores size columns by these.
MAX_JTI_LENGTH = 64
MAX_SUBJECT_LENGTH = 255
MAX_KEY_ID_LENGTH = 64
MAX_SESSION_LENGTH = 64
#: Longest client address and User-Agent a record keeps (see :func:`sanitize_user_agent`).
MAX_CLIENT_LENGTH = 64
MAX_USER_AGENT_LENGTH = 256

#: The largest clock-skew leeway, in seconds, a validator accepts on ``exp``. It is
#: also the expiry rule every store follows: a store that forgets records by
#: itself (Redis's native expiry) keeps each one at least this long past its
#: ``expires_at``, so that a token inside any leeway finds its record on every store,
#: and a token met after its leeway is refused as expired and its record removed,
#: whatever the store.
MAX_LEEWAY = 300


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What a store keeps about one issued token: never the token itself.

    Attributes:
        jti: The token's unique id (the ``jti`` claim), at most 64 characters.
        subject: The principal the token was issued to (the ``sub`` claim).
        issued_at: Unix time the token was issued (``iat``).
        expires_at: Unix time the token expires (``exp``).
        method: How the client logged in: ``"password"`` or ``"api_key"``.
        api_key_id: The public id of the API key used, when ``method`` is ``"api_key"``.
        client: The client's address seen at login (behind trusted proxies, the
            address they forwarded; IPv6 per /64), when last-use tracking is on;
            at most 64 printable characters.
        user_agent: The ``User-Agent`` seen at login, sanitized (see
            :func:`sanitize_user_agent`), when last-use tracking is on; at most
            256 printable characters.
        session: The id of the login session the token descends from, when
            refresh tokens are enabled (every access and refresh token of one
            login shares it, see :class:`~tokenauth.RefreshRecord`); None otherwise.
    """

    jti: str
    subject: str
    issued_at: int
    expires_at: int
    method: LoginMethod
    api_key_id: str | None = None
    client: str | None = None
    user_agent: str | None = None
    session: str | None = None

    def __post_init__(self) -> None:
        _check_text("jti", self.jti, MAX_JTI_LENGTH)
        _check_text("subject", self.subject, MAX_SUBJECT_LENGTH)
        for name in ("issued_at", "expires_at"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < 2**53:
                raise ValueError(f"TokenRecord.{name} must be a non-negative int, got {value!r}")
        if self.expires_at < self.issued_at:
            raise ValueError("TokenRecord.expires_at is before issued_at")
        if self.method not in ("password", "api_key"):
            raise ValueError(
                f"TokenRecord.method must be 'password' or 'api_key', not {self.method!r}"
            )
        if (self.method == "api_key") != (self.api_key_id is not None):
            raise ValueError("TokenRecord.api_key_id is set exactly when method is 'api_key'")
        if self.api_key_id is not None:
            _check_text("api_key_id", self.api_key_id, MAX_KEY_ID_LENGTH)
        if self.session is not None:
            _check_text("session", self.session, MAX_SESSION_LENGTH)
        if self.client is not None:
            _check_printable("client", self.client, MAX_CLIENT_LENGTH)
        if self.user_agent is not None:
            _check_printable("user_agent", self.user_agent, MAX_USER_AGENT_LENGTH)


def _check_text(name: str, value: object, limit: int, owner: str = "TokenRecord") -> None:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValueError(f"{owner}.{name} must be a non-empty str of at most {limit} characters")


def _check_printable(name: str, value: object, limit: int) -> None:
    _check_text(name, value, limit)
    if not str(value).isprintable():
        raise ValueError(f"TokenRecord.{name} must hold printable characters only")


def sanitize_user_agent(value: str | None) -> str | None:
    """A ``User-Agent`` fit to store: printable, trimmed, at most 256 characters, or None.

    Control and other unprintable characters (CR, LF, NUL, escapes, bidi
    controls) become spaces, runs of spaces one, and the ends are trimmed; an
    empty result is None. A header that a client controls reaches logs and
    terminals through ``tokenauth tokens list``, so nothing in it may steer them.
    """
    if not value:
        return None
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return cleaned[:MAX_USER_AGENT_LENGTH].rstrip() or None


def sanitize_client(value: str | None) -> str | None:
    """A client address fit to store (printable, at most 64 characters), or None."""
    if not value or len(value) > MAX_CLIENT_LENGTH or not value.isprintable():
        return None
    return value


@dataclass(frozen=True, slots=True)
class CapOutcome:
    """What a capped add did (see :class:`CappedTokenStore`).

    Attributes:
        added: Whether the record was stored.
        evicted: The records removed to make room (policy ``"evict_oldest"``), oldest first.
        live: The subject's live tokens counted before the add.
    """

    added: bool
    evicted: tuple[TokenRecord, ...] = ()
    live: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """One stored token of a subject, as :meth:`~tokenauth.TokenAuth.list_sessions` shows it.

    Attributes:
        jti: The token's id (not a secret: it cannot be used as a token).
        subject: Whose token it is.
        issued_at: Unix time of the login.
        expires_at: Unix time the token expires.
        method: ``"password"`` or ``"api_key"``.
        api_key_id: The API key logged in with, if any.
        client: The client address seen at login, when it was recorded.
        user_agent: The sanitized ``User-Agent`` seen at login, when it was recorded.
        last_used_at: Unix time of the last use a front door wrote (at most one
            write per token per ``last_use_interval`` from each process, so up to
            that many seconds behind), or None if it was never used or not tracked.
        login_session: The login session the token descends from (its
            ``TokenRecord.session``), when refresh tokens are enabled; else None.
    """

    jti: str
    subject: str
    issued_at: int
    expires_at: int
    method: LoginMethod
    api_key_id: str | None = None
    client: str | None = None
    user_agent: str | None = None
    last_used_at: int | None = None
    login_session: str | None = None

    @classmethod
    def of(cls, record: TokenRecord, last_used_at: int | None = None) -> Session:
        """The session of ``record``, last used at ``last_used_at``."""
        return cls(
            record.jti, record.subject, record.issued_at, record.expires_at, record.method,
            record.api_key_id, record.client, record.user_agent, last_used_at, record.session,
        )  # fmt: skip


@runtime_checkable
class TokenStore(Protocol):
    """Issued-token records by ``jti``, for the synchronous driver.

    Every method raises :class:`~tokenauth.StoreError` (never a driver's own
    exception) when the backing service fails; the flows then answer 503.
    A store keeps a record until it is removed or purged; a store that forgets
    expired records by itself may do so only once ``expires_at + MAX_LEEWAY``
    has passed (the store contract checks both).
    """

    def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        ...

    def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None if there is none."""
        ...

    def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it (at most one caller wins)."""
        ...

    def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many were removed."""
        ...

    def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        ...

    def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


@runtime_checkable
class AsyncTokenStore(Protocol):
    """The asynchronous twin of :class:`TokenStore`, for :class:`~tokenauth.AsyncTokenAuth`."""

    async def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        ...

    async def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None if there is none."""
        ...

    async def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it (at most one caller wins)."""
        ...

    async def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many were removed."""
        ...

    async def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        ...

    async def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


@runtime_checkable
class CappedTokenStore(Protocol):
    """A store that can cap a subject's live tokens atomically (optional).

    Needed by ``max_tokens_per_subject=``; the front door names the missing
    methods when a store lacks it.
    """

    def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would then hold more than ``limit`` live tokens.

        Live: ``expires_at > now``. With ``"refuse"``, nothing changes when the
        subject holds ``limit`` live tokens already; with ``"evict_oldest"``,
        the oldest live ones (by ``issued_at``, then ``jti``) are removed first.
        Concurrent calls, from any number of processes, never leave more than
        ``limit`` live tokens. Raises DuplicateTokenError if the ``jti`` is taken.
        """
        ...


@runtime_checkable
class AsyncCappedTokenStore(Protocol):
    """The asynchronous twin of :class:`CappedTokenStore`."""

    async def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """See :meth:`CappedTokenStore.add_capped`."""
        ...


@runtime_checkable
class SessionStore(Protocol):
    """A store that keeps when each token was last used (optional).

    Needed by ``track_last_use=True``; the front door names the missing methods
    when a store lacks it. The front door writes at most once per token per
    interval, so a write per request never happens.
    """

    def touch(self, record: TokenRecord, at: int) -> None:
        """Record that ``record``'s token was used at ``at``; a later time never goes back.

        Does nothing when the token is no longer stored.
        """
        ...

    def list_sessions(self, subject: str) -> list[Session]:
        """The subject's stored tokens with their last use, oldest first (as ``list_subject``)."""
        ...


@runtime_checkable
class AsyncSessionStore(Protocol):
    """The asynchronous twin of :class:`SessionStore`."""

    async def touch(self, record: TokenRecord, at: int) -> None:
        """See :meth:`SessionStore.touch`."""
        ...

    async def list_sessions(self, subject: str) -> list[Session]:
        """See :meth:`SessionStore.list_sessions`."""
        ...


#: The methods each optional feature needs of a store.
CAP_METHODS = ("add_capped",)
SESSION_METHODS = ("touch", "list_sessions")


def require_methods(store: object, methods: tuple[str, ...], feature: str) -> None:
    """Raise ConfigurationError naming what ``store`` lacks for ``feature``, if anything."""
    missing = [m for m in methods if not callable(getattr(store, m, None))]
    if missing:
        names = ", ".join(missing)
        raise ConfigurationError(
            f"{feature} needs a token store with {names}; {type(store).__name__} has no "
            f"{names} (see CappedTokenStore and SessionStore in the store docs), or turn "
            f"{feature} off"
        )


class StoreBackend(Protocol):
    """What a ``tokenauth.stores`` entry point names: a way to open stores from URLs."""

    def open(self, url: str) -> TokenStore:
        """Open a synchronous store for ``url``."""
        ...

    def open_async(self, url: str) -> AsyncTokenStore:
        """Open an asynchronous store for ``url``."""
        ...


_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)

#: Which distribution provides a scheme, to name the install in the error message.
_KNOWN_PROVIDERS = {
    "sqlite": "tokenauth-sqlalchemy",
    "postgresql": "tokenauth-sqlalchemy",
    "postgres": "tokenauth-sqlalchemy",
    "mysql": "tokenauth-sqlalchemy",
    "mariadb": "tokenauth-sqlalchemy",
    "redis": "tokenauth-redis",
    "rediss": "tokenauth-redis",
    "unix": "tokenauth-redis",
    "redis+sentinel": "tokenauth-redis",
    "redis+cluster": "tokenauth-redis",
    "rediss+sentinel": "tokenauth-redis",
    "rediss+cluster": "tokenauth-redis",
}


def store_backend(url: str) -> StoreBackend:
    """The backend registered for ``url``'s scheme under the ``tokenauth.stores`` entry points.

    Raises:
        ConfigurationError: The URL has no scheme, or no installed package handles
            it (the message names the package to install).
    """
    match = _SCHEME.match(url)
    if match is None:
        raise ConfigurationError(
            "a store URL needs a scheme, e.g. 'memory://' or 'redis://host:6379/0'"
        )
    scheme = match.group(1).lower()
    candidates = [scheme] if "+" not in scheme else [scheme, scheme.split("+", 1)[0]]
    found = {ep.name: ep for ep in entry_points(group="tokenauth.stores")}
    for name in candidates:
        if name in found:
            backend: StoreBackend = found[name].load()
            return backend
    provider = _KNOWN_PROVIDERS.get(scheme) or _KNOWN_PROVIDERS.get(candidates[-1])
    hint = f"; install it with: pip install {provider}" if provider else ""
    raise ConfigurationError(f"no token store is registered for the URL scheme {scheme!r}{hint}")


def open_store(url: str) -> TokenStore:
    """Open a synchronous token store by URL, e.g. ``memory://`` or ``sqlite:///tokens.db``.

    Args:
        url: The store URL; its scheme picks the backend registered under the
            ``tokenauth.stores`` entry-point group.

    Returns:
        A ready store.

    Raises:
        ConfigurationError: No backend handles the scheme (the message names the
            package to install), or the backend refused the URL.
    """
    return store_backend(url).open(url)


def open_async_store(url: str) -> AsyncTokenStore:
    """Open an asynchronous token store by URL; see :func:`open_store`."""
    return store_backend(url).open_async(url)


def _registry_opener(
    url: str,
    method: str,
    what: str,
    hint: str = "users and API keys that persist need a backend that provides them, "
    "such as tokenauth-sqlalchemy",
) -> Callable[[str], Any]:
    """The backend's optional ``method`` for ``url``; the error names ``what`` it lacks."""
    opener = getattr(store_backend(url), method, None)
    if opener is None:
        scheme = url.split(":", 1)[0]
        raise ConfigurationError(f"the store backend for {scheme!r} keeps no {what}; {hint}")
    return cast("Callable[[str], Any]", opener)


def open_user_registry(url: str) -> UserRegistry:
    """Open the persistent user registry that a store backend provides for ``url``.

    Backends offer registries through optional ``open_user_registry`` and
    ``open_api_key_registry`` methods (and ``open_async_...`` twins); see
    :class:`RegistryBackend`.

    Raises:
        ConfigurationError: The scheme is unknown, or its backend keeps no users.
    """
    return cast("UserRegistry", _registry_opener(url, "open_user_registry", "users")(url))


def open_api_key_registry(url: str) -> ApiKeyRegistry:
    """Open the persistent API-key registry of a store backend; see :func:`open_user_registry`."""
    return cast("ApiKeyRegistry", _registry_opener(url, "open_api_key_registry", "API keys")(url))


def open_async_user_registry(url: str) -> AsyncUserRegistry:
    """The asynchronous twin of :func:`open_user_registry`."""
    return cast(
        "AsyncUserRegistry", _registry_opener(url, "open_async_user_registry", "users")(url)
    )


def open_async_api_key_registry(url: str) -> AsyncApiKeyRegistry:
    """The asynchronous twin of :func:`open_api_key_registry`."""
    return cast(
        "AsyncApiKeyRegistry", _registry_opener(url, "open_async_api_key_registry", "API keys")(url)
    )


class RegistryBackend(StoreBackend, Protocol):
    """A store backend that also keeps users and API keys (optional methods)."""

    def open_user_registry(self, url: str) -> UserRegistry:
        """Open a synchronous user registry for ``url``."""
        ...

    def open_api_key_registry(self, url: str) -> ApiKeyRegistry:
        """Open a synchronous API-key registry for ``url``."""
        ...

    def open_async_user_registry(self, url: str) -> AsyncUserRegistry:
        """Open an asynchronous user registry for ``url``."""
        ...

    def open_async_api_key_registry(self, url: str) -> AsyncApiKeyRegistry:
        """Open an asynchronous API-key registry for ``url``."""
        ...
