"""FastAPI idioms: security dependencies that show in OpenAPI, and the contract's responses.

:class:`BearerAuth` and :class:`BasicLogin` are FastAPI security schemes, so the
docs page's "Authorize" button offers HTTP Basic (for the login route) and a
bearer token (for the rest). A refusal raises :class:`TokenAuthFailed`; after
:func:`install` the app answers it exactly as the core renders it::

    auth = AsyncTokenAuth(...)
    app = FastAPI()
    install(app)
    app.include_router(auth_router(auth))
    bearer = BearerAuth(auth)

    @app.get("/me")
    async def me(who: Annotated[Authenticated, Depends(bearer)]) -> dict[str, object]:
        return who.claims.to_json()

Needs the ``fastapi`` extra: ``pip install 'tokenauth-asgi[fastapi]'``.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency
# annotations of the routes below at runtime, and they name local objects.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.responses import Response

from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    Failure,
    Granted,
    InsufficientScope,
    LoginResult,
    RefreshResult,
    Unauthorized,
    is_refresh_request,
)

from ._middleware import USER_KEY, UserLoader, _store, authenticated, load_user
from ._scope import read_body, request_of
from .starlette import result_response

__all__ = [
    "BasicLogin",
    "BearerAuth",
    "TokenAuthFailed",
    "auth_router",
    "failure_handler",
    "install",
    "result_response",
]


class TokenAuthFailed(HTTPException):
    """Raised by the dependencies when the core refuses a request.

    Without :func:`install`, FastAPI's own handler still answers with the right
    status and headers, and the contract's JSON under ``"detail"``.

    Attributes:
        result: The core's failure, rendered as-is by :func:`failure_handler`.
    """

    def __init__(self, result: Failure) -> None:
        """Carry ``result``."""
        super().__init__(result.status, detail=result.json, headers=dict(result.headers))
        self.result = result


async def failure_handler(request: Request, exc: Exception) -> Response:
    """The exception handler :func:`install` registers: the failure, exactly as rendered."""
    if not isinstance(exc, TokenAuthFailed):  # pragma: no cover - registered for this type
        raise exc
    return result_response(exc.result)


def install(app: FastAPI) -> None:
    """Answer :class:`TokenAuthFailed` with the contract's exact body and headers."""
    app.add_exception_handler(TokenAuthFailed, failure_handler)


class BearerAuth(SecurityBase):
    """A dependency that requires a valid bearer token, shown in OpenAPI as HTTP bearer.

    ``Depends(bearer)`` (or ``Security(bearer)``) gives the
    :class:`~tokenauth.Authenticated` result. ``Security(bearer, scopes=[...])``
    also requires those scopes of the token, answering 403
    ``insufficient_scope`` when one is missing; OpenAPI lists them on the route.
    ``Security(bearer.user, scopes=[...])`` gives the ``user_loader``'s user
    instead. ``Security(bearer.requires_recent_login(300), scopes=[...])`` also
    demands a login at most 300 seconds old (RFC 9470 step-up), answering an
    older one 401 ``insufficient_user_authentication`` with ``max_age``.
    Behind :class:`~tokenauth_asgi.TokenAuthMiddleware` it reuses the
    middleware's result (and user); on its own it authenticates the request itself.

    Args:
        auth: The configured front door.
        user_loader: Maps a token's subject to the application's user (sync or
            async) for :attr:`user`; a subject it returns None for is refused
            (401 ``invalid_token``).
        scheme_name: The security scheme's name in OpenAPI.
        description: Shown next to the scheme on the docs page.
    """

    def __init__(
        self,
        auth: AsyncTokenAuth,
        *,
        user_loader: UserLoader | None = None,
        scheme_name: str = "bearerAuth",
        description: str | None = "A token from the login endpoint.",
    ) -> None:
        """Configure; see the class docstring."""
        self.auth = auth
        self.user_loader = user_loader
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name
        self.user = _user_dependency(self)

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Authenticated:
        """Authenticate the request and check its scopes, or raise :class:`TokenAuthFailed`."""
        found = authenticated(request.scope)
        if found is None:
            result = await self.auth.authenticate(request_of(request.scope))
            if not isinstance(result, Authenticated):
                raise TokenAuthFailed(result)
            _store(request.scope, result)
            found = result
        if security_scopes.scopes:
            outcome = self.auth.authorize(found, security_scopes.scopes)
            if isinstance(outcome, InsufficientScope):
                raise TokenAuthFailed(outcome)
        return found

    async def load_user(self, request: Request, who: Authenticated) -> Any:
        """The user for ``who``: the middleware's, or the ``user_loader``'s.

        Raises:
            TokenAuthFailed: The loader knows no user by the token's subject (401).
            RuntimeError: There is no ``user_loader`` here or on the middleware.
        """
        if USER_KEY in request.scope:
            return request.scope[USER_KEY]
        if self.user_loader is None:
            raise RuntimeError(
                "bearer.user needs a user_loader: BearerAuth(auth, user_loader=...) "
                "or TokenAuthMiddleware(app, auth, user_loader=...)"
            )
        user = await load_user(self.user_loader, who.principal.subject)
        if user is None:
            raise TokenAuthFailed(Unauthorized.unknown_subject(self.auth.realm))
        request.scope[USER_KEY] = user
        return user

    def requires_recent_login(self, max_age: int) -> Any:
        """A dependency that requires a token from a login at most ``max_age`` seconds old.

        Use it as ``Security(bearer.requires_recent_login(300), scopes=[...])``
        (or with ``Depends``); it gives the :class:`~tokenauth.Authenticated`
        result. The route's scopes are checked first (403), then the login's
        age (401 ``insufficient_user_authentication`` with ``max_age``, RFC 9470).
        OpenAPI shows the bearer scheme and the scopes as for ``bearer`` itself.

        Raises:
            ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
        """
        return _recent_login_dependency(self, self.auth.login_age_requirement(max_age).max_age)


def _recent_login_dependency(bearer: BearerAuth, max_age: int) -> Any:
    # A function for the same reason as _user_dependency: FastAPI sees the bearer
    # scheme, and the route's scopes, through the annotation.
    async def recent_login(who: Annotated[Authenticated, Security(bearer)]) -> Authenticated:
        outcome = bearer.auth.require_recent_login(who, max_age=max_age)
        if not isinstance(outcome, Authenticated):
            raise TokenAuthFailed(outcome)
        return outcome

    return recent_login


def _user_dependency(bearer: BearerAuth) -> Any:
    # A function, so that FastAPI sees the bearer scheme (and the route's scopes,
    # which reach it as its security_scopes) through the annotation.
    async def current_user(
        request: Request, who: Annotated[Authenticated, Security(bearer)]
    ) -> Any:
        return await bearer.load_user(request, who)

    return current_user


class BasicLogin(SecurityBase):
    """A dependency that logs in with HTTP Basic credentials, shown in OpenAPI as HTTP basic.

    Returns the :class:`~tokenauth.Granted` result; answer with
    :func:`result_response` so that the token goes out with ``Cache-Control: no-store``.

    Args:
        auth: The configured front door.
        scheme_name: The security scheme's name in OpenAPI.
        description: Shown next to the scheme on the docs page.
    """

    def __init__(
        self,
        auth: AsyncTokenAuth,
        *,
        scheme_name: str = "basicAuth",
        description: str | None = "A username and password, or an API key and no password.",
    ) -> None:
        """Configure; see the class docstring."""
        self.auth = auth
        self.model = HTTPBaseModel(scheme="basic", description=description)
        self.scheme_name = scheme_name

    async def __call__(self, request: Request) -> Granted:
        """Log in (or refresh: a ``POST`` with a form body), or raise :class:`TokenAuthFailed`."""
        content_type = request.headers.get("content-type")
        result: LoginResult | RefreshResult
        if is_refresh_request(request.method, content_type):
            body = await read_body(request.receive)
            result = await self.auth.refresh(
                request_of(request.scope), body=body, content_type=content_type
            )
        else:
            result = await self.auth.login(request_of(request.scope))
        if not isinstance(result, Granted):
            raise TokenAuthFailed(result)
        return result


_TOKEN_EXAMPLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A token",
        "content": {
            "application/json": {
                "example": {"token": "eyJhbGciOiJSUzI1NiIs...", "token_type": "Bearer",
                            "expires_in": 3600},
            }
        },
    },
    400: {"description": "Malformed credentials"},
    401: {"description": "Wrong credentials"},
}  # fmt: skip


_LOGIN_ROUTE_HELP = (
    "HTTP Basic credentials (a username and password, or an API key and no password) "
    "for a token. With refresh tokens on, a POST with the form body "
    "grant_type=refresh_token&refresh_token=... trades a refresh token instead."
)


def auth_router(
    auth: AsyncTokenAuth,
    *,
    token_path: str = "/token",  # noqa: S107 - a URL path, not a password
    logout_path: str | None = "/logout",
    jwks_path: str | None = "/.well-known/jwks.json",
    tags: list[str] | None = None,
) -> APIRouter:
    """Login (``GET``/``POST``), logout and JWKS routes, documented in OpenAPI.

    Args:
        auth: The configured front door.
        token_path: The login route.
        logout_path: The logout route, or None for none.
        jwks_path: The JWKS route, or None for none.
        tags: OpenAPI tags for the routes (default ``["auth"]``).

    Returns:
        A router to ``include_router`` in the app (call :func:`install` too).
    """
    router = APIRouter(tags=list(tags or ["auth"]))
    login = BasicLogin(auth)
    bearer = BearerAuth(auth)

    async def token(granted: Annotated[Granted, Depends(login)]) -> Response:
        return result_response(granted)

    # One route per method: OpenAPI wants a distinct operation id for each.
    for method in ("POST", "GET"):
        router.add_api_route(
            token_path, token, methods=[method], summary="Log in for a token",
            operation_id=f"tokenauth_login_{method.lower()}", responses=_TOKEN_EXAMPLE,
            description=_LOGIN_ROUTE_HELP,
            response_class=Response,
        )  # fmt: skip
    if logout_path is not None:

        async def logout(who: Annotated[Authenticated, Depends(bearer)]) -> Response:
            return result_response(await auth.logout(who.token))

        router.add_api_route(
            logout_path, logout, methods=["POST"], summary="Revoke this token",
            status_code=204, response_class=Response,
        )  # fmt: skip
    if jwks_path is not None:

        async def jwks() -> dict[str, Any]:
            return auth.keys.jwks()

        router.add_api_route(jwks_path, jwks, methods=["GET"], summary="The public keys")
    return router
