"""Django idioms: a middleware (sync and async), the token views, view decorators.

Settings::

    TOKENAUTH = "myproject.security.token_auth"  # a TokenAuth, or its dotted path
    TOKENAUTH_PATHS = ["/api/"]                   # secured prefixes; None: every path
    TOKENAUTH_EXCLUDE = ["/api/health"]           # open prefixes
    TOKENAUTH_OPTIONAL = ["/blog/"]               # token checked when sent, else anonymous
    TOKENAUTH_USER_LOADER = "myproject.users.by_username"  # subject -> user, optional
    MIDDLEWARE = [..., "tokenauth_wsgi.django.TokenAuthMiddleware"]

URLs::

    path("token", tokenauth_wsgi.django.login),
    path("logout", tokenauth_wsgi.django.logout),
    path(".well-known/jwks.json", tokenauth_wsgi.django.jwks),

View decorators (for sync and async views): ``@token_required``,
``@requires("admin")`` and ``@requires_recent_login(300)`` (RFC 9470 step-up:
an older login gets 401 ``insufficient_user_authentication`` with ``max_age``).

On requests it checked, the middleware sets ``request.user`` (lazily: the
loader runs when a view first looks) and ``request.auth`` (the
:class:`~tokenauth.Authenticated` result). Django REST framework's pieces are
in :mod:`tokenauth_wsgi.drf`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tokenauth import (
    MAX_FORM_BODY,
    AnonymousUser,
    Authenticated,
    TokenAuth,
    TokenUser,
    Unauthorized,
    is_refresh_request,
    login_max_age,
    scope_tokens,
)
from tokenauth.extend import PathMatcher

from ._environ import (
    ENVIRON_AUTH,
    ENVIRON_USER,
    Renderable,
    UserLoader,
    authenticate_environ,
    authenticated,
    check_access,
    is_missing_token,
    jwks_environ,
    login_environ,
    logout_environ,
    render,
    store_authenticated,
)

__all__ = [
    "TokenAuthMiddleware",
    "anonymous_user",
    "environ_of",
    "get_auth",
    "get_user_loader",
    "jwks",
    "login",
    "logout",
    "requires",
    "requires_recent_login",
    "to_response",
    "token_required",
]

#: A view, sync (returning a response) or async (returning a coroutine of one).
F = TypeVar("F", bound=Callable[..., Any])


def environ_of(request: HttpRequest) -> dict[str, Any]:
    """``request.META``, with the scheme the server reported as ``wsgi.url_scheme``.

    Under WSGI, ``META`` is the environ and has it already; under ASGI, Django
    keeps the scheme in the ASGI scope, not in ``META``.
    """
    meta = request.META
    if "wsgi.url_scheme" not in meta:
        # The server's own scheme, before SECURE_PROXY_SSL_HEADER: the core
        # decides about proxies itself, from its trusted_proxies.
        meta["wsgi.url_scheme"] = request._get_scheme()  # type: ignore[attr-defined]
    return meta


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
    """Login view: HTTP Basic credentials in, a token out; a form body is a refresh."""
    body: bytes | None = None
    if is_refresh_request(request.method or "GET", request.content_type):
        # Read with the limit, unless Django read the body already (then it has it).
        body = (
            request.body
            if getattr(request, "_read_started", False)
            else request.read(MAX_FORM_BODY + 1)
        )
    return to_response(login_environ(get_auth(), environ_of(request), body=body))


@csrf_exempt
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Logout view: revokes the bearer token sent; 204."""
    return to_response(logout_environ(get_auth(), environ_of(request)))


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """JWKS view: the public keys tokens are verified with."""
    return to_response(jwks_environ(get_auth(), environ_of(request)))


def get_user_loader() -> UserLoader | None:
    """The ``TOKENAUTH_USER_LOADER`` setting: a callable or its dotted path, or None."""
    value: Any = getattr(settings, "TOKENAUTH_USER_LOADER", None)
    if isinstance(value, str):
        value = import_string(value)
    if value is not None and not callable(value):
        raise ImproperlyConfigured(
            "settings.TOKENAUTH_USER_LOADER must be a function of the token's subject "
            "(or the dotted path to one)"
        )
    return cast("UserLoader | None", value)


def anonymous_user() -> Any:
    """Django's ``AnonymousUser`` when ``django.contrib.auth`` is installed, else tokenauth's."""
    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth.models import AnonymousUser as DjangoAnonymousUser

        return DjangoAnonymousUser()
    return AnonymousUser()


def _set_user(request: HttpRequest, result: Authenticated, loader: UserLoader | None) -> None:
    """``request.user`` (lazy, from the loader) and ``request.auth`` for a checked request."""
    meta = request.META

    def user() -> Any:
        if loader is None:
            return TokenUser(result.principal, result.claims)
        found = loader(result.principal.subject)
        if found is None:
            # A token whose subject has no user any more: nobody, for the view (the
            # decorators refuse it with 401; see _checked).
            return anonymous_user()
        meta[ENVIRON_USER] = found
        return found

    # django-stubs types request.user as a model user; a lazy one stands in for it.
    request.user = SimpleLazyObject(user)  # type: ignore[assignment]
    request.auth = result  # type: ignore[attr-defined]  # the DRF convention


def _checked(
    request: HttpRequest, scopes: tuple[str, ...], any_of: bool, max_age: int | None
) -> HttpResponse | None:
    """Authenticate (unless the middleware did) and check the view's needs; the refusal, if any."""
    auth = get_auth()
    if authenticated(request.META) is None:
        result = authenticate_environ(auth, environ_of(request))
        if not isinstance(result, Authenticated):
            return to_response(result)
        store_authenticated(request.META, result, auth)
        _set_user(request, result, get_user_loader())
    if get_user_loader() is not None and ENVIRON_USER not in request.META:
        # Reading the lazy user runs the loader, which records the user it found.
        getattr(request.user, "is_authenticated", None)
        if ENVIRON_USER not in request.META:
            return to_response(Unauthorized.unknown_subject(auth.realm))
    if scopes or max_age is not None:
        denied = check_access(request.META, scopes, any_of=any_of, max_age=max_age)
        if denied is not None:
            return to_response(denied)
    return None


def _guard(scopes: tuple[str, ...], any_of: bool, max_age: int | None) -> Callable[[F], F]:
    """The decorator that runs :func:`_checked` before a sync or an async view."""

    def decorate(view: F) -> F:
        if iscoroutinefunction(view):
            # The check may hit the store and the user loader: off the event loop.
            check = sync_to_async(_checked)

            @functools.wraps(view)
            async def async_wrapper(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponseBase:
                refusal = await check(request, scopes, any_of, max_age)
                if refusal is not None:
                    return refusal
                response: HttpResponseBase = await view(request, *args, **kwargs)
                return response

            return cast(F, async_wrapper)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return _checked(request, scopes, any_of, max_age) or view(request, *args, **kwargs)

        return cast(F, wrapper)

    return decorate


def token_required(view: F) -> F:
    """Decorate a view (sync or async) so that it runs only with a valid bearer token.

    Inside it, ``request.user`` is the loader's user (or a
    :class:`~tokenauth.TokenUser`) and ``request.auth`` the result.
    """
    return _guard((), False, None)(view)


def requires(
    scopes: str | Iterable[str], *, any_of: bool = False, max_age: int | None = None
) -> Callable[[F], F]:
    """Decorate a view (sync or async) so that it runs only with a token that has ``scopes``.

    ``@requires("admin")``: a token without the scope gets 403
    ``insufficient_scope`` naming it; ``any_of=True`` lets any one of several
    do. ``max_age`` also demands a login at most that many seconds old,
    checked after the scopes (see :func:`requires_recent_login`).

    Raises:
        ConfigurationError: A scope name is not an RFC 6749 scope token, or
            ``max_age`` is not whole seconds from 0 to a year.
    """
    age = None if max_age is None else login_max_age(max_age)
    return _guard(scope_tokens(scopes), any_of, age)


def requires_recent_login(max_age: int) -> Callable[[F], F]:
    """Decorate a view (sync or async) so that it runs only after a recent login.

    ``@requires_recent_login(300)``: a token whose login is more than 300
    seconds old gets 401 ``insufficient_user_authentication`` with
    ``max_age`` (RFC 9470 step-up), so the client logs in again and retries.

    Raises:
        ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
    """
    return _guard((), False, login_max_age(max_age))


class TokenAuthMiddleware:
    """Check the bearer token of every request to a secured path; sync and async.

    Reads ``TOKENAUTH``, ``TOKENAUTH_PATHS``, ``TOKENAUTH_EXCLUDE``,
    ``TOKENAUTH_OPTIONAL`` and ``TOKENAUTH_USER_LOADER`` once, at startup. A
    request with a valid token goes on with ``request.user`` (lazy),
    ``request.auth`` and the result in ``request.META`` (see
    ``tokenauth_wsgi.authenticated``); any other request to a secured path gets
    the core's answer. Under ASGI it runs as async middleware, the core's
    check in a worker thread (Django's ``sync_to_async``).

    Args:
        get_response: The next handler, as Django passes it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        """Configure from the settings."""
        self.get_response = get_response
        self.auth = get_auth()
        self.user_loader = get_user_loader()
        self.secured = PathMatcher.of(
            getattr(settings, "TOKENAUTH_PATHS", None), getattr(settings, "TOKENAUTH_EXCLUDE", ())
        )
        optional = tuple(getattr(settings, "TOKENAUTH_OPTIONAL", ()))
        self.optional = PathMatcher.of(optional) if optional else None
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Serve one request (a coroutine when Django runs the middleware async)."""
        if self.is_async:
            return self._acall(request)
        return self._check(request) or self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        refusal = await sync_to_async(self._check)(request)
        if refusal is not None:
            return refusal
        response: HttpResponseBase = await self.get_response(request)
        return response

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        """The refusal for this request, or None to go on (with the user set)."""
        path = request.path_info
        optional = self.optional is not None and self.optional(path)
        if not optional and not self.secured(path):
            return None
        result = authenticate_environ(self.auth, environ_of(request))
        if isinstance(result, Authenticated):
            store_authenticated(request.META, result, self.auth)
            _set_user(request, result, self.user_loader)
            return None
        if optional and is_missing_token(result):
            request.META[ENVIRON_AUTH] = self.auth
            request.user = SimpleLazyObject(anonymous_user)  # type: ignore[assignment]
            return None
        return to_response(result)
