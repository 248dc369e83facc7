"""tokenauth-asgi: the tokenauth HTTP contract in any ASGI server, framework or not.

:class:`TokenAuthMiddleware` checks the bearer token of requests to secured
paths and puts who it was in the scope; :class:`TokenEndpoints` serves the
login, logout and JWKS endpoints in front of your app. Nothing here imports a
web framework; ``tokenauth_asgi.fastapi``, ``tokenauth_asgi.starlette`` and
``tokenauth_asgi.litestar`` hold each framework's idioms.

The same names mean the same things in ``tokenauth_wsgi``.
"""

from __future__ import annotations

import typing as _typing
import warnings as _warnings

from tokenauth import AnonymousUser, TokenUser

from ._endpoints import (
    HealthEndpoint,
    HttpsRequiredApp,
    JWKSEndpoint,
    LoginEndpoint,
    LogoutEndpoint,
    TokenAuthApp,
    TokenEndpoints,
)
from ._middleware import (
    SCOPE_KEY,
    TokenAuthMiddleware,
    TokenCredentials,
    UserLoader,
    authenticated,
    check_access,
    check_recent_login,
    check_scopes,
    claims_of,
    current_user,
    principal_of,
)
from ._scope import request_of, send_result
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "AnonymousUser",
    "HealthEndpoint",
    "HttpsRequiredApp",
    "JWKSEndpoint",
    "LoginEndpoint",
    "LogoutEndpoint",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "TokenAuthApp",
    "TokenAuthMiddleware",
    "TokenCredentials",
    "TokenEndpoints",
    "TokenUser",
    "UserLoader",
    "authenticated",
    "check_access",
    "check_recent_login",
    "check_scopes",
    "claims_of",
    "current_user",
    "principal_of",
    "request_of",
    "send_result",
]

#: Former names, kept working with a warning: old name -> (new name, object).
_RENAMED = {"BearerAuthMiddleware": ("TokenAuthMiddleware", TokenAuthMiddleware)}


def __getattr__(name: str) -> _typing.Any:
    """Old names still import, with a DeprecationWarning naming the new one."""
    if name in _RENAMED:
        new, value = _RENAMED[name]
        _warnings.warn(
            f"tokenauth_asgi.{name} is now tokenauth_asgi.{new}", DeprecationWarning, stacklevel=2
        )
        return value
    raise AttributeError(f"module 'tokenauth_asgi' has no attribute {name!r}")
