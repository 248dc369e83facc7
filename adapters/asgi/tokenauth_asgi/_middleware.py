"""The bearer-token middleware: authenticate secured paths, put who it was in the scope."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tokenauth import (
    AnonymousUser,
    AsyncTokenAuth,
    Authenticated,
    Claims,
    Failure,
    Principal,
    Reason,
    TokenUser,
    Unauthorized,
)
from tokenauth.extend import PathMatcher, PathRule, frozen_maker

from ._scope import request_of, send_result
from ._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "AUTH_KEY",
    "SCOPE_KEY",
    "USER_KEY",
    "TokenAuthMiddleware",
    "TokenCredentials",
    "UserLoader",
    "authenticated",
    "check_access",
    "check_recent_login",
    "check_scopes",
    "claims_of",
    "current_user",
    "load_user",
    "principal_of",
]

#: Where the middleware puts the :class:`~tokenauth.Authenticated` result in the scope.
SCOPE_KEY = "tokenauth"
#: Where the middleware puts the front door, so scope checks answer in its realm.
AUTH_KEY = "tokenauth.auth"
#: Where the middleware puts the user its ``user_loader`` returned.
USER_KEY = "tokenauth.user"

#: The application's user for a token's subject (sync or async); None when unknown.
UserLoader = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """``scope["auth"]``: the granted scopes, as Starlette's ``AuthCredentials`` has them.

    Attributes:
        scopes: The token's scopes (Starlette's ``@requires`` checks these).
    """

    scopes: tuple[str, ...] = ()


def authenticated(scope: Scope) -> Authenticated | None:
    """The result the middleware stored for this request, or None on public paths."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Authenticated) else None


def principal_of(scope: Scope) -> Principal | None:
    """Who the request's token was issued to, or None on public paths."""
    found = authenticated(scope)
    return None if found is None else found.principal


def claims_of(scope: Scope) -> Claims | None:
    """The verified claims of the request's token, or None on public paths."""
    found = authenticated(scope)
    return None if found is None else found.claims


def current_user(scope: Scope) -> Any:
    """The user the ``user_loader`` returned for this request, or None.

    Without a loader it is the :class:`TokenUser` (``request.user`` in
    Starlette and Litestar); on a public path, or with no token on an optional
    one, None.
    """
    if authenticated(scope) is None:
        return None
    return scope.get(USER_KEY, scope.get("user"))


async def load_user(loader: UserLoader, subject: str) -> Any:
    """Call ``loader`` with ``subject``, awaiting it when it is async."""
    user = loader(subject)
    if inspect.isawaitable(user):
        user = await user
    return user


def check_access(
    scope: Scope,
    scopes: str | Iterable[str] | None = None,
    *,
    any_of: bool = False,
    max_age: int | None = None,
) -> Failure | None:
    """None when this request's token may do what the path needs; else the refusal.

    The decision is the core's (``AsyncTokenAuth.authorize``): the token must
    have ``scopes`` (all, or ``any_of``) and, with ``max_age``, come from a
    login at most that many seconds old (RFC 9470 step-up). The refusal is the
    core's too: 401 with a bare challenge when no token was checked (a public
    or optional path), 403 ``insufficient_scope`` naming the scopes, or 401
    ``insufficient_user_authentication`` with ``max_age``. It needs
    :class:`TokenAuthMiddleware` in front of the app.

    Raises:
        RuntimeError: No :class:`TokenAuthMiddleware` saw this request.
    """
    auth = scope.get(AUTH_KEY)
    if not isinstance(auth, AsyncTokenAuth):
        raise RuntimeError(
            "a scope or login-age check needs tokenauth_asgi.TokenAuthMiddleware in front "
            "of the app (or, with FastAPI, Security(BearerAuth(auth), scopes=[...]))"
        )
    found = authenticated(scope)
    if found is None:
        return Unauthorized.no_token(auth.realm)
    outcome = auth.authorize(found, scopes or None, any_of=any_of, max_age=max_age)
    return None if isinstance(outcome, Authenticated) else outcome


def check_scopes(
    scope: Scope, scopes: str | Iterable[str], *, any_of: bool = False
) -> Failure | None:
    """None when this request's token has ``scopes`` (all, or ``any_of``); else the refusal.

    :func:`check_access` with scopes alone: 401 when no token was checked, 403
    ``insufficient_scope`` naming the scopes when the token lacks one.

    Raises:
        RuntimeError: No :class:`TokenAuthMiddleware` saw this request.
    """
    return check_access(scope, scopes, any_of=any_of)


def check_recent_login(scope: Scope, max_age: int) -> Failure | None:
    """None when this request's token comes from a login at most ``max_age`` seconds old.

    :func:`check_access` with the login age alone (RFC 9470): 401 when no
    token was checked, 401 ``insufficient_user_authentication`` with
    ``max_age`` when the login is older.

    Raises:
        RuntimeError: No :class:`TokenAuthMiddleware` saw this request.
    """
    return check_access(scope, max_age=max_age)


_make_user: Callable[[Principal, Claims], TokenUser] = frozen_maker(TokenUser)
_make_credentials: Callable[[tuple[str, ...]], TokenCredentials] = frozen_maker(TokenCredentials)


def _scope_values(result: Authenticated) -> tuple[Authenticated, TokenUser, TokenCredentials]:
    claims = result.claims
    return result, _make_user(result.principal, claims), _make_credentials(claims.scope)


def _store(scope: Scope, result: Authenticated) -> None:
    """Put ``result``, its :class:`TokenUser` and :class:`TokenCredentials` in the scope."""
    scope[SCOPE_KEY], scope["user"], scope["auth"] = _scope_values(result)


#: Authenticated results whose scope values a middleware keeps for the next request.
_SCOPE_VALUES_KEPT = 4096
#: Paths whose verdict a middleware remembers (the matcher reads each path two ways).
_PATHS_KEPT = 4096


def _remembered(rule: PathRule) -> PathRule:
    """``rule`` with its verdicts remembered for up to :data:`_PATHS_KEPT` paths."""
    seen: dict[str, bool] = {}

    def check(path: str) -> bool:
        verdict = seen.get(path)
        if verdict is None:
            verdict = rule(path)
            if len(seen) >= _PATHS_KEPT:
                seen.clear()
            seen[path] = verdict
        return verdict

    return check


class TokenAuthMiddleware:
    """Require a valid bearer token on secured paths.

    A request that passes reaches the app with ``scope["tokenauth"]`` (the
    :class:`~tokenauth.Authenticated` result), ``scope["user"]`` (the
    ``user_loader``'s user, or a :class:`TokenUser`) and ``scope["auth"]`` (a
    :class:`TokenCredentials`): Starlette's and Litestar's ``request.user`` and
    ``request.auth``. Any other outcome is answered here exactly as the core
    rendered it. WebSocket handshakes are checked the same way; lifespan events
    pass through.

    Args:
        app: The ASGI application to protect.
        auth: The configured front door.
        paths: Path prefixes that need a token (whole segments: ``/api`` covers
            ``/api/x``, not ``/apix``); None, the default, secures every path.
        exclude: Path prefixes left open, such as ``/health`` or ``/docs``.
        optional: Path prefixes where a token is checked when one is sent, and
            the request goes on anonymously (``AnonymousUser``) when none is.
        user_loader: Maps a token's subject to the application's user (a
            function or a coroutine function); its result becomes
            ``request.user``. When it returns None the token is refused (401
            ``invalid_token``).
        https_only: Refuse plain-HTTP requests to open paths too (403), as the
            contract says of every request; secured paths always refuse them.
        public_paths: Deprecated: the same as ``exclude``.
    """

    def __init__(
        self,
        app: ASGIApp,
        auth: AsyncTokenAuth,
        *,
        paths: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        optional: Iterable[str] = (),
        user_loader: UserLoader | None = None,
        https_only: bool = True,
        public_paths: Iterable[str] | None = None,
    ) -> None:
        """Wrap ``app``; see the class docstring for the arguments."""
        if public_paths is not None:
            warnings.warn(
                "public_paths= is deprecated; pass the same prefixes as exclude=",
                DeprecationWarning,
                stacklevel=2,
            )
            exclude = (*exclude, *public_paths)
        self.app = app
        self.auth = auth
        self.https_only = https_only
        self.user_loader = user_loader
        secured = PathMatcher.of(paths, exclude)
        self._secured = None if secured.everything else _remembered(secured)
        optional = tuple(optional)
        self._optional = _remembered(PathMatcher.of(optional)) if optional else None
        self._unknown_subject = Unauthorized.unknown_subject(auth.realm)
        # The core answers a repeated header with the same (immutable) Authenticated
        # object; its TokenUser and TokenCredentials are then the same values too.
        self._scope_values: dict[str, tuple[Authenticated, TokenUser, TokenCredentials]] = {}

    def _new_scope_values(
        self, result: Authenticated
    ) -> tuple[Authenticated, TokenUser, TokenCredentials]:
        """``result``, its :class:`TokenUser` and :class:`TokenCredentials`, kept for a repeat."""
        kept = self._scope_values
        values = _scope_values(result)
        if len(kept) >= _SCOPE_VALUES_KEPT:
            kept.clear()
        kept[result.token] = values
        return values

    def _anonymous(self, scope: Scope) -> None:
        scope.setdefault("user", AnonymousUser())
        scope.setdefault("auth", TokenCredentials())
        scope[AUTH_KEY] = self.auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate an HTTP or WebSocket request, or pass another scope through."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request = request_of(scope)
        secured = self._secured
        if secured is not None:
            path = scope.get("path", "")
            optional = self._optional
            if (
                not secured(path)
                and (optional is None or not optional(path))
                and (not self.https_only or self.auth.is_https(request))
            ):
                self._anonymous(scope)
                await self.app(scope, receive, send)
                return
        # Over plain HTTP the core answers 403 and revokes any token it was shown.
        result: Any = await self.auth.authenticate(request)
        if isinstance(result, Authenticated):
            # The scope values of a repeated result are the same values again.
            values = self._scope_values.get(result.token)
            if values is None or values[0] is not result:
                values = self._new_scope_values(result)
            scope[SCOPE_KEY], scope["user"], scope["auth"] = values
            scope[AUTH_KEY] = self.auth
            loader = self.user_loader
            if loader is None:
                await self.app(scope, receive, send)
                return
            user = await load_user(loader, result.principal.subject)
            if user is not None:
                scope["user"] = scope[USER_KEY] = user
                await self.app(scope, receive, send)
                return
            result = self._unknown_subject
        elif (
            self._optional is not None
            and type(result) is Unauthorized
            and result.reason is Reason.NO_TOKEN
            and self._optional(scope.get("path", ""))
        ):
            self._anonymous(scope)
            await self.app(scope, receive, send)
            return
        if kind == "http":
            await send_result(send, result)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send_result(send, result, websocket=True)
        else:
            # Without the denial-response extension the server answers 403 itself.
            await send({"type": "websocket.close", "code": 1008})
