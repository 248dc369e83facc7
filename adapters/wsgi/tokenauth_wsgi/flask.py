"""Flask idioms: an extension that serves the token endpoints and a view decorator.

::

    tokens = FlaskTokenAuth(auth, app)

    @app.get("/api/me")
    @tokens.required
    def me():
        return {"sub": current_principal().subject}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask

from tokenauth import Authenticated, TokenAuth

from ._environ import (
    Renderable,
    authenticate_environ,
    claims_of,
    jwks_environ,
    login_environ,
    logout_environ,
    principal_of,
    render,
    store_authenticated,
)

__all__ = ["FlaskTokenAuth", "current_claims", "current_principal", "to_response"]

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


class FlaskTokenAuth:
    """A Flask extension: the token endpoints as routes, and ``required`` for views.

    Args:
        auth: The configured core.
        app: The app to register with now; or call :meth:`init_app` later.
        login_path: The login route (``GET``, ``POST``); None to leave it out.
        logout_path: The logout route (``POST``); None to leave it out.
        jwks_path: The JWKS route (``GET``); None to leave it out.
    """

    def __init__(
        self,
        auth: TokenAuth,
        app: flask.Flask | None = None,
        *,
        login_path: str | None = "/token",
        logout_path: str | None = "/logout",
        jwks_path: str | None = "/.well-known/jwks.json",
    ) -> None:
        """Configure; see the class docstring for the arguments."""
        self.auth = auth
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

    def _login(self) -> flask.Response:
        return to_response(login_environ(self.auth, flask.request.environ))

    def _logout(self) -> flask.Response:
        return to_response(logout_environ(self.auth, flask.request.environ))

    def _jwks(self) -> flask.Response:
        return to_response(jwks_environ(self.auth, flask.request.environ))

    def required(self, view: F) -> F:
        """Decorate a view so that it runs only with a valid bearer token.

        Inside the view, :func:`current_principal` and :func:`current_claims`
        tell who is calling; any other request gets the core's answer.
        """

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = flask.request.environ
            result = authenticate_environ(self.auth, environ)
            if not isinstance(result, Authenticated):
                return to_response(result)
            store_authenticated(environ, result)
            return view(*args, **kwargs)

        return cast(F, wrapper)
