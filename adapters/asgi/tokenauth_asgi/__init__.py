"""tokenauth-asgi: the tokenauth HTTP contract in any ASGI server, framework or not.

:class:`BearerAuthMiddleware` checks the bearer token of every request to a
secured path and puts who it was in the scope; :class:`TokenAuthApp` adds the
login, logout and JWKS endpoints in front of your app. Nothing here imports a
web framework; ``tokenauth_asgi.fastapi`` holds FastAPI's dependencies.
"""

from __future__ import annotations

from ._demo import demo_app
from ._endpoints import (
    HealthEndpoint,
    HttpsRequiredApp,
    JWKSEndpoint,
    LoginEndpoint,
    LogoutEndpoint,
    TokenAuthApp,
    not_found,
)
from ._middleware import (
    SCOPE_KEY,
    AnonymousUser,
    BearerAuthMiddleware,
    TokenCredentials,
    TokenUser,
    authenticated,
)
from ._scope import header, request_of, send_result
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "AnonymousUser",
    "BearerAuthMiddleware",
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
    "TokenCredentials",
    "TokenUser",
    "authenticated",
    "demo_app",
    "header",
    "not_found",
    "request_of",
    "send_result",
]
