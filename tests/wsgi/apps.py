"""One small API in each framework, all with the same routes, for the contract tests.

Routes: ``/token`` (login), ``/logout``, ``/.well-known/jwks.json``, ``/api/me``
(secured: answers with the principal and claims it sees), ``/api/admin`` (needs
the admin scope), ``/api/pay`` and ``/api/pay-async`` (need a login at most
60 s old), ``/api/admin-pay`` (both), ``/public`` (open).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import argon2

from tokenauth import (
    Clock,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    TokenAuth,
)
from tokenauth.testing import FrozenClock
from tokenauth_wsgi import (
    TokenAuthMiddleware,
    TokenEndpoints,
    check_access,
    check_recent_login,
    check_scopes,
    claims_of,
    current_user,
    principal_of,
    respond,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FRAMEWORKS = ("wsgi", "flask", "django")
PASSWORD = "correct horse battery staple"
PEPPER = b"p" * 32
#: One key set for the whole run: RSA key generation is slow.
KEYS = KeySet.generate()


def cheap_hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def make_auth(
    store: Any = None, clock: Clock | None = None, keys: KeySet = KEYS, **options: Any
) -> TokenAuth:
    """A core with user alice, fresh in-memory stores and a frozen clock."""
    auth = TokenAuth(
        keys=keys,
        store=MemoryStore() if store is None else store,
        users=MemoryUserRegistry(),
        api_keys=MemoryApiKeyRegistry(),
        pepper=PEPPER,
        hasher=cheap_hasher(),
        clock=clock or FrozenClock(),
        **options,
    )
    auth.add_user("alice", PASSWORD, scope=("read",))
    auth.add_user("root", PASSWORD, scope=("admin", "read"))
    auth.add_user("ghost", PASSWORD, scope=("admin",))  # a token subject load_user does not know
    return auth


@dataclass(frozen=True)
class AppUser:
    """The application's own user object, which ``load_user`` returns."""

    username: str
    name: str

    @property
    def is_authenticated(self) -> bool:
        """What Django and DRF ask of a user (DRF's IsAuthenticated, say)."""
        return True


USERS = {"alice": AppUser("alice", "Alice"), "root": AppUser("root", "Rita Root")}


def load_user(subject: str) -> AppUser | None:
    """The test applications' user loader (a database lookup, in a real one)."""
    return USERS.get(subject)


def admin_body(user: AppUser) -> bytes:
    return json.dumps({"name": user.name}).encode()


def _me(principal: Any, claims: Any) -> bytes:
    return json.dumps(
        {
            "sub": principal.subject,
            "method": principal.method,
            "scope": list(principal.scope),
            "jti": claims.jti,
        }
    ).encode()


#: The most seconds since login the step-up routes accept.
STEP_UP_AGE = 60


def pay_body(subject: str) -> bytes:
    return json.dumps({"sub": subject}).encode()


def _inner(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    path = environ["PATH_INFO"]
    if path in ("/api/pay", "/api/pay-async", "/api/admin-pay"):
        refusal = (
            check_access(environ, ["admin"], max_age=STEP_UP_AGE)
            if path == "/api/admin-pay"
            else check_recent_login(environ, STEP_UP_AGE)
        )
        if refusal is not None:
            return respond(refusal, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [pay_body(principal_of(environ).subject)]  # type: ignore[union-attr]
    if environ["PATH_INFO"] == "/api/me":
        body = _me(principal_of(environ), claims_of(environ))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if environ["PATH_INFO"] == "/api/admin":
        refusal = check_scopes(environ, ["admin"])
        if refusal is not None:
            return respond(refusal, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [admin_body(current_user(environ))]
    if environ["PATH_INFO"] == "/public":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"open"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def wsgi_app(auth: TokenAuth) -> WSGIApplication:
    middleware = TokenAuthMiddleware(_inner, auth, paths=["/api"], user_loader=load_user)
    return TokenEndpoints(auth, middleware)


def flask_app(auth: TokenAuth) -> WSGIApplication:
    import flask

    from tokenauth_wsgi.flask import (
        FlaskTokenAuth,
        current_claims,
        current_principal,
        current_user,
    )

    app = flask.Flask("tokenauth_test")
    tokens = FlaskTokenAuth(auth, app)
    tokens.user_loader(load_user)

    @app.get("/api/me")
    @tokens.required
    def me() -> flask.Response:
        body = _me(current_principal(), current_claims())
        return flask.Response(body, content_type="application/json")

    @app.get("/api/admin")
    @tokens.requires("admin")
    def admin() -> flask.Response:
        return flask.Response(admin_body(current_user), content_type="application/json")

    @app.get("/api/pay")
    @tokens.requires_recent_login(STEP_UP_AGE)
    def pay() -> flask.Response:
        return flask.Response(
            pay_body(current_principal().subject), content_type="application/json"
        )

    @app.get("/api/pay-async")
    @tokens.requires_recent_login(STEP_UP_AGE)
    async def pay_async() -> flask.Response:
        return flask.Response(
            pay_body(current_principal().subject), content_type="application/json"
        )

    @app.get("/api/admin-pay")
    @tokens.requires("admin", max_age=STEP_UP_AGE)
    def admin_pay() -> flask.Response:
        return flask.Response(
            pay_body(current_principal().subject), content_type="application/json"
        )

    @app.get("/public")
    def public() -> str:
        return "open"

    return app


def django_app(auth: TokenAuth) -> WSGIApplication:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="not-secret-test-only",
            ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
            ROOT_URLCONF="tests.wsgi.django_urls",
            MIDDLEWARE=["tokenauth_wsgi.django.TokenAuthMiddleware"],
            INSTALLED_APPS=[],
            TOKENAUTH_PATHS=["/api"],
            TOKENAUTH_USER_LOADER="tests.wsgi.apps.load_user",
            REST_FRAMEWORK={
                "DEFAULT_AUTHENTICATION_CLASSES": ["tokenauth_wsgi.drf.TokenAuthentication"],
                "DEFAULT_PERMISSION_CLASSES": [],
                "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
                "UNAUTHENTICATED_USER": "tokenauth.AnonymousUser",
                "EXCEPTION_HANDLER": "tokenauth_wsgi.drf.exception_handler",
            },
            USE_TZ=True,
        )
        django.setup()
    settings.TOKENAUTH = auth
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


BUILDERS = {"wsgi": wsgi_app, "flask": flask_app, "django": django_app}
