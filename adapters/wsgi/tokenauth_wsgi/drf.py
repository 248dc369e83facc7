"""Django REST framework: an authentication class, scope permissions, exact refusals.

Settings (with ``TOKENAUTH`` and, if you like, ``TOKENAUTH_USER_LOADER`` as in
:mod:`tokenauth_wsgi.django`)::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["tokenauth_wsgi.drf.TokenAuthentication"],
        "EXCEPTION_HANDLER": "tokenauth_wsgi.drf.exception_handler",
    }

A view::

    class Reports(APIView):
        permission_classes = [HasScopes]
        required_scopes = ["reports"]

        def get(self, request):
            return Response({"user": request.user.username, "jti": request.auth.claims.jti})

A view that needs a recent login (RFC 9470 step-up) adds
``HasRecentLogin`` with ``required_login_age = 300`` (or
``has_recent_login(300)``); an older login gets 401
``insufficient_user_authentication`` with ``max_age``.

``request.user`` is the loader's user (or a :class:`~tokenauth.TokenUser`) and
``request.auth`` the :class:`~tokenauth.Authenticated` result. Refusals carry
the contract's status and ``WWW-Authenticate`` challenge; with
:func:`exception_handler` their bodies are the core's bytes too.
Needs ``pip install 'tokenauth-wsgi[drf]'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tokenauth import (
    Authenticated,
    Failure,
    TokenUser,
    Unauthorized,
    login_max_age,
    scope_tokens,
)

from ._environ import authenticate_environ, authenticated, is_missing_token, store_authenticated
from .django import environ_of, get_auth, get_user_loader, to_response

__all__ = [
    "HasRecentLogin",
    "HasScopes",
    "TokenAuthFailed",
    "TokenAuthentication",
    "exception_handler",
    "has_recent_login",
    "has_scopes",
]


class TokenAuthFailed(APIException):
    """The core refused the request: DRF answers with its status, challenge and JSON.

    Attributes:
        result: The core's failure; :func:`exception_handler` sends its exact bytes.
    """

    def __init__(self, result: Failure) -> None:
        """Carry ``result``, with the status and challenge DRF's own handler uses."""
        super().__init__(detail=result.json)
        self.status_code = result.status
        # DRF's handler sends auth_header as WWW-Authenticate, whatever the status.
        self.auth_header = result.challenge
        self.result = result


class TokenAuthentication(BaseAuthentication):
    """Authenticate a request by its bearer token (behind the middleware, reuse its result).

    No token at all: None, so other authenticators and the permissions decide
    (DRF then answers 401 with :meth:`authenticate_header`'s challenge). A bad
    token: the core's refusal (400, 401, 403 or 503).
    """

    def authenticate(self, request: Request) -> tuple[Any, Authenticated] | None:
        """``(user, Authenticated)``, None without a token, or raise :class:`TokenAuthFailed`."""
        auth = get_auth()
        meta = environ_of(request._request)
        result: Any = authenticated(meta)
        if result is None:
            result = authenticate_environ(auth, meta)
            if is_missing_token(result):
                return None
            if not isinstance(result, Authenticated):
                raise TokenAuthFailed(result)
            store_authenticated(meta, result, auth)
        loader = get_user_loader()
        if loader is None:
            return TokenUser(result.principal, result.claims), result
        user = loader(result.principal.subject)
        if user is None:
            raise TokenAuthFailed(Unauthorized.unknown_subject(auth.realm))
        return user, result

    def authenticate_header(self, request: Request) -> str:
        """The challenge of DRF's 401: ``Bearer realm="..."`` (RFC 6750 section 3)."""
        challenge = Unauthorized.no_token(get_auth().realm).challenge
        return challenge or "Bearer"


class HasScopes(BasePermission):
    """Allow a request whose token has the view's ``required_scopes``.

    Set ``required_scopes`` on the view (a list, or a space-separated string)
    and, for "any one of them", ``required_scopes_any_of = True``. A token that
    falls short gets 403 ``insufficient_scope`` naming the scopes; a request
    with no token, DRF's 401.
    """

    scopes: tuple[str, ...] = ()
    any_of: bool = False

    def has_permission(self, request: Request, view: Any) -> bool:
        """True with the scopes; False without a token; raise for a token without them."""
        result = request.auth
        if not isinstance(result, Authenticated):
            return False
        scopes = self.scopes or scope_tokens(getattr(view, "required_scopes", ()))
        if not scopes:
            raise TypeError(
                f"{type(view).__name__} uses HasScopes without required_scopes: set "
                'required_scopes = ["..."] on the view, or use has_scopes("...")'
            )
        any_of = self.any_of or bool(getattr(view, "required_scopes_any_of", False))
        outcome = get_auth().authorize(result, scopes, any_of=any_of)
        if not isinstance(outcome, Authenticated):
            raise TokenAuthFailed(outcome)
        return True


def has_scopes(scopes: str | Iterable[str], *, any_of: bool = False) -> type[HasScopes]:
    """A :class:`HasScopes` for these scopes, for ``permission_classes = [has_scopes("admin")]``.

    Raises:
        ConfigurationError: A scope name is not an RFC 6749 scope token.
    """
    wanted = scope_tokens(scopes)
    return type(f"HasScopes_{'_'.join(wanted)}", (HasScopes,), {"scopes": wanted, "any_of": any_of})


class HasRecentLogin(BasePermission):
    """Allow a request whose token comes from a login at most ``required_login_age`` seconds old.

    Set ``required_login_age`` (seconds) on the view. A token whose login is
    older gets 401 ``insufficient_user_authentication`` with ``max_age`` (RFC
    9470 step-up); a request with no token, DRF's 401. List it after
    :class:`HasScopes` so that a missing scope (403) is answered first, as the
    core orders them.
    """

    max_age: int | None = None

    def has_permission(self, request: Request, view: Any) -> bool:
        """True after a recent enough login; False without a token; raise for an older one."""
        result = request.auth
        if not isinstance(result, Authenticated):
            return False
        max_age = self.max_age
        if max_age is None:
            max_age = getattr(view, "required_login_age", None)
            if max_age is None:
                raise TypeError(
                    f"{type(view).__name__} uses HasRecentLogin without required_login_age: "
                    "set required_login_age = <seconds> on the view, or use has_recent_login(...)"
                )
        outcome = get_auth().require_recent_login(result, max_age=login_max_age(max_age))
        if not isinstance(outcome, Authenticated):
            raise TokenAuthFailed(outcome)
        return True


def has_recent_login(max_age: int) -> type[HasRecentLogin]:
    """A :class:`HasRecentLogin` for ``max_age`` seconds.

    For ``permission_classes = [has_recent_login(300)]``.

    Raises:
        ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
    """
    age = login_max_age(max_age)
    return type(f"HasRecentLogin_{age}", (HasRecentLogin,), {"max_age": age})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's exception handler, but tokenauth's refusals go out exactly as the core renders them.

    A request with no token that DRF refuses (``NotAuthenticated``) gets the
    core's 401 too, when :class:`TokenAuthentication` is the view's first
    authenticator. Everything else goes to DRF's own handler.
    """
    # Imported here: rest_framework.views reads the settings, which name this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, TokenAuthFailed):
        return to_response(exc.result)
    request = context.get("request")
    authenticators = getattr(request, "authenticators", None) or ()
    if (
        isinstance(exc, NotAuthenticated)
        and authenticators
        and isinstance(authenticators[0], TokenAuthentication)
    ):
        response: HttpResponse = to_response(Unauthorized.no_token(get_auth().realm))
        return response
    return drf_exception_handler(exc, context)
