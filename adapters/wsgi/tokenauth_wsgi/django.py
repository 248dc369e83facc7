"""Django idioms: a middleware for secured paths, the token views and a view decorator.

Settings::

    TOKENAUTH = "myproject.security.token_auth"  # a TokenAuth, or its dotted path
    TOKENAUTH_PATHS = ["/api/"]                   # secured prefixes; None: every path
    TOKENAUTH_EXCLUDE = ["/api/health"]           # open prefixes
    MIDDLEWARE = [..., "tokenauth_wsgi.django.TokenAuthMiddleware"]

URLs::

    path("token", tokenauth_wsgi.django.login),
    path("logout", tokenauth_wsgi.django.logout),
    path(".well-known/jwks.json", tokenauth_wsgi.django.jwks),
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tokenauth import Authenticated, TokenAuth

from ._environ import (
    PathMatcher,
    Renderable,
    authenticate_environ,
    jwks_environ,
    login_environ,
    logout_environ,
    render,
    store_authenticated,
)

__all__ = [
    "TokenAuthMiddleware",
    "get_auth",
    "jwks",
    "login",
    "logout",
    "to_response",
    "token_required",
]

F = TypeVar("F", bound=Callable[..., HttpResponseBase])


def get_auth() -> TokenAuth:
    """The :class:`~tokenauth.TokenAuth` named by the ``TOKENAUTH`` setting.

    Raises:
        ImproperlyConfigured: The setting is missing or names something else.
    """
    value: Any = getattr(settings, "TOKENAUTH", None)
    if isinstance(value, str):
        value = import_string(value)
    if not isinstance(value, TokenAuth):
        raise ImproperlyConfigured(
            "settings.TOKENAUTH must be a tokenauth.TokenAuth or the dotted path to one"
        )
    return value


def to_response(result: Renderable) -> HttpResponse:
    """A Django response for a core result, with the core's status, headers and body."""
    rendered = render(result)
    response = HttpResponse(rendered.body, status=rendered.status, headers=dict(rendered.headers))
    if "Content-Type" not in dict(rendered.headers):
        # Django adds a default HTML type; the core's 204 has none, nor should ours.
        del response["Content-Type"]
    return response


# Token endpoints authenticate with the Authorization header, never a cookie, so
# there is no cross-site request to forge: CSRF protection does not apply.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Login view: HTTP Basic credentials in, a token out."""
    return to_response(login_environ(get_auth(), request.META))


@csrf_exempt
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Logout view: revokes the bearer token sent; 204."""
    return to_response(logout_environ(get_auth(), request.META))


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """JWKS view: the public keys tokens are verified with."""
    return to_response(jwks_environ(get_auth(), request.META))


def token_required(view: F) -> F:
    """Decorate a view so that it runs only with a valid bearer token.

    The view finds the principal with ``tokenauth_wsgi.principal_of(request.META)``.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        result = authenticate_environ(get_auth(), request.META)
        if not isinstance(result, Authenticated):
            return to_response(result)
        store_authenticated(request.META, result)
        return view(request, *args, **kwargs)

    return cast(F, wrapper)


class TokenAuthMiddleware:
    """Check the bearer token of every request to a secured path.

    Reads ``TOKENAUTH``, ``TOKENAUTH_PATHS`` and ``TOKENAUTH_EXCLUDE`` once, at
    startup. A request with a valid token goes on with the principal and claims
    in ``request.META`` (see ``tokenauth_wsgi.principal_of``); any other request
    to a secured path gets the core's answer.

    Args:
        get_response: The next handler, as Django passes it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        """Configure from the settings."""
        self.get_response = get_response
        self.auth = get_auth()
        self.secured = PathMatcher.of(
            getattr(settings, "TOKENAUTH_PATHS", None), getattr(settings, "TOKENAUTH_EXCLUDE", ())
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        """Serve one request."""
        if not self.secured(request.path_info):
            return self.get_response(request)
        result = authenticate_environ(self.auth, request.META)
        if not isinstance(result, Authenticated):
            return to_response(result)
        store_authenticated(request.META, result)
        return self.get_response(request)
