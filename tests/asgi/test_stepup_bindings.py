"""Step-up (RFC 9470) in FastAPI, Starlette and Litestar, over uvicorn and TLS.

Each framework's idiom for "this path needs a login at most 60 s old" (a
FastAPI dependency, tokenauth's Starlette decorators, a Litestar guard) must
answer exactly as the core decides: a fresh login 200; an older one 401 with
the core's ``insufficient_user_authentication`` challenge, headers and body,
byte for byte; no token 401; and on a path that also needs a scope, the
missing scope first (403).
"""

# No `from __future__ import annotations`: FastAPI and Litestar read the handlers'
# annotations at runtime, and some name objects local to the app factories.
import asyncio
import warnings
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Security
from litestar import Litestar, Request, get
from litestar.middleware import DefineMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tokenauth import (
    Authenticated,
    ConfigurationError,
    Failure,
    InsufficientScope,
    StepUpRequired,
    Unauthorized,
    new_user,
)
from tokenauth_asgi import TokenAuthMiddleware, check_recent_login
from tokenauth_asgi.fastapi import BearerAuth, install
from tokenauth_asgi.litestar import exception_handlers, requires_recent_login, requires_scopes
from tokenauth_asgi.starlette import requires
from tokenauth_asgi.starlette import requires_recent_login as starlette_recent_login

from .support import FAST_HASHER, REALM, World, basic, make_world

STEP_UP = StepUpRequired.make(REALM, 60)
#: Headers a server adds on its own, which the core's result does not carry.
_SERVER_HEADERS = {"date", "server", "content-length"}


def assert_renders(response: httpx.Response, result: Failure) -> None:
    """``response`` is ``result`` as the core rendered it: status, every header, body."""
    assert response.status_code == result.status, response.text
    sent = {k.lower(): v for k, v in response.headers.items() if k.lower() not in _SERVER_HEADERS}
    assert sent == {k.lower(): v for k, v in result.headers}
    assert response.content == result.body


@pytest.fixture
def world() -> World:
    made = make_world()
    made.users.add_user(new_user("root", "pw", now=0, scope=("admin",), hasher=FAST_HASHER))
    return made


def _bearer(world: World, user: str, password: str) -> dict[str, str]:
    granted = asyncio.run(world.auth.login(basic(user, password), secure=True))
    return {"Authorization": f"Bearer {granted.token}"}  # type: ignore[union-attr]


def check_step_up(client: httpx.Client, world: World, paths: tuple[str, ...] = ("/pay",)) -> None:
    """The answers every binding must give on ``paths`` (each needs a login <= 60 s old)."""
    root = _bearer(world, "root", "pw")
    for path in paths:
        fresh = client.get(path, headers=root)
        assert fresh.status_code == 200, fresh.text
        assert fresh.json() == {"sub": "root"}
        assert_renders(client.get(path), Unauthorized.no_token(REALM))
    world.clock.advance(60)
    for path in paths:
        assert client.get(path, headers=root).status_code == 200  # exactly max_age: still fresh
    world.clock.advance(1)
    for path in paths:
        assert_renders(client.get(path, headers=root), STEP_UP)
    # A fresh login gets through again: the client's way out of the 401.
    again = _bearer(world, "root", "pw")
    for path in paths:
        assert client.get(path, headers=again).status_code == 200


def check_scope_first(client: httpx.Client, world: World, path: str = "/admin-pay") -> None:
    """A path needing the admin scope and a recent login: the missing scope is answered first."""
    alice = _bearer(world, "alice", "correct horse")
    root = _bearer(world, "root", "pw")
    world.clock.advance(61)
    assert_renders(client.get(path, headers=alice), InsufficientScope.make(REALM, ("admin",)))
    assert_renders(client.get(path, headers=root), STEP_UP)


# -- FastAPI ------------------------------------------------------------------------------------


def _fastapi_app(world: World) -> FastAPI:
    app = FastAPI()
    install(app)
    bearer = BearerAuth(world.auth)

    @app.get("/pay")
    async def pay(who: Annotated[Authenticated, Depends(bearer.requires_recent_login(60))]) -> Any:
        return {"sub": who.principal.subject}

    @app.get("/admin-pay")
    async def admin_pay(
        who: Annotated[Authenticated, Security(bearer.requires_recent_login(60), scopes=["admin"])],
    ) -> Any:
        return {"sub": who.principal.subject}

    return app


def test_fastapi_recent_login_dependency(world: World, client_of: Any) -> None:
    client = client_of(_fastapi_app(world))
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/admin-pay"]["get"]["security"] == [{"bearerAuth": ["admin"]}]
    assert spec["paths"]["/pay"]["get"]["security"] == [{"bearerAuth": []}]
    check_step_up(client, world)
    check_scope_first(client, world)


def test_fastapi_refuses_a_nonsense_max_age_at_declaration(world: World) -> None:
    with pytest.raises(ConfigurationError, match="max_age"):
        BearerAuth(world.auth).requires_recent_login(-1)


# -- Starlette ----------------------------------------------------------------------------------


@starlette_recent_login(60)
async def _pay(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires(max_age=60)
def _pay_sync(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires("admin", max_age=60)
async def _admin_pay(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


async def _by_hand(request: StarletteRequest) -> Any:
    refusal = check_recent_login(request.scope, 60)
    if refusal is not None:
        from tokenauth_asgi.starlette import result_response

        return result_response(refusal)
    return JSONResponse({"sub": request.user.identity})


@starlette_recent_login(60)
async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("fresh")
    await websocket.close()


def _starlette_app(world: World) -> Starlette:
    return Starlette(
        routes=[
            Route("/pay", _pay),
            Route("/pay-sync", _pay_sync),
            Route("/pay-by-hand", _by_hand),
            Route("/admin-pay", _admin_pay),
            WebSocketRoute("/socket", _socket),
        ],
        middleware=[Middleware(TokenAuthMiddleware, auth=world.auth, optional=["/"])],
    )


def test_starlette_decorators_sync_async_and_by_hand(world: World, client_of: Any) -> None:
    client = client_of(_starlette_app(world))
    check_step_up(client, world, ("/pay", "/pay-sync", "/pay-by-hand"))
    check_scope_first(client, world)


def test_starlette_closes_a_websocket_whose_login_is_too_old(world: World) -> None:
    with warnings.catch_warnings():
        # This Starlette asks for httpx2 over httpx; the client works the same with either.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    root = _bearer(world, "root", "pw")
    with TestClient(_starlette_app(world), base_url="https://testserver") as client:
        with client.websocket_connect("wss://testserver/socket", headers=root) as socket:
            assert socket.receive_text() == "fresh"
        world.clock.advance(61)
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("wss://testserver/socket", headers=root) as socket,
        ):
            socket.receive_text()
    assert closed.value.code == 1008


def test_starlette_refuses_a_nonsense_max_age_at_declaration() -> None:
    for bad in (-1, 1.5, True, "60"):
        with pytest.raises(ConfigurationError, match="max_age"):
            requires(max_age=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="max_age"):
            starlette_recent_login(bad)  # type: ignore[arg-type]


# -- Litestar -----------------------------------------------------------------------------------


def _litestar_app(world: World) -> Litestar:
    @get("/pay", guards=[requires_recent_login(60)])
    async def pay(request: Request[Any, Any, Any]) -> dict[str, str]:
        return {"sub": request.user.identity}

    @get("/admin-pay", guards=[requires_scopes("admin", max_age=60)])
    async def admin_pay(request: Request[Any, Any, Any]) -> dict[str, str]:
        return {"sub": request.user.identity}

    return Litestar(
        route_handlers=[pay, admin_pay],
        middleware=[
            DefineMiddleware(
                TokenAuthMiddleware,  # type: ignore[arg-type]  # Litestar types scopes as TypedDicts
                auth=world.auth,
                optional=["/"],
            )
        ],
        exception_handlers=exception_handlers(),
    )


def test_litestar_guards(world: World, client_of: Any) -> None:
    client = client_of(_litestar_app(world))
    check_step_up(client, world)
    check_scope_first(client, world)


def test_litestar_refuses_a_nonsense_max_age_at_declaration() -> None:
    with pytest.raises(ConfigurationError, match="max_age"):
        requires_recent_login(366 * 86_400 + 1)
