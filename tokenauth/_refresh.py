"""Refresh tokens: their records, the optional store protocols, the token-request parser.

RFC 6749 section 6 and RFC 9700 section 4.14. A login with refresh enabled
starts a *session*: every access token and refresh token descended from it
carries the session's id. Each refresh token is used once: ``POST /token``
with ``grant_type=refresh_token`` trades it for a new access token and a new
refresh token (rotation), and presenting one that was already used ends the
whole session, since either its holder or a thief is replaying it.

Refresh tokens are opaque: ``tkr_<session id>.<secret>``, the secret 256
random bits. A store keeps only their HMAC-SHA256 digest (under the API-key
pepper when one is set), never the token. The session id in front lets a
store find a session's keys without reading anything (Redis hash tags).

The stores' refresh operations are a separate, optional protocol
(:class:`RefreshStore`, :class:`AsyncRefreshStore`): a store without them
serves a front door with refresh off, and turning refresh on with such a
store fails at once, naming the missing methods.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import unquote_to_bytes

from ._claims import Principal
from ._errors import ConfigurationError
from ._results import BadRequest, Reason
from ._scopes import scope_tokens
from ._store import (
    MAX_KEY_ID_LENGTH,
    MAX_SESSION_LENGTH,
    MAX_SUBJECT_LENGTH,
    LoginMethod,
    TokenRecord,
    _check_text,
)

__all__ = [
    "DEFAULT_REFRESH_TTL",
    "DEFAULT_SESSION_LIFETIME",
    "FORM_CONTENT_TYPE",
    "MAX_FORM_BODY",
    "REFRESH_STORE_METHODS",
    "REFRESH_TOKEN_PREFIX",
    "AsyncRefreshStore",
    "RefreshGrant",
    "RefreshRecord",
    "RefreshStore",
    "Sessions",
    "is_refresh_request",
    "parse_token_form",
]

#: Every refresh token starts with this (and log redaction knows it).
REFRESH_TOKEN_PREFIX = "tkr_"  # noqa: S105 - a prefix, not a secret
#: The largest token-request body read, in bytes; a binding reads at most one more.
MAX_FORM_BODY = 4096
#: The one content type of a token request (RFC 6749 section 3.2).
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: A refresh token's lifetime when ``refresh_ttl=True``: 14 days.
DEFAULT_REFRESH_TTL = 14 * 86400
#: How long a session may last, whatever the refreshes, by default: 30 days.
DEFAULT_SESSION_LIFETIME = 30 * 86400
#: The longest refresh-token lifetime and session lifetime accepted: a year.
MAX_SESSION_LIFETIME = 366 * 86400
#: The methods a store needs for refresh tokens, named by the error when one lacks them.
REFRESH_STORE_METHODS = (
    "start_session",
    "get_refresh",
    "rotate_refresh",
    "revoke_session",
    "revoke_sessions",
    "purge_refresh",
)

_SESSION_CHARS = 22  # secrets.token_urlsafe(16): 128 bits
_SECRET_CHARS = 43  # secrets.token_urlsafe(32): 256 bits
_TOKEN_SHAPE = re.compile(
    rf"{REFRESH_TOKEN_PREFIX}([A-Za-z0-9_-]{{{_SESSION_CHARS}}})\.[A-Za-z0-9_-]{{{_SECRET_CHARS}}}"
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: The HMAC key of refresh-token digests when no pepper is configured. The secret
#: holds 256 random bits, so its digest cannot be searched even unkeyed; a pepper
#: (when set) is defence in depth against a leaked table.
_UNPEPPERED = b"tokenauth refresh token digest"


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """What a store keeps about one refresh token: never the token itself.

    Attributes:
        digest: HMAC-SHA256 of the token, 64 lowercase hex digits; the key.
        session: The id of the login session (shared by every token of it).
        subject: The principal the session belongs to.
        method: How the session's login was made: ``"password"`` or ``"api_key"``.
        api_key_id: The API key of the login, when ``method`` is ``"api_key"``.
        scope: The scopes granted at the login.
        auth_time: Unix time of the login that started the session.
        issued_at: Unix time this refresh token was issued.
        expires_at: Unix time this refresh token expires (never after
            ``session_expires_at``).
        session_expires_at: Unix time the session ends, whatever the refreshes.
        used: True once the token has been traded (rotated out). A used token is
            kept until it expires, so that presenting it again is recognised
            as reuse and ends the session.
    """

    digest: str
    session: str
    subject: str
    method: LoginMethod
    api_key_id: str | None
    scope: tuple[str, ...]
    auth_time: int
    issued_at: int
    expires_at: int
    session_expires_at: int
    used: bool = False

    def __post_init__(self) -> None:
        owner = "RefreshRecord"
        if not _is_hex64(self.digest):
            raise ValueError("RefreshRecord.digest must be 64 lowercase hex digits")
        _check_text("session", self.session, MAX_SESSION_LENGTH, owner)
        _check_text("subject", self.subject, MAX_SUBJECT_LENGTH, owner)
        if self.method not in ("password", "api_key"):
            raise ValueError(
                f"RefreshRecord.method must be 'password' or 'api_key', not {self.method!r}"
            )
        if (self.method == "api_key") != (self.api_key_id is not None):
            raise ValueError("RefreshRecord.api_key_id is set exactly when method is 'api_key'")
        if self.api_key_id is not None:
            _check_text("api_key_id", self.api_key_id, MAX_KEY_ID_LENGTH, owner)
        if not _is_str_tuple(self.scope):
            raise ValueError("RefreshRecord.scope must be a tuple of str")
        for name in ("auth_time", "issued_at", "expires_at", "session_expires_at"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < 2**53:
                raise ValueError(f"RefreshRecord.{name} must be a non-negative int, got {value!r}")
        if not self.auth_time <= self.issued_at <= self.expires_at <= self.session_expires_at:
            raise ValueError(
                "RefreshRecord needs auth_time <= issued_at <= expires_at <= session_expires_at"
            )
        if type(self.used) is not bool:
            raise ValueError("RefreshRecord.used must be a bool")


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _is_str_tuple(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(s, str) for s in value)


@runtime_checkable
class RefreshStore(Protocol):
    """The refresh-token operations of a synchronous store (optional; see the module).

    A store implements them beside :class:`~tokenauth.TokenStore`, on the same
    records: ``revoke_session`` and ``revoke_sessions`` remove the access-token
    records of the sessions they end, so a session ends as a whole. Each method
    raises :class:`~tokenauth.StoreError` when the backing service fails.
    """

    def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        ...

    def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        ...

    def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token, atomically; True if this call did it.

        If the token ``digest`` is stored, unused and ``expires_at > now``, and
        its session has not been revoked: mark it used, store ``successor`` (of
        the same session) and the access-token record ``access``, all at once.
        Otherwise change nothing and return False. Of concurrent calls for one
        token, at most one returns True.
        """
        ...

    def revoke_session(self, session: str) -> int:
        """End a session: remove its refresh tokens and its access tokens; returns how many."""
        ...

    def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id`` when given).

        Returns:
            How many sessions were ended.
        """
        ...

    def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        ...


@runtime_checkable
class AsyncRefreshStore(Protocol):
    """The asynchronous twin of :class:`RefreshStore`."""

    async def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        ...

    async def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        ...

    async def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token, atomically; see :meth:`RefreshStore.rotate_refresh`."""
        ...

    async def revoke_session(self, session: str) -> int:
        """End a session: remove its refresh tokens and its access tokens; returns how many."""
        ...

    async def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        ...

    async def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        ...


def missing_refresh_methods(store: object) -> list[str]:
    """The refresh operations ``store`` lacks (empty when it has them all)."""
    return [name for name in REFRESH_STORE_METHODS if not callable(getattr(store, name, None))]


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """A well-formed refresh request (RFC 6749 section 6).

    Attributes:
        refresh_token: The refresh token presented. Secret: never log it.
        scope: The narrower scope asked for, or None for the session's own.
    """

    refresh_token: str = field(repr=False)
    scope: tuple[str, ...] | None = None


def _bad(description: str, error: str = "invalid_request") -> BadRequest:
    reason = {
        "invalid_request": Reason.MALFORMED_REQUEST,
        "unsupported_grant_type": Reason.UNSUPPORTED_GRANT_TYPE,
        "invalid_scope": Reason.INVALID_SCOPE,
    }[error]
    return BadRequest.token_request(error, reason, description)


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode(raw: str) -> str | None:
    """One form-urlencoded name or value, strictly: None on a bad escape or bad UTF-8."""
    if _ESCAPE.search(raw):
        return None
    try:
        return unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _form_fields(body: bytes) -> dict[str, str] | BadRequest:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return _bad("The form body holds bytes that are not percent-encoded.")
    fields: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        raw_name, sep, raw_value = part.partition("=")
        name, value = _decode(raw_name), _decode(raw_value)
        if not sep or name is None or value is None or not name:
            return _bad("The form body is not valid application/x-www-form-urlencoded.")
        if name in fields:
            # RFC 6749 section 3.2: parameters must not be included more than once.
            return _bad("A parameter of the token request is repeated.")
        fields[name] = value
    return fields


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_refresh_request(method: str, content_type: str | None) -> bool:
    """Whether a request to the token endpoint is a token request, not a Basic login.

    The one routing rule every binding follows at ``POST /token``: a form body
    (``application/x-www-form-urlencoded``) goes to ``refresh``; any other
    request (``GET``, or ``POST`` with Basic credentials) stays a login.
    """
    return method.upper() == "POST" and _media_type(content_type) == FORM_CONTENT_TYPE


def parse_token_form(body: bytes, content_type: str | None) -> RefreshGrant | BadRequest:
    """Read a refresh request's form body: the one parser of token requests.

    Args:
        body: The request body, as read; a binding reads at most
            :data:`MAX_FORM_BODY` + 1 bytes, so that a longer one is refused here.
        content_type: The ``Content-Type`` header, or None.

    Returns:
        The :class:`RefreshGrant`, or a 400 :class:`~tokenauth.BadRequest`:
        ``invalid_request`` for a wrong content type, an over-size or malformed
        body, a repeated or missing parameter; ``unsupported_grant_type`` for
        another grant; ``invalid_scope`` for a malformed ``scope``.
    """
    if _media_type(content_type) != FORM_CONTENT_TYPE:
        return _bad(f"A token request is sent as {FORM_CONTENT_TYPE}.")
    if len(body) > MAX_FORM_BODY:
        return _bad(f"The token request is larger than {MAX_FORM_BODY} bytes.")
    fields = _form_fields(body)
    if isinstance(fields, BadRequest):
        return fields
    grant_type = fields.get("grant_type")
    if not grant_type:
        return _bad("The grant_type parameter is missing.")
    if grant_type != "refresh_token":
        return _bad("Only the refresh_token grant is supported here.", "unsupported_grant_type")
    token = fields.get("refresh_token")
    if not token:
        return _bad("The refresh_token parameter is missing.")
    scope: tuple[str, ...] | None = None
    if "scope" in fields:
        try:
            scope = scope_tokens(fields["scope"])
        except ConfigurationError:
            return _bad("The scope parameter is not a list of scopes.", "invalid_scope")
    return RefreshGrant(token, scope)


def token_session(token: str) -> str | None:
    """The session id of a well-shaped refresh token, or None for anything else."""
    match = _TOKEN_SHAPE.fullmatch(token) if len(token) < 128 else None
    return None if match is None else match.group(1)


def _checked_seconds(name: str, value: int) -> int:
    if type(value) is not int or not 60 <= value <= MAX_SESSION_LIFETIME:
        raise ConfigurationError(
            f"{name} must be whole seconds from 60 to {MAX_SESSION_LIFETIME} (a year), "
            f"not {value!r}"
        )
    return value


class Sessions:
    """The refresh settings of a front door, and the pure steps of a session.

    Args:
        refresh_ttl: Seconds each refresh token lives.
        lifetime: Seconds a session may last from its login, whatever the refreshes.
        pepper: The server-side secret digests are keyed with, if any.
    """

    __slots__ = ("_key", "lifetime", "refresh_ttl")

    def __init__(self, refresh_ttl: int, lifetime: int, pepper: bytes | None) -> None:
        """Check and keep the settings."""
        self.refresh_ttl = _checked_seconds("refresh_ttl", refresh_ttl)
        self.lifetime = _checked_seconds("session_lifetime", lifetime)
        self._key = pepper or _UNPEPPERED

    @staticmethod
    def new_id() -> str:
        """A fresh session id: 128 random bits."""
        return secrets.token_urlsafe(16)

    def digest(self, token: str) -> str:
        """What a store keeps of ``token``: HMAC-SHA256, lowercase hex."""
        return hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()

    def _mint(self, session: str) -> tuple[str, str]:
        token = f"{REFRESH_TOKEN_PREFIX}{session}.{secrets.token_urlsafe(32)}"
        return token, self.digest(token)

    def first(self, session: str, principal: Principal, now: int) -> tuple[str, RefreshRecord]:
        """The refresh token of a login at ``now``, and its record."""
        token, digest = self._mint(session)
        ends = now + self.lifetime
        record = RefreshRecord(
            digest=digest, session=session, subject=principal.subject, method=principal.method,
            api_key_id=principal.api_key_id, scope=principal.scope, auth_time=now,
            issued_at=now, expires_at=min(now + self.refresh_ttl, ends), session_expires_at=ends,
        )  # fmt: skip
        return token, record

    def successor(self, record: RefreshRecord, now: int) -> tuple[str, RefreshRecord]:
        """The refresh token that replaces ``record``'s at ``now``, and its record.

        It belongs to the same session, with the same scope, and expires no
        later than the session does.
        """
        token, digest = self._mint(record.session)
        ends = record.session_expires_at
        fresh = RefreshRecord(
            digest=digest, session=record.session, subject=record.subject,
            method=record.method, api_key_id=record.api_key_id, scope=record.scope,
            auth_time=record.auth_time, issued_at=min(now, ends),
            expires_at=min(now + self.refresh_ttl, ends), session_expires_at=ends,
        )  # fmt: skip
        return token, fresh
