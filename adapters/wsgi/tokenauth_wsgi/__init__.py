"""tokenauth for WSGI: bearer tokens on secured paths, and the token endpoints.

Pure WSGI, no framework imported here::

    app = TokenEndpoints(auth, TokenAuthMiddleware(my_app, auth, paths=["/api"]))

Framework idioms live in submodules that import their framework:
:mod:`tokenauth_wsgi.flask`, :mod:`tokenauth_wsgi.django`,
:mod:`tokenauth_wsgi.drf` (Django REST framework) and
:mod:`tokenauth_wsgi.gunicorn` (an access log that never shows a token).

The same names mean the same things in ``tokenauth_asgi``.
"""

from __future__ import annotations

from tokenauth import AnonymousUser, TokenUser

from ._apps import TokenAuthMiddleware, TokenEndpoints, respond
from ._environ import (
    UserLoader,
    authenticate_environ,
    authenticated,
    check_access,
    check_recent_login,
    check_scopes,
    claims_of,
    current_user,
    jwks_environ,
    login_environ,
    logout_environ,
    principal_of,
    read_form_body,
    request_of,
)

__all__ = [
    "AnonymousUser",
    "TokenAuthMiddleware",
    "TokenEndpoints",
    "TokenUser",
    "UserLoader",
    "authenticate_environ",
    "authenticated",
    "check_access",
    "check_recent_login",
    "check_scopes",
    "claims_of",
    "current_user",
    "jwks_environ",
    "login_environ",
    "logout_environ",
    "principal_of",
    "read_form_body",
    "request_of",
    "respond",
]
