"""The bearer-token middleware: authenticate secured paths, put who it was in the scope."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    Claims,
    ConfigurationError,
    Principal,
    Request,
)
from tokenauth.extend import frozen_maker

from ._scope import request_of, send_result
from ._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "SCOPE_KEY",
    "AnonymousUser",
    "BearerAuthMiddleware",
    "TokenCredentials",
    "TokenUser",
    "authenticated",
]

#: Where the middleware puts the :class:`~tokenauth.Authenticated` result in the scope.
SCOPE_KEY = "tokenauth"


@dataclass(frozen=True, slots=True)
class TokenUser:
    """The authenticated user, as ``scope["user"]``: Starlette's and Litestar's ``request.user``.

    It has the attributes of Starlette's ``BaseUser`` without importing Starlette.

    Attributes:
        principal: Who the token was issued to, and how they logged in.
        claims: The token's verified claims.
    """

    principal: Principal
    claims: Claims

    @property
    def is_authenticated(self) -> bool:
        """Always True."""
        return True

    @property
    def display_name(self) -> str:
        """The subject."""
        return self.principal.subject

    @property
    def identity(self) -> str:
        """The subject."""
        return self.principal.subject


@dataclass(frozen=True, slots=True)
class AnonymousUser:
    """``scope["user"]`` on public paths: nobody is authenticated there."""

    @property
    def is_authenticated(self) -> bool:
        """Always False."""
        return False

    @property
    def display_name(self) -> str:
        """Empty."""
        return ""

    @property
    def identity(self) -> str:
        """Empty."""
        return ""


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


def _public_matcher(public_paths: Iterable[str]) -> Callable[[str], bool] | None:
    exact: set[str] = set()
    prefixes: list[str] = []
    for path in public_paths:
        if not path.startswith("/"):
            raise ConfigurationError(f"a public path starts with '/': {path!r}")
        # "/docs/" covers everything under it; "/health" is that path alone.
        if path.endswith("/"):
            prefixes.append(path)
        else:
            exact.add(path)
    if not exact and not prefixes:
        return None
    if not prefixes:
        return exact.__contains__
    starts = tuple(prefixes)
    return lambda path: path in exact or path.startswith(starts)


class BearerAuthMiddleware:
    """Require a valid bearer token on every path except the public ones.

    A request that passes reaches the app with ``scope["tokenauth"]`` (the
    :class:`~tokenauth.Authenticated` result), ``scope["user"]`` (a
    :class:`TokenUser`) and ``scope["auth"]`` (a :class:`TokenCredentials`). Any
    other outcome is answered here exactly as the core rendered it. WebSocket
    handshakes are checked the same way; lifespan events pass through.

    Args:
        app: The ASGI application to protect.
        auth: The configured front door.
        public_paths: Paths that need no token: an exact path, or a prefix when it
            ends with ``/`` (e.g. ``"/docs/"``).
        https_only: Refuse plain-HTTP requests to public paths too (403), as the
            contract says of every request; secured paths always refuse them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: AsyncTokenAuth,
        public_paths: Iterable[str] = (),
        https_only: bool = True,
    ) -> None:
        """Wrap ``app``; see the class docstring for the arguments."""
        self.app = app
        self.auth = auth
        self.https_only = https_only
        self._is_public = _public_matcher(public_paths)
        # The core answers a repeated header with the same (immutable) Authenticated
        # object; its TokenUser and TokenCredentials are then the same values too.
        self._scope_values: dict[str, tuple[Authenticated, TokenUser, TokenCredentials]] = {}

    def _store(self, scope: Scope, result: Authenticated) -> None:
        """Put ``result``, its :class:`TokenUser` and :class:`TokenCredentials` in the scope."""
        kept = self._scope_values
        values = kept.get(result.token)
        if values is None or values[0] is not result:
            values = _scope_values(result)
            if len(kept) >= _SCOPE_VALUES_KEPT:
                kept.clear()
            kept[result.token] = values
        scope[SCOPE_KEY], scope["user"], scope["auth"] = values

    def _public_ok(self, scope: Scope, request: Request) -> bool:
        """Whether the request is to a public path and may be served as it came."""
        is_public = self._is_public
        if is_public is None or not is_public(scope.get("path", "")):
            return False
        return not self.https_only or self.auth.is_https(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate an HTTP or WebSocket request, or pass another scope through."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request = request_of(scope)
        if self._is_public is not None and self._public_ok(scope, request):
            scope.setdefault("user", AnonymousUser())
            scope.setdefault("auth", TokenCredentials())
            await self.app(scope, receive, send)
            return
        # Over plain HTTP the core answers 403 and revokes any token it was shown.
        result = await self.auth.authenticate(request)
        if isinstance(result, Authenticated):
            self._store(scope, result)
            await self.app(scope, receive, send)
            return
        if kind == "http":
            await send_result(send, result)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send_result(send, result, websocket=True)
        else:
            # Without the denial-response extension the server answers 403 itself.
            await send({"type": "websocket.close", "code": 1008})
