"""WebSocket handshakes through a real server: uvicorn over TLS, and a real WebSocket client.

A refused handshake gets the contract's answer on the wire (uvicorn supports the
``websocket.http.response`` extension): 401 with the Bearer challenge for a
missing or bad token, 503 when the store is down; a valid token is let through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tokenauth import Granted
from tokenauth_asgi import TokenAuthMiddleware, authenticated
from tokenauth_asgi._types import Receive, Scope, Send

from .support import TLS, World, basic, make_world, serve


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A WebSocket app that greets the authenticated subject, then echoes one message."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    result = authenticated(scope)
    assert result is not None
    await send({"type": "websocket.send", "text": f"hello {result.principal.subject}"})
    message = await receive()
    await send({"type": "websocket.send", "text": message.get("text", "")})
    await send({"type": "websocket.close", "code": 1000})


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def server(world: World, tls: TLS) -> Iterator[str]:
    app = TokenAuthMiddleware(echo, auth=world.auth)
    with serve(app, tls=tls, ws="websockets-sansio") as url:
        yield url.replace("https://", "wss://")


def _token(world: World) -> str:
    granted = asyncio.run(world.auth.login(basic("alice", "correct horse"), secure=True))
    assert isinstance(granted, Granted), granted
    return granted.token


def _refused(url: str, tls: TLS, **headers: str) -> Any:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, ssl=tls.client_context, additional_headers=headers, open_timeout=10)
    return refused.value.response


def test_handshake_without_token_is_refused_401(server: str, tls: TLS) -> None:
    """No token: the server answers the handshake 401 with the bare Bearer challenge."""
    response = _refused(f"{server}/ws", tls)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_handshake_with_bad_token_is_refused_401_invalid_token(
    server: str, tls: TLS, world: World
) -> None:
    """A tampered token: 401 invalid_token, with the contract's JSON body."""
    bad = _token(world)[:-2] + "AA"
    response = _refused(f"{server}/ws?token={bad}", tls)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert json.loads(response.body)["error"] == "invalid_token"


def test_handshake_with_malformed_header_is_refused_400(server: str, tls: TLS) -> None:
    """A scheme without a token: 400 invalid_request."""
    response = _refused(f"{server}/ws", tls, Authorization="Bearer")
    assert response.status_code == 400


def test_handshake_while_the_store_is_down_is_refused_503(
    server: str, tls: TLS, world: World
) -> None:
    """Store unreachable: 503, never a connection accepted without the store check."""
    token = _token(world)
    world.store.down = True
    try:
        response = _refused(f"{server}/ws?token={token}", tls)
    finally:
        world.store.down = False
    assert response.status_code == 503


def test_handshake_with_valid_token_is_accepted(server: str, tls: TLS, world: World) -> None:
    """A valid token in the query (browsers cannot set headers): the app sees the principal."""
    token = _token(world)
    with connect(f"{server}/ws?token={token}", ssl=tls.client_context, open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "hello alice"
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"
