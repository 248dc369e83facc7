"""Pure WSGI: a middleware for secured paths and an app for the token endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from tokenauth import Authenticated, TokenAuth
from tokenauth.extend import PathMatcher, PathRule

from ._environ import (
    ENVIRON_AUTH,
    Document,
    Renderable,
    UserLoader,
    authenticate_environ,
    is_missing_token,
    jwks_environ,
    load_user,
    login_environ,
    logout_environ,
    render,
    request_of,
    store_authenticated,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["TokenAuthMiddleware", "TokenEndpoints", "respond"]

_METHODS = {
    "login": ("GET", "POST"),
    "logout": ("POST",),
    "jwks": ("GET", "HEAD"),
    "health": ("GET", "HEAD"),
}


def respond(result: Renderable, start_response: StartResponse) -> list[bytes]:
    """Send a core result as a WSGI response.

    Args:
        result: Any core result but :class:`~tokenauth.Authenticated`.
        start_response: The server's ``start_response``.

    Returns:
        The response body iterable.
    """
    rendered = render(result)
    headers = rendered.headers
    if rendered.status != HTTPStatus.NO_CONTENT:
        # RFC 9110 section 8.6: a 204 carries no Content-Length.
        headers = [*headers, ("Content-Length", str(len(rendered.body)))]
    start_response(rendered.status_line, headers)
    return [rendered.body]


class TokenAuthMiddleware:
    """Check the bearer token of every request to a secured path.

    A request with a valid token reaches ``app`` with the result in its
    environ (see :func:`authenticated`, :func:`principal_of`,
    :func:`current_user`); any other request to a secured path gets the core's
    answer (400, 401, 403 or 503) and never reaches ``app``. Requests to other
    paths pass through untouched.

    Args:
        app: The WSGI application to protect.
        auth: The configured core.
        paths: Path prefixes to secure (``PATH_INFO``); None secures every path.
        exclude: Path prefixes to leave open, such as a health check.
        optional: Path prefixes where a token is checked when one is sent, and
            the request goes on anonymously when none is.
        user_loader: Maps a token's subject to the application's user, which
            :func:`current_user` then gives; a subject it returns None for is
            refused (401 ``invalid_token``).
        secured: A predicate on ``PATH_INFO`` that replaces ``paths`` and ``exclude``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        auth: TokenAuth,
        *,
        paths: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        optional: Iterable[str] = (),
        user_loader: UserLoader | None = None,
        secured: PathRule | None = None,
    ) -> None:
        """Wrap ``app``; see the class docstring for the arguments."""
        self.app = app
        self.auth = auth
        self.user_loader = user_loader
        self.secured: PathRule = secured or PathMatcher.of(paths, exclude)
        optional = tuple(optional)
        self.optional: PathRule | None = PathMatcher.of(optional) if optional else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        path = environ.get("PATH_INFO", "")
        optional = self.optional is not None and self.optional(path)
        if not optional and not self.secured(path):
            environ[ENVIRON_AUTH] = self.auth
            return self.app(environ, start_response)
        result = authenticate_environ(self.auth, environ)
        if isinstance(result, Authenticated):
            store_authenticated(environ, result, self.auth)
            refusal = load_user(self.auth, self.user_loader, environ, result)
            if refusal is not None:
                return respond(refusal, start_response)
            return self.app(environ, start_response)
        if optional and is_missing_token(result):
            environ[ENVIRON_AUTH] = self.auth
            return self.app(environ, start_response)
        return respond(result, start_response)


class TokenEndpoints:
    """A WSGI app serving login, logout and the JWKS document.

    * ``login_path`` (``GET`` or ``POST``): HTTP Basic credentials in, a token
      out (200 with ``Cache-Control: no-store``), or the core's refusal.
    * ``logout_path`` (``POST``): revokes the bearer token sent; 204.
    * ``jwks_path`` (``GET``): the public keys, for other services to verify tokens.

    Any other path goes to ``app``, or gets a JSON 404 when there is none.
    Pass None for an endpoint to leave it out.

    Args:
        auth: The configured core.
        app: The application for every other path.
        login_path: Where to serve login.
        logout_path: Where to serve logout.
        jwks_path: Where to serve the JWKS document.
        health_path: Where to answer a health check (``GET``, no token: 200
            ``{"status": "ok"}``, or 503 ``{"status": "unavailable"}`` while the
            store or a registry fails, with the cause in the ``tokenauth`` log),
            or None for none.
        check: Run :meth:`tokenauth.TokenAuth.check` now, so that a store that
            is not set up (tables missing, unknown database) stops the server
            from starting, with the fix in the message.

    Raises:
        ConfigurationError: ``check`` found the store not set up.
    """

    def __init__(
        self,
        auth: TokenAuth,
        app: WSGIApplication | None = None,
        *,
        login_path: str | None = "/token",
        logout_path: str | None = "/logout",
        jwks_path: str | None = "/.well-known/jwks.json",
        health_path: str | None = None,
        check: bool = True,
    ) -> None:
        """Configure; see the class docstring for the arguments."""
        self.auth = auth
        self.app = app
        self.routes = {
            path: name
            for path, name in (
                (login_path, "login"),
                (logout_path, "logout"),
                (jwks_path, "jwks"),
                (health_path, "health"),
            )
            if path is not None
        }
        if check:
            auth.check()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        endpoint = self.routes.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            if self.app is not None:
                return self.app(environ, start_response)
            return respond(Document(404, {"error": "not_found"}), start_response)
        methods = _METHODS[endpoint]
        if environ.get("REQUEST_METHOD") not in methods:
            request = request_of(environ)
            if not self.auth.is_https(request):
                return respond(self.auth.refuse_plain_http(request), start_response)
            allow = (("Allow", ", ".join(methods)),)
            return respond(Document(405, {"error": "method_not_allowed"}, allow), start_response)
        if endpoint == "login":
            return respond(login_environ(self.auth, environ), start_response)
        if endpoint == "logout":
            return respond(logout_environ(self.auth, environ), start_response)
        if endpoint == "health":
            request = request_of(environ)
            if not self.auth.is_https(request):
                return respond(self.auth.refuse_plain_http(request), start_response)
            return respond(self.auth.health(), start_response)
        body = respond(jwks_environ(self.auth, environ), start_response)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body
