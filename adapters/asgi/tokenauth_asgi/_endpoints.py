"""ASGI endpoints: login, logout, the JWKS document, a health check and a plain-HTTP refuser.

Each is a small ASGI app; :class:`TokenEndpoints` routes to them and sends
every other path to your app (put :class:`~tokenauth_asgi.TokenAuthMiddleware`
around it for the token check).
"""

from __future__ import annotations

from typing import Any

from tokenauth import (
    JWKS_MAX_AGE,
    AsyncTokenAuth,
    Authenticated,
    ConfigurationError,
    HttpsRequired,
    Request,
    is_refresh_request,
)

from ._middleware import TokenAuthMiddleware, authenticated
from ._scope import header, read_body, request_of, send_json, send_result
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HealthEndpoint",
    "HttpsRequiredApp",
    "JWKSEndpoint",
    "LoginEndpoint",
    "LogoutEndpoint",
    "TokenAuthApp",
    "TokenEndpoints",
    "not_found",
]

_NO_STORE = ("Cache-Control", "no-store")


async def _method_not_allowed(send: Send, allowed: str) -> None:
    await send_json(send, 405, {"error": "method_not_allowed"}, [("Allow", allowed), _NO_STORE])


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """A JSON 404, the default app behind :class:`TokenEndpoints`; it runs lifespans."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await send_json(send, 404, {"error": "not_found"}, [_NO_STORE])
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})


class LoginEndpoint:
    """``GET`` or ``POST`` with HTTP Basic credentials: answers with a token or a failure.

    A ``POST`` with a form body (``grant_type=refresh_token&refresh_token=...``)
    is a refresh instead (see :meth:`tokenauth.AsyncTokenAuth.refresh`); its body
    is read up to :data:`tokenauth.MAX_FORM_BODY` bytes.

    Args:
        auth: The configured front door.
    """

    def __init__(self, auth: AsyncTokenAuth) -> None:
        """Serve logins for ``auth``."""
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one login request, or a refresh (only then is the body read)."""
        if scope["type"] != "http":
            await not_found(scope, receive, send)
            return
        request = request_of(scope)
        if scope["method"] not in ("GET", "POST"):
            if not self.auth.is_https(request):
                await send_result(send, await self.auth.refuse_plain_http(request))
                return
            await _method_not_allowed(send, "GET, POST")
            return
        content_type = header(scope, b"content-type")
        if is_refresh_request(scope["method"], content_type):
            body = await read_body(receive)
            refreshed = await self.auth.refresh(request, body=body, content_type=content_type)
            await send_result(send, refreshed)
            return
        result = await self.auth.login(request)
        await send_result(send, result)


class LogoutEndpoint:
    """``POST`` with the bearer token to revoke: 204, or the failure as the core renders it.

    Behind :class:`~tokenauth_asgi.TokenAuthMiddleware` the request is already
    authenticated; on its own the endpoint authenticates it first.

    Args:
        auth: The configured front door.
    """

    def __init__(self, auth: AsyncTokenAuth) -> None:
        """Serve logouts for ``auth``."""
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Revoke the token the request was authenticated with."""
        if scope["type"] != "http":
            await not_found(scope, receive, send)
            return
        found = authenticated(scope)
        if found is None:
            result = await self.auth.authenticate(request_of(scope))
            if not isinstance(result, Authenticated):
                await send_result(send, result)
                return
            found = result
        if scope["method"] != "POST":
            await _method_not_allowed(send, "POST")
            return
        await send_result(send, await self.auth.logout(found.token))


class JWKSEndpoint:
    """``GET`` the public keys (RFC 7517 JWKS) that verify this server's tokens.

    Args:
        auth: The configured front door; its current key set is published, so
            a rotation shows at once.
        max_age: Seconds clients may cache the document.
    """

    def __init__(self, auth: AsyncTokenAuth, *, max_age: int = JWKS_MAX_AGE) -> None:
        """Publish the keys of ``auth``."""
        self.auth = auth
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the JWKS document."""
        if scope["type"] != "http":
            await not_found(scope, receive, send)
            return
        request = request_of(scope)
        if not self.auth.is_https(request):
            await send_result(send, await self.auth.refuse_plain_http(request))
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _method_not_allowed(send, "GET, HEAD")
            return
        if not self.auth.is_https(request_of(scope)):
            await send_result(send, HttpsRequired.make())
            return
        await send_json(
            send,
            200,
            self.auth.keys.jwks(),
            [("Cache-Control", f"public, max-age={self.max_age}")],
        )


class HttpsRequiredApp:
    """Refuse every request (403 ``https_required``): serve this on a plain-HTTP port.

    A token the request carries is revoked, since it has crossed the network in
    clear text, and so is the session of a refresh token in a form body. The
    request counts as plain HTTP whatever its headers claim.

    Args:
        auth: The front door whose store holds the tokens to revoke.
    """

    def __init__(self, auth: AsyncTokenAuth) -> None:
        """Refuse on behalf of ``auth``."""
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an HTTP request; close a WebSocket; pass lifespan events by."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = request_of(scope)
        # secure=False and no forwarding headers: this listener is plain HTTP, so the
        # core refuses, and revokes whatever credential the request showed.
        plain = Request(
            authorization=request.authorization,
            query=request.query,
            secure=False,
            client=request.client,
            user_agent=request.user_agent,
        )
        content_type = header(scope, b"content-type")
        if scope["type"] == "http" and is_refresh_request(scope["method"], content_type):
            # A refresh token in the body was exposed too: the core ends its session.
            body = await read_body(receive)
            await self.auth.refresh(plain, body=body, content_type=content_type)
        else:
            await self.auth.refuse_plain_http(plain)
        if scope["type"] == "http":
            await send_result(send, HttpsRequired.make())
        else:
            await send({"type": "websocket.close", "code": 1008})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class TokenEndpoints:
    """The login, logout and JWKS endpoints in front of ``app``, which gets every other path.

    * ``login_path`` (``GET`` or ``POST``): HTTP Basic credentials in, a token
      out (200 with ``Cache-Control: no-store``), or the core's refusal; a
      ``POST`` with a form body there is a refresh (when refresh tokens are on).
    * ``logout_path`` (``POST``): revokes the bearer token sent; 204.
    * ``jwks_path`` (``GET``): the public keys, for other services to verify tokens.

    Every endpoint refuses plain HTTP. Pass None for an endpoint to leave it out.
    Lifespan events go to ``app`` (the default, a JSON 404, completes them).

    Args:
        auth: The configured front door.
        app: The application for every other path; wrap it in
            :class:`~tokenauth_asgi.TokenAuthMiddleware` to require tokens there.
        login_path: Where clients log in.
        logout_path: Where clients revoke their token.
        jwks_path: Where the public keys are published.
        health_path: Where to answer a health check (``GET``, no token: 200
            ``{"status": "ok"}``, or 503 ``{"status": "unavailable"}`` while the
            store or a registry fails, with the cause in the ``tokenauth`` log),
            or None for none.
        check: At lifespan start-up, run :meth:`tokenauth.AsyncTokenAuth.check`
            and fail the start-up with its message when the store is not set up
            (tables missing, unknown database).
    """

    def __init__(
        self,
        auth: AsyncTokenAuth,
        app: ASGIApp = not_found,
        *,
        login_path: str | None = "/token",
        logout_path: str | None = "/logout",
        jwks_path: str | None = "/.well-known/jwks.json",
        health_path: str | None = None,
        check: bool = True,
    ) -> None:
        """Build the routes; see the class docstring for the arguments."""
        self.auth = auth
        self.app = app
        self.check = check
        self._routes: dict[str, ASGIApp] = {}
        if login_path is not None:
            self._routes[login_path] = LoginEndpoint(auth)
        if logout_path is not None:
            self._routes[logout_path] = LogoutEndpoint(auth)
        if jwks_path is not None:
            self._routes[jwks_path] = JWKSEndpoint(auth)
        if health_path is not None:
            self._routes[health_path] = HealthEndpoint(auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route by exact path; everything else goes to ``app``."""
        if scope["type"] == "lifespan" and self.check:
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] == "http":
            route = self._routes.get(scope.get("path", ""))
            if route is not None:
                await route(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the store at start-up, then hand the lifespan to the app as it came."""
        first = await receive()
        if first["type"] == "lifespan.startup":
            try:
                await self.auth.check()
            except ConfigurationError as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)


class HealthEndpoint:
    """``GET`` a health check: 200 while the store and registries answer, else 503.

    The body says only ``ok`` or ``unavailable``; the cause, with its fix, goes
    to the ``tokenauth`` log (once per cause). Plain HTTP is refused like any
    other request.
    """

    def __init__(self, auth: AsyncTokenAuth) -> None:
        """Serve the health of ``auth``'s store and registries."""
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one health check."""
        request = request_of(scope)
        if not self.auth.is_https(request):
            await send_result(send, await self.auth.refuse_plain_http(request))
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _method_not_allowed(send, "GET, HEAD")
            return
        await send_result(send, await self.auth.health())


class TokenAuthApp(TokenEndpoints):
    """The endpoints in front of ``app``, whose paths need a token: the two pieces in one.

    ``TokenAuthApp(auth, app, exclude=["/health"])`` is
    ``TokenEndpoints(auth, TokenAuthMiddleware(app, auth, exclude=["/health"]))``.

    Args:
        auth: The configured front door.
        app: The application behind the token check (default: JSON 404s).
        login_path: Where clients log in (``GET`` or ``POST`` with Basic credentials).
        logout_path: Where clients revoke their token (``POST``), or None for none.
        jwks_path: Where the public keys are published, or None for none.
        health_path: Where to answer a health check, or None (see :class:`TokenEndpoints`).
        check: Check the store at lifespan start-up (see :class:`TokenEndpoints`).
        middleware: Keyword arguments for :class:`~tokenauth_asgi.TokenAuthMiddleware`
            (``paths``, ``exclude``, ``optional``, ``user_loader``, ``https_only``).
    """

    def __init__(
        self,
        auth: AsyncTokenAuth,
        app: ASGIApp = not_found,
        *,
        login_path: str | None = "/token",
        logout_path: str | None = "/logout",
        jwks_path: str | None = "/.well-known/jwks.json",
        health_path: str | None = None,
        check: bool = True,
        **middleware: Any,
    ) -> None:
        """Build the routes; see the class docstring for the arguments."""
        super().__init__(
            auth, TokenAuthMiddleware(app, auth, **middleware), login_path=login_path,
            logout_path=logout_path, jwks_path=jwks_path, health_path=health_path, check=check,
        )  # fmt: skip
