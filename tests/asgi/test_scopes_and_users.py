"""Scopes and the current user in FastAPI, Starlette and Litestar, over uvicorn and TLS.

Each framework's idiom (FastAPI ``Security(..., scopes=...)``, tokenauth's
``@requires`` for Starlette, a Litestar guard) answers exactly as the core
decides: the right scope gets 200, a missing one 403 with the RFC 6750
``insufficient_scope`` challenge and body, no token 401; and the current user
is the object the application's user loader returned.
"""

# No `from __future__ import annotations`: FastAPI and Litestar read the handlers'
# annotations at runtime, and some name objects local to the app factories.
import asyncio
import warnings
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Security
from litestar import Litestar, Request, get
from litestar.middleware import DefineMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokenauth import Authenticated, InsufficientScope, Unauthorized, new_user
from tokenauth_asgi import LoginEndpoint, TokenAuthMiddleware, TokenEndpoints, current_user
from tokenauth_asgi.fastapi import BearerAuth, auth_router, install
from tokenauth_asgi.litestar import exception_handlers, requires_scopes
from tokenauth_asgi.starlette import requires

from .support import FAST_HASHER, REALM, World, make_world

ADMIN_REFUSAL = InsufficientScope.make(REALM, ("admin",))


@dataclass(frozen=True)
class AppUser:
    """The application's own user object, which the loader returns."""

    username: str
    name: str


USERS = {"root": AppUser("root", "Rita Root"), "alice": AppUser("alice", "Alice")}


async def load_user(subject: str) -> AppUser | None:
    await asyncio.sleep(0)  # an async loader, as a database lookup would be
    return USERS.get(subject)


@pytest.fixture(scope="module")
def world() -> World:
    made = make_world()
    made.users.add_user(new_user("root", "pw", now=0, scope=("admin", "read"), hasher=FAST_HASHER))
    made.users.add_user(new_user("ghost", "pw", now=0, scope=("admin",), hasher=FAST_HASHER))
    return made


def _token(world: World, user: str, password: str) -> str:
    granted = asyncio.run(
        world.auth.login(httpx.BasicAuth(user, password)._auth_header, secure=True)
    )
    return granted.token  # type: ignore[union-attr]


def check_scoped(client: httpx.Client, world: World, path: str = "/admin") -> None:
    """The four answers every framework must give on a path that needs ``admin``."""
    root = {"Authorization": f"Bearer {_token(world, 'root', 'pw')}"}
    alice = {"Authorization": f"Bearer {_token(world, 'alice', 'correct horse')}"}
    allowed = client.get(path, headers=root)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"name": "Rita Root"}  # the loader's user object
    refused = client.get(path, headers=alice)
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="admin"'
    )
    assert refused.content == ADMIN_REFUSAL.body
    assert refused.json() == {
        "error": "insufficient_scope",
        "error_description": "The token needs the scope admin.",
    }
    missing = client.get(path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    ghost = client.get(path, headers={"Authorization": f"Bearer {_token(world, 'ghost', 'pw')}"})
    assert ghost.status_code == 401  # a valid token whose subject the loader does not know
    assert ghost.content == Unauthorized.unknown_subject(REALM).body


# -- FastAPI ------------------------------------------------------------------------------------


def _fastapi_app(world: World) -> FastAPI:
    app = FastAPI()
    install(app)
    app.include_router(auth_router(world.auth))
    bearer = BearerAuth(world.auth, user_loader=load_user)

    @app.get("/admin")
    async def admin(user: Annotated[AppUser, Security(bearer.user, scopes=["admin"])]) -> Any:
        return {"name": user.name}

    @app.get("/reports")
    async def reports(who: Annotated[Authenticated, Security(bearer, scopes=["read"])]) -> Any:
        return {"sub": who.principal.subject}

    return app


def test_fastapi_security_scopes_are_enforced(world: World, client_of: Any) -> None:
    client = client_of(_fastapi_app(world))
    check_scoped(client, world)
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/admin"]["get"]["security"] == [{"bearerAuth": ["admin"]}]
    assert spec["paths"]["/reports"]["get"]["security"] == [{"bearerAuth": ["read"]}]
    root = {"Authorization": f"Bearer {_token(world, 'root', 'pw')}"}
    assert client.get("/reports", headers=root).json() == {"sub": "root"}


# -- Starlette ----------------------------------------------------------------------------------


@requires("admin")
async def _admin(request: StarletteRequest) -> JSONResponse:
    assert current_user(request.scope) is request.user
    return JSONResponse({"name": request.user.name})


@requires(["admin", "read"], any_of=True)
def _either(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"name": request.user.name})


def test_starlette_requires_answers_the_rfc6750_way(world: World, client_of: Any) -> None:
    app = Starlette(
        routes=[
            Route("/token", LoginEndpoint(world.auth), methods=["GET", "POST"]),
            Route("/admin", _admin),
            Route("/either", _either),
        ],
        middleware=[
            Middleware(
                TokenAuthMiddleware, auth=world.auth, exclude=["/token"], optional=["/admin"],
                user_loader=load_user,
            )
        ],
    )  # fmt: skip
    client = client_of(app)
    check_scoped(client, world)
    alice = {"Authorization": f"Bearer {_token(world, 'alice', 'correct horse')}"}
    either = client.get("/either", headers=alice)
    assert either.status_code == 403
    assert 'scope="admin read"' in either.headers["www-authenticate"]
    assert either.json()["error_description"] == "The token needs one of these scopes: admin read."


# -- Litestar -----------------------------------------------------------------------------------


def _litestar_app(world: World) -> Litestar:
    @get("/admin", guards=[requires_scopes("admin")])
    async def admin(request: Request[Any, Any, Any]) -> dict[str, str]:
        return {"name": request.user.name}

    return Litestar(
        route_handlers=[admin],
        middleware=[
            # Litestar types scopes as TypedDicts, ASGI middleware as MutableMappings: the
            # same dicts at runtime.
            DefineMiddleware(
                TokenAuthMiddleware,  # type: ignore[arg-type]
                auth=world.auth,
                user_loader=load_user,
                optional=["/admin"],
            )
        ],
        exception_handlers=exception_handlers(),
    )


def test_litestar_guard(world: World, client_of: Any) -> None:
    check_scoped(client_of(_litestar_app(world)), world)


# -- the plain-ASGI pieces ----------------------------------------------------------------------


def test_endpoints_app_runs_lifespan_for_testclient(world: World) -> None:
    """TestClient(app) as a context manager runs the lifespan, which the endpoints complete."""
    with warnings.catch_warnings():
        # This Starlette asks for httpx2 over httpx; the client works the same with either.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    with TestClient(TokenEndpoints(world.auth), base_url="https://testserver") as client:
        assert client.get("/nowhere").status_code == 404
        assert client.get("/.well-known/jwks.json").status_code == 200
    with TestClient(TokenEndpoints(world.auth), base_url="http://testserver") as client:
        assert client.get("/.well-known/jwks.json").json()["error"] == "https_required"
    from tokenauth_asgi._demo import demo_app

    with TestClient(demo_app(world.auth), base_url="https://testserver") as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_optional_paths_outside_the_secured_ones_still_check_a_token(world: World) -> None:
    """An optional prefix is checked when a token comes, even where paths= does not reach."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_user(scope))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = TokenAuthMiddleware(app, world.auth, paths=["/api"], optional=["/blog"])
    root = f"Bearer {_token(world, 'root', 'pw')}"
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    for authorization in (None, root, "Bearer not-a-token"):
        headers = [] if authorization is None else [(b"authorization", authorization.encode())]
        scope = {"type": "http", "scheme": "https", "path": "/blog/x", "headers": headers}
        sent.clear()
        asyncio.run(middleware(scope, receive, send))
        seen.append(sent[0]["status"])
    assert seen[0] is None  # no token: anonymous
    assert seen[2].display_name == "root"
    assert seen[4] == 401  # a bad token on an optional path is still refused


def test_old_name_still_imports_with_a_warning() -> None:
    import tokenauth_asgi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = tokenauth_asgi.BearerAuthMiddleware
    assert old is TokenAuthMiddleware
    assert "TokenAuthMiddleware" in str(caught[0].message)
