"""Flask idioms: an extension that serves the token endpoints, a view decorator, ``current_user``.

::

    tokens = FlaskTokenAuth(auth, app, user_loader=User.by_username)

    @app.get("/api/me")
    @tokens.required
    def me():
        return {"name": current_user.name}

    @app.get("/api/admin")
    @tokens.requires("admin")
    def admin():
        ...

    @app.post("/api/payments")
    @tokens.requires_recent_login(300)  # RFC 9470 step-up
    def pay():
        ...

Async views (``flask[async]``) are decorated the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import flask
from werkzeug.local import LocalProxy

from tokenauth import Authenticated, TokenAuth, login_max_age, scope_tokens

from ._environ import (
    Renderable,
    UserLoader,
    authenticate_environ,
    authenticated,
    check_access,
    claims_of,
    jwks_environ,
    load_user,
    login_environ,
    logout_environ,
    principal_of,
    render,
    store_authenticated,
)
from ._environ import (
    current_user as _current_user_of,
)

__all__ = [
    "FlaskTokenAuth",
    "current_claims",
    "current_principal",
    "current_user",
    "to_response",
]

F = TypeVar("F", bound=Callable[..., Any])


def to_response(result: Renderable) -> flask.Response:
    """A Flask response for a core result, with the core's status, headers and body."""
    rendered = render(result)
    response = flask.Response(rendered.body, status=rendered.status_line, headers=rendered.headers)
    if not rendered.body and "Content-Type" not in dict(rendered.headers):
        # Flask adds a default type; the core's 204 has none, nor should ours.
        del response.headers["Content-Type"]
    return response


def current_principal() -> Any:
    """The :class:`~tokenauth.Principal` of the current request, or None."""
    return principal_of(flask.request.environ)


def current_claims() -> Any:
    """The verified :class:`~tokenauth.Claims` of the current request, or None."""
    return claims_of(flask.request.environ)


#: The current request's user: the ``user_loader``'s object, else a
#: :class:`~tokenauth.TokenUser`; :class:`~tokenauth.AnonymousUser` when no token was checked.
current_user: Any = LocalProxy(lambda: _current_user_of(flask.request.environ))


class FlaskTokenAuth:
    """A Flask extension: the token endpoints as routes, and ``required`` for views.

    Args:
        auth: The configured core.
        app: The app to register with now; or call :meth:`init_app` later.
        user_loader: Maps a token's subject to the application's user, which
            :data:`current_user` then is; or register it with
            ``@tokens.user_loader``. A subject it returns None for is refused
            (401 ``invalid_token``).
        login_path: The login route (``GET``, ``POST``); None to leave it out.
        logout_path: The logout route (``POST``); None to leave it out.
        jwks_path: The JWKS route (``GET``); None to leave it out.
    """

    def __init__(
        self,
        auth: TokenAuth,
        app: flask.Flask | None = None,
        *,
        user_loader: UserLoader | None = None,
        login_path: str | None = "/token",
        logout_path: str | None = "/logout",
        jwks_path: str | None = "/.well-known/jwks.json",
    ) -> None:
        """Configure; see the class docstring for the arguments."""
        self.auth = auth
        self.loader = user_loader
        self.login_path = login_path
        self.logout_path = logout_path
        self.jwks_path = jwks_path
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Register the token endpoints on ``app``."""
        app.extensions["tokenauth"] = self
        if self.login_path is not None:
            app.add_url_rule(
                self.login_path, "tokenauth_login", self._login, methods=["GET", "POST"]
            )
        if self.logout_path is not None:
            app.add_url_rule(self.logout_path, "tokenauth_logout", self._logout, methods=["POST"])
        if self.jwks_path is not None:
            app.add_url_rule(self.jwks_path, "tokenauth_jwks", self._jwks, methods=["GET"])

    def user_loader(self, loader: UserLoader) -> UserLoader:
        """Register ``loader`` (subject to user), as a decorator: ``@tokens.user_loader``."""
        self.loader = loader
        return loader

    def _login(self) -> flask.Response:
        return to_response(login_environ(self.auth, flask.request.environ))

    def _logout(self) -> flask.Response:
        return to_response(logout_environ(self.auth, flask.request.environ))

    def _jwks(self) -> flask.Response:
        return to_response(jwks_environ(self.auth, flask.request.environ))

    def required(self, view: F) -> F:
        """Decorate a view so that it runs only with a valid bearer token.

        Inside the view, :data:`current_user`, :func:`current_principal` and
        :func:`current_claims` say who is calling; any other request gets the
        core's answer.
        """
        return self._guard((), any_of=False, max_age=None)(view)

    def requires(
        self, scopes: str | Iterable[str], *, any_of: bool = False, max_age: int | None = None
    ) -> Callable[[F], F]:
        """Decorate a view so that it runs only with a valid token that has ``scopes``.

        ``@tokens.requires("admin")``: a token without the scope gets 403
        ``insufficient_scope`` naming it; ``any_of=True`` lets any one of
        several scopes do. ``max_age`` also demands a login at most that many
        seconds old, checked after the scopes (see :meth:`requires_recent_login`).

        Raises:
            ConfigurationError: A scope name is not an RFC 6749 scope token, or
                ``max_age`` is not whole seconds from 0 to a year.
        """
        age = None if max_age is None else login_max_age(max_age)
        return self._guard(scope_tokens(scopes), any_of=any_of, max_age=age)

    def requires_recent_login(self, max_age: int) -> Callable[[F], F]:
        """Decorate a view so that it runs only after a login at most ``max_age`` seconds old.

        ``@tokens.requires_recent_login(300)``: a token whose login is older
        gets 401 ``insufficient_user_authentication`` with ``max_age`` (RFC
        9470 step-up), so the client logs in again and retries.

        Raises:
            ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
        """
        return self._guard((), any_of=False, max_age=login_max_age(max_age))

    def _refusal(
        self, wanted: tuple[str, ...], any_of: bool, max_age: int | None
    ) -> flask.Response | None:
        """Authenticate (unless done already) and check the path's needs; the refusal, if any."""
        environ = flask.request.environ
        result: Any = authenticated(environ)
        if result is None:
            result = authenticate_environ(self.auth, environ)
            if not isinstance(result, Authenticated):
                return to_response(result)
            store_authenticated(environ, result, self.auth)
            refusal = load_user(self.auth, self.loader, environ, result)
            if refusal is not None:
                return to_response(refusal)
        if wanted or max_age is not None:
            denied = check_access(environ, wanted, any_of=any_of, max_age=max_age)
            if denied is not None:
                return to_response(denied)
        return None

    def _guard(
        self, wanted: tuple[str, ...], *, any_of: bool, max_age: int | None
    ) -> Callable[[F], F]:
        def decorate(inner: F) -> F:
            if inspect.iscoroutinefunction(inner):

                @functools.wraps(inner)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    # Flask runs an async view in an event loop of its own (asgiref),
                    # one view per loop: the core's blocking check can run right here.
                    refusal = self._refusal(wanted, any_of, max_age)
                    if refusal is not None:
                        return refusal
                    return await inner(*args, **kwargs)

                return cast(F, async_wrapper)

            @functools.wraps(inner)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                refusal = self._refusal(wanted, any_of, max_age)
                if refusal is not None:
                    return refusal
                return inner(*args, **kwargs)

            return cast(F, wrapper)

        return decorate
