"""FastAPI, Starlette and Litestar idioms, each served by uvicorn over TLS and called with httpx."""

# No `from __future__ import annotations`: FastAPI and Litestar read the handlers'
# annotations at runtime, and some name objects local to the app factories.
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from litestar import Litestar, Request, asgi, get
from litestar.middleware import DefineMiddleware
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokenauth import Authenticated, new_user
from tokenauth_asgi import LoginEndpoint, LogoutEndpoint, Receive, Scope, Send, TokenAuthMiddleware
from tokenauth_asgi.fastapi import BearerAuth, auth_router, install

from .support import FAST_HASHER, REALM, TLS, World, make_world, serve


@pytest.fixture(scope="module")
def world() -> World:
    made = make_world()
    made.users.add_user(new_user("reader", "pw", now=0, scope=("read",), hasher=FAST_HASHER))
    return made


def _client(url: str, tls: TLS) -> httpx.Client:
    return httpx.Client(base_url=url, verify=tls.client_context, timeout=10)


def _login(client: httpx.Client, user: str = "alice", password: str = "correct horse") -> str:
    response = client.post("/token", auth=(user, password))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    token: str = response.json()["token"]
    return token


# -- FastAPI ------------------------------------------------------------------------------------


def _fastapi_app(world: World, *, installed: bool = True) -> FastAPI:
    app = FastAPI()
    if installed:
        install(app)
    app.include_router(auth_router(world.auth))
    bearer = BearerAuth(world.auth)

    @app.get("/me")
    async def me(who: Annotated[Authenticated, Depends(bearer)]) -> dict[str, object]:
        return {**who.claims.to_json(), "method": who.principal.method}

    return app


@pytest.fixture(scope="module")
def fastapi_client(world: World, tls: TLS) -> Iterator[httpx.Client]:
    with serve(_fastapi_app(world), tls=tls) as url, _client(url, tls) as client:
        yield client


def test_fastapi_login_me_logout(fastapi_client: httpx.Client, world: World) -> None:
    token = _login(fastapi_client)
    bearer = {"Authorization": f"Bearer {token}"}
    me = fastapi_client.get("/me", headers=bearer)
    assert me.status_code == 200
    assert me.json()["sub"] == "alice"
    api_token = fastapi_client.get("/token", auth=(world.api_key, "")).json()["token"]
    via_query = fastapi_client.get(f"/me?token={api_token}")
    assert via_query.json()["method"] == "api_key"
    assert fastapi_client.post("/logout", headers=bearer).status_code == 204
    again = fastapi_client.get("/me", headers=bearer)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_token"


def test_fastapi_failures_are_rendered_exactly_as_the_contract_says(
    fastapi_client: httpx.Client,
) -> None:
    wrong = fastapi_client.post("/token", auth=("alice", "nope"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == f'Basic realm="{REALM}", charset="UTF-8"'
    assert wrong.json()["error"] == "invalid_credentials"
    assert set(wrong.json()) == {"error", "error_description"}
    assert fastapi_client.post("/token").json()["error"] == "invalid_request"
    missing = fastapi_client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    malformed = fastapi_client.get("/me?token=a&token=b")
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["www-authenticate"]


def test_fastapi_openapi_offers_basic_and_bearer_to_the_authorize_button(
    fastapi_client: httpx.Client,
) -> None:
    spec = fastapi_client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basicAuth"]["type"] == "http"
    assert schemes["basicAuth"]["scheme"] == "basic"
    assert schemes["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A token from the login endpoint.",
    }  # fmt: skip
    assert spec["paths"]["/token"]["post"]["security"] == [{"basicAuth": []}]
    assert spec["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/logout"]["post"]["security"] == [{"bearerAuth": []}]
    assert fastapi_client.get("/docs").status_code == 200


def test_fastapi_without_install_keeps_status_and_challenge(world: World, tls: TLS) -> None:
    with serve(_fastapi_app(world, installed=False), tls=tls) as url, _client(url, tls) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    detail = {"error": "unauthorized", "error_description": "A bearer token is required."}
    assert response.json() == {"detail": detail}


def test_fastapi_over_plain_http_is_refused(world: World) -> None:
    with serve(_fastapi_app(world), tls=None) as url:
        response = httpx.post(f"{url}/token", auth=("alice", "correct horse"))
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"


# -- Starlette ----------------------------------------------------------------------------------


async def _whoami(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "scopes": request.auth.scopes})


@requires("read")
async def _reports(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"reports": [], "for": request.user.display_name})


async def _health(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"authenticated": request.user.is_authenticated})


def test_starlette_request_user_and_requires(world: World, tls: TLS) -> None:
    app = Starlette(
        routes=[
            Route("/token", LoginEndpoint(world.auth), methods=["GET", "POST"]),
            Route("/logout", LogoutEndpoint(world.auth), methods=["POST"]),
            Route("/me", _whoami),
            Route("/reports", _reports),
            Route("/health", _health),
        ],
        middleware=[
            Middleware(TokenAuthMiddleware, auth=world.auth, exclude=["/token", "/health"])
        ],
    )
    with serve(app, tls=tls) as url, _client(url, tls) as client:
        alice = {"Authorization": f"Bearer {_login(client)}"}
        reader = {"Authorization": f"Bearer {_login(client, 'reader', 'pw')}"}
        assert client.get("/me", headers=alice).json() == {"user": "alice", "scopes": []}
        assert client.get("/me", headers=reader).json() == {"user": "reader", "scopes": ["read"]}
        assert client.get("/reports", headers=alice).status_code == 403
        assert client.get("/reports", headers=reader).json()["for"] == "reader"
        assert client.get("/health").json() == {"authenticated": False}
        refused = client.get("/me")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
        assert client.post("/logout", headers=alice).status_code == 204
        assert client.get("/me", headers=alice).status_code == 401


# -- Litestar -----------------------------------------------------------------------------------


def _litestar_app(world: World) -> Litestar:
    login = LoginEndpoint(world.auth)

    @asgi("/token", copy_scope=True)
    async def token(scope: Scope, receive: Receive, send: Send) -> None:
        await login(scope, receive, send)

    @get("/me")
    async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
        found = request.scope.get("tokenauth")
        assert isinstance(found, Authenticated)
        return {"user": request.user.display_name, "jti": found.claims.jti}

    return Litestar(
        route_handlers=[token, me],
        middleware=[
            # Litestar types scopes as TypedDicts, ASGI middleware as MutableMappings: the
            # same dicts at runtime.
            DefineMiddleware(
                TokenAuthMiddleware,  # type: ignore[arg-type]
                auth=world.auth,
                exclude=["/token"],
            )
        ],
    )


def test_litestar_middleware_and_request_user(world: World, tls: TLS) -> None:
    with serve(_litestar_app(world), tls=tls) as url, _client(url, tls) as client:
        token = _login(client)
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["user"] == "alice"
        refused = client.get("/me", headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
