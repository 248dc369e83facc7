"""Results: what a login or a request check comes to, as values a server renders blindly.

Every outcome a client can cause is one of a small closed family of frozen
types. A failure knows its HTTP status, its ``WWW-Authenticate`` challenge
(RFC 7617 for login, RFC 6750 for bearer tokens) and its JSON body, so a
binding writes ``status``, ``headers`` and ``body`` without asking which it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from ._frozen import maker

if TYPE_CHECKING:
    from ._claims import Claims, Principal

__all__ = [
    "AuthResult",
    "Authenticated",
    "BadRequest",
    "Failure",
    "Granted",
    "HttpsRequired",
    "InsufficientScope",
    "InvalidGrant",
    "LoggedOut",
    "LoginResult",
    "LogoutResult",
    "Overloaded",
    "Reason",
    "RefreshResult",
    "Response",
    "ScopeResult",
    "StepUpRequired",
    "StoreUnavailable",
    "TokenLimitReached",
    "TooManyRequests",
    "Unauthorized",
]

Headers: TypeAlias = tuple[tuple[str, str], ...]


class Response(Protocol):
    """Anything a server can write out as it is: every result but ``Authenticated``."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def headers(self) -> Headers:
        """The response headers, in order."""
        ...

    @property
    def body(self) -> bytes:
        """The response body (JSON, or empty for 204)."""
        ...


_JSON = ("Content-Type", "application/json")
# RFC 6749 section 5.1 and RFC 6750 section 4: responses carrying tokens or
# credentials errors must not be cached.
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class Reason(str, Enum):
    """Why a request failed: for logs, audit hooks and tests, never shown as-is to clients."""

    # 400
    MISSING_CREDENTIALS = "missing_credentials"
    MALFORMED_CREDENTIALS = "malformed_credentials"
    MALFORMED_REQUEST = "malformed_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    REFRESH_DISABLED = "refresh_disabled"
    INVALID_SCOPE = "invalid_scope"
    # 400, refresh grant (RFC 6749 section 5.2 invalid_grant)
    UNKNOWN_REFRESH_TOKEN = "unknown_refresh_token"
    REFRESH_TOKEN_EXPIRED = "refresh_token_expired"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"
    SESSION_ENDED = "session_ended"
    # 401, login
    UNKNOWN_USER = "unknown_user"
    BAD_PASSWORD = "bad_password"
    USER_DISABLED = "user_disabled"
    UNKNOWN_API_KEY = "unknown_api_key"
    API_KEY_REVOKED = "api_key_revoked"
    # 401, bearer
    NO_TOKEN = "no_token"
    MALFORMED_TOKEN = "malformed_token"
    TOKEN_TOO_LARGE = "token_too_large"
    BAD_HEADER = "bad_header"
    UNKNOWN_KEY = "unknown_key"
    WRONG_ALGORITHM = "wrong_algorithm"
    BAD_SIGNATURE = "bad_signature"
    BAD_CLAIMS = "bad_claims"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    LOGIN_TOO_OLD = "login_too_old"
    # 403
    HTTPS_REQUIRED = "https_required"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    TOKEN_LIMIT = "token_limit"
    # a token removed to make room for a newer one (cap_policy="evict_oldest")
    EVICTED = "evicted"
    # 429
    LOGIN_THROTTLED = "login_throttled"
    # 503
    STORE_UNAVAILABLE = "store_unavailable"
    OVERLOADED = "overloaded"


def _quote(value: str) -> str:
    # RFC 9110 section 5.6.4 quoted-string: escape backslash and double quote.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Failure:
    """Base of every failed outcome; never instantiated directly.

    Attributes:
        status: The HTTP status code to answer with.
        error: The machine-readable error code for the JSON body (and, for
            bearer failures, the RFC 6750 ``error`` attribute).
        description: A human-readable explanation, safe to show the client.
        reason: The precise cause, for logs and audit; not sent to the client.
        challenge: The ``WWW-Authenticate`` value, or None.
    """

    status: int
    error: str
    description: str
    reason: Reason
    challenge: str | None = None

    @property
    def headers(self) -> Headers:
        """Response headers: content type, no-store caching and the challenge if any."""
        base: Headers = (_JSON, *_NO_STORE)
        if self.challenge is None:
            return base
        return (*base, ("WWW-Authenticate", self.challenge))

    @property
    def json(self) -> dict[str, str]:
        """The JSON body as a dict: ``error`` and ``error_description``."""
        return {"error": self.error, "error_description": self.description}

    @property
    def body(self) -> bytes:
        """The JSON body, encoded."""
        return json.dumps(self.json, ensure_ascii=True).encode()


@dataclass(frozen=True, slots=True)
class BadRequest(Failure):
    """400: the request itself is malformed (missing or unparseable credentials)."""

    @classmethod
    def login(cls, reason: Reason, description: str) -> BadRequest:
        """A malformed login request (RFC 6749 ``invalid_request``)."""
        return cls(400, "invalid_request", description, reason)

    @classmethod
    def bearer(cls, realm: str, reason: Reason, description: str) -> BadRequest:
        """A malformed request to a secured path (RFC 6750 section 3.1 ``invalid_request``)."""
        challenge = (
            f'Bearer realm={_quote(realm)}, error="invalid_request", '
            f"error_description={_quote(description)}"
        )
        return cls(400, "invalid_request", description, reason, challenge)

    @classmethod
    def token_request(cls, error: str, reason: Reason, description: str) -> BadRequest:
        """A token-endpoint request the server cannot take (RFC 6749 section 5.2).

        ``error`` is ``invalid_request``, ``unsupported_grant_type`` or ``invalid_scope``.
        """
        return cls(400, error, description, reason)


@dataclass(frozen=True, slots=True)
class InvalidGrant(Failure):
    """400 ``invalid_grant``: the refresh token is unknown, expired, reused or its session ended.

    The one answer whatever the cause (RFC 6749 section 5.2), so a client learns
    nothing about which it was; the ``reason`` says it for logs and audit.
    """

    @classmethod
    def make(cls, reason: Reason) -> InvalidGrant:
        """The refusal of a refresh token, for ``reason``."""
        return cls(
            400, "invalid_grant", "The refresh token is invalid, expired or revoked.", reason
        )


@dataclass(frozen=True, slots=True)
class Unauthorized(Failure):
    """401: the credentials or the token are not good (or there were none)."""

    @classmethod
    def login(cls, realm: str, reason: Reason) -> Unauthorized:
        """Wrong credentials; the same answer whatever ``reason`` is (no enumeration)."""
        challenge = f'Basic realm={_quote(realm)}, charset="UTF-8"'
        return cls(
            401, "invalid_credentials", "The username, password or API key is not valid.",
            reason, challenge,
        )  # fmt: skip

    @classmethod
    def no_token(cls, realm: str) -> Unauthorized:
        """No token was sent: a bare challenge, no error code (RFC 6750 section 3.1)."""
        return cls(
            401, "unauthorized", "A bearer token is required.", Reason.NO_TOKEN,
            f"Bearer realm={_quote(realm)}",
        )  # fmt: skip

    @classmethod
    def invalid_token(cls, realm: str, reason: Reason, description: str) -> Unauthorized:
        """The token is bad, expired or revoked (RFC 6750 ``invalid_token``)."""
        challenge = (
            f'Bearer realm={_quote(realm)}, error="invalid_token", '
            f"error_description={_quote(description)}"
        )
        return cls(401, "invalid_token", description, reason, challenge)

    @classmethod
    def unknown_subject(cls, realm: str) -> Unauthorized:
        """The token is good but names no user the application knows (any more).

        A binding's user loader found nobody for the token's subject: the token
        is refused like a bad one (RFC 6750 ``invalid_token``).
        """
        return cls.invalid_token(
            realm, Reason.UNKNOWN_USER, "The token's subject is not a known user."
        )


@dataclass(frozen=True, slots=True)
class StepUpRequired(Failure):
    """401: the token is valid, but its login is older than the request allows (RFC 9470).

    The client should send the user through a fresh login and retry with the
    new token. The challenge carries ``error="insufficient_user_authentication"``
    and ``max_age``, the most seconds since login the request accepts.

    Attributes:
        max_age: The most seconds since the login the request accepts.
    """

    max_age: int = 0

    @classmethod
    def make(cls, realm: str, max_age: int) -> StepUpRequired:
        """The refusal for a request that needs a login at most ``max_age`` seconds old."""
        description = "A more recent login is required."
        # RFC 9470 section 3: the challenge names the error and the max_age the
        # resource server needs; the client logs in again and retries.
        challenge = (
            f'Bearer realm={_quote(realm)}, error="insufficient_user_authentication", '
            f'error_description={_quote(description)}, max_age="{max_age}"'
        )
        return cls(
            401, "insufficient_user_authentication", description, Reason.LOGIN_TOO_OLD,
            challenge, max_age,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class HttpsRequired(Failure):
    """403: the request came over plain HTTP; refused without a redirect."""

    @classmethod
    def make(cls) -> HttpsRequired:
        """The one plain-HTTP refusal."""
        return cls(
            403, "https_required", "This API is served over HTTPS only.", Reason.HTTPS_REQUIRED
        )


@dataclass(frozen=True, slots=True)
class InsufficientScope(Failure):
    """403: the token is valid but lacks a scope the request needs (RFC 6750 section 3.1).

    Attributes:
        required: The scopes the request needs, as the challenge's ``scope`` names them.
        any_of: True when any one of ``required`` would do, False when all are needed.
    """

    required: tuple[str, ...] = ()
    any_of: bool = False

    @classmethod
    def make(
        cls, realm: str, required: tuple[str, ...], *, any_of: bool = False
    ) -> InsufficientScope:
        """The refusal for a request that needs ``required`` (all of them, or ``any_of``)."""
        wanted = " ".join(required)
        # RFC 6750 section 3: the challenge carries the realm, the error code and the
        # scope the request needs, so a client knows which token to ask for.
        challenge = (
            f'Bearer realm={_quote(realm)}, error="insufficient_scope", scope={_quote(wanted)}'
        )
        if any_of and len(required) > 1:
            description = f"The token needs one of these scopes: {wanted}."
        else:
            description = f"The token needs the scope{'s' if len(required) > 1 else ''} {wanted}."
        return cls(
            403, "insufficient_scope", description, Reason.INSUFFICIENT_SCOPE, challenge,
            required, any_of,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TokenLimitReached(Failure):
    """403: the credentials are good, but the account holds its most live tokens already.

    Only with ``max_tokens_per_subject=`` and ``cap_policy="refuse"``. Waiting
    does not help unless a token expires: the client frees a slot by logging
    out one of its tokens (or an administrator revokes one), then logs in again.
    The body names the cap: ``{"error": "token_limit_reached",
    "error_description": "...", "max_tokens": N}``.

    Attributes:
        max_tokens: The most live tokens an account may hold.
    """

    max_tokens: int = 0

    @classmethod
    def make(cls, max_tokens: int) -> TokenLimitReached:
        """The refusal of a login past a cap of ``max_tokens`` live tokens."""
        return cls(
            403, "token_limit_reached",
            f"This account already holds {max_tokens} active token"
            f"{'' if max_tokens == 1 else 's'}, the most allowed. Log out with one of them "
            "(or have it revoked) to free a slot, or wait until one expires, then log in again.",
            Reason.TOKEN_LIMIT, None, max_tokens,
        )  # fmt: skip

    @property
    def json(self) -> dict[str, Any]:
        """The JSON body as a dict: ``error``, ``error_description`` and ``max_tokens``."""
        return {"error": self.error, "error_description": self.description,
                "max_tokens": self.max_tokens}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoreUnavailable(Failure):
    """503: the token store or a registry could not be reached; nothing was accepted."""

    @classmethod
    def make(cls) -> StoreUnavailable:
        """The one fail-closed answer."""
        return cls(
            503, "temporarily_unavailable",
            "The authentication service is temporarily unavailable; try again later.",
            Reason.STORE_UNAVAILABLE,
        )  # fmt: skip

    @property
    def headers(self) -> Headers:
        """Response headers, with a short ``Retry-After``."""
        return (_JSON, *_NO_STORE, ("Retry-After", "5"))


@dataclass(frozen=True, slots=True)
class _RetryLater(Failure):
    """A failure that says when to come back: ``Retry-After`` in seconds (RFC 9110 section 10.2.3).

    Attributes:
        retry_after: Seconds to wait before trying again (at least 1).
    """

    retry_after: int = 1

    @property
    def headers(self) -> Headers:
        """Response headers, with ``Retry-After``."""
        return (_JSON, *_NO_STORE, ("Retry-After", str(self.retry_after)))


@dataclass(frozen=True, slots=True)
class TooManyRequests(_RetryLater):
    """429: too many failed logins for this account or from this client (RFC 6585 section 4).

    No password was checked. Unknown accounts are counted and answered the same
    way as known ones, so the answer tells nothing about which accounts exist.
    ``retry_after`` is the seconds until the throttle lets this login through.
    """

    @classmethod
    def login(cls, retry_after: int) -> TooManyRequests:
        """The one throttled-login answer; ``retry_after`` is at least 1 second."""
        return cls(
            429, "too_many_requests",
            "Too many failed logins; wait before trying again (see Retry-After).",
            Reason.LOGIN_THROTTLED, None, max(1, retry_after),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Overloaded(_RetryLater):
    """503: logins are shed, at once, because the password-hash queue is too long.

    Token validations are never shed; only logins that would wait for a
    password hash longer than the configured bound. ``retry_after`` is the
    seconds after which the queue is expected to have drained enough.
    """

    @classmethod
    def login(cls, retry_after: int) -> Overloaded:
        """The one shed-login answer; ``retry_after`` is at least 1 second."""
        return cls(
            503, "temporarily_unavailable",
            "The server is busy with other logins; try again shortly (see Retry-After).",
            Reason.OVERLOADED, None, max(1, retry_after),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Granted:
    """200: a login or a refresh succeeded; the body carries the new token (RFC 6749 section 5.1).

    Attributes:
        token: The signed JWT. Secret: never log it.
        expires_in: Seconds until the token expires.
        principal: Who logged in, and how.
        claims: The token's claims.
        refresh_token: The new refresh token, when refresh tokens are enabled
            (RFC 6749 section 6); None otherwise. Secret: never log it.
    """

    token: str = field(repr=False)
    expires_in: int
    principal: Principal
    claims: Claims
    token_type: Literal["Bearer"] = "Bearer"
    status: Literal[200] = 200
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def headers(self) -> Headers:
        """Response headers: JSON, never cached."""
        return (_JSON, *_NO_STORE)

    @property
    def json(self) -> dict[str, str | int]:
        """The body as a dict: ``token``, ``token_type``, ``expires_in``, any ``refresh_token``."""
        out: dict[str, str | int] = {
            "token": self.token, "token_type": self.token_type, "expires_in": self.expires_in
        }  # fmt: skip
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        return out

    @property
    def body(self) -> bytes:
        """The JSON body, encoded."""
        return json.dumps(self.json).encode()


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The request carries a valid token: let it through.

    Attributes:
        principal: Who the token was issued to, and how they logged in.
        claims: The token's verified claims.
        token: The token as presented (for logout). Secret: never log it.
    """

    principal: Principal
    claims: Claims
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """204: the presented token was revoked."""

    claims: Claims
    status: Literal[204] = 204

    @property
    def headers(self) -> Headers:
        """Response headers: never cached."""
        return _NO_STORE

    @property
    def body(self) -> bytes:
        """No body."""
        return b""


#: ``Authenticated(...)`` with every field given positionally, built cheaply (see
#: ``tokenauth._frozen``): one per authenticated request.
authenticated_of: Callable[[Principal, Claims, str], Authenticated] = maker(Authenticated)


LoginResult: TypeAlias = (
    "Granted | BadRequest | Unauthorized | HttpsRequired | StoreUnavailable"
    " | TooManyRequests | Overloaded | TokenLimitReached"
)
AuthResult: TypeAlias = (
    "Authenticated | BadRequest | Unauthorized | HttpsRequired | StoreUnavailable"
)
ScopeResult: TypeAlias = "Authenticated | InsufficientScope"
RefreshResult: TypeAlias = "Granted | BadRequest | InvalidGrant | HttpsRequired | StoreUnavailable"
LogoutResult: TypeAlias = "LoggedOut | BadRequest | Unauthorized | HttpsRequired | StoreUnavailable"
