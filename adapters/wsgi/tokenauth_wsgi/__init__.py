"""tokenauth for WSGI: bearer tokens on secured paths, and the token endpoints.

Pure WSGI, no framework imported here::

    app = TokenEndpoints(auth, TokenAuthMiddleware(my_app, auth, paths=["/api"]))

Framework idioms live in submodules that import their framework:
:mod:`tokenauth_wsgi.flask`, :mod:`tokenauth_wsgi.django` and
:mod:`tokenauth_wsgi.gunicorn` (an access log that never shows a token).
"""

from __future__ import annotations

from ._apps import TokenAuthMiddleware, TokenEndpoints, respond
from ._environ import (
    ENVIRON_AUTHENTICATED,
    ENVIRON_CLAIMS,
    ENVIRON_PRINCIPAL,
    PathMatcher,
    Renderable,
    Rendered,
    authenticate_environ,
    claims_of,
    is_secure_environ,
    jwks_environ,
    login_environ,
    logout_environ,
    principal_of,
    render,
    request_of,
    status_line,
)

__all__ = [
    "ENVIRON_AUTHENTICATED",
    "ENVIRON_CLAIMS",
    "ENVIRON_PRINCIPAL",
    "PathMatcher",
    "Renderable",
    "Rendered",
    "TokenAuthMiddleware",
    "TokenEndpoints",
    "authenticate_environ",
    "claims_of",
    "is_secure_environ",
    "jwks_environ",
    "login_environ",
    "logout_environ",
    "principal_of",
    "render",
    "request_of",
    "respond",
    "status_line",
]
