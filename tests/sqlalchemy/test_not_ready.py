"""An SQL store without its tables stops start-up with the fix, and /health says it is down."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from tokenauth import (
    AsyncTokenAuth,
    ConfigurationError,
    KeySet,
    MemoryStore,
    TokenAuth,
    open_async_store,
    open_store,
)
from tokenauth_asgi import TokenAuthApp
from tokenauth_sqlalchemy import init_db
from tokenauth_wsgi import TokenEndpoints

KEYS = KeySet.generate("ES256")
FIX = "tokenauth db init --store URL"


def test_wsgi_endpoints_refuse_to_start_on_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    auth = TokenAuth(keys=KEYS, store=open_store(url))
    with pytest.raises(ConfigurationError, match="tables are missing") as raised:
        TokenEndpoints(auth)
    assert FIX in str(raised.value)
    init_db(url)
    TokenEndpoints(auth)  # set up: starts


def test_wsgi_health(tmp_path: Path) -> None:
    down = TokenAuth(keys=KEYS, store=open_store(f"sqlite:///{tmp_path / 'fresh.db'}"))
    up = TokenAuth(keys=KEYS, store=MemoryStore())
    for auth, status, body in (
        (down, 503, b'{"status":"unavailable"}'),
        (up, 200, b'{"status":"ok"}'),
    ):
        client = Client(TokenEndpoints(auth, health_path="/health", check=False))
        reply = client.get("/health", base_url="https://localhost")
        assert (reply.status_code, reply.data) == (status, body)
        assert reply.headers["Cache-Control"] == "no-store"
        assert client.get("/health", base_url="http://localhost").status_code == 403


async def _lifespan(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def test_asgi_startup_fails_on_a_fresh_database_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    async def start_twice() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        store = open_async_store(url)
        auth = AsyncTokenAuth(keys=KEYS, store=store)
        try:
            failed = await _lifespan(TokenAuthApp(auth))
            await asyncio.to_thread(init_db, url)
            started = await _lifespan(TokenAuthApp(auth))
        finally:
            await store.aclose()
        return failed, started

    failed, started = asyncio.run(start_twice())
    assert [m["type"] for m in failed] == ["lifespan.startup.failed"]
    assert FIX in failed[0]["message"]
    # Set up, the start-up goes on to the app behind, which completes it.
    assert [m["type"] for m in started] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_asgi_health(tmp_path: Path) -> None:
    async def probe() -> tuple[int, bytes, int]:
        store = open_async_store(f"sqlite:///{tmp_path / 'f.db'}")
        app = TokenAuthApp(
            AsyncTokenAuth(keys=KEYS, store=store), health_path="/health", check=False
        )
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
                reply = await client.get("/health")
                plain = await client.get("http://test/health")
        finally:
            await store.aclose()
        return reply.status_code, reply.content, plain.status_code

    assert asyncio.run(probe()) == (503, b'{"status":"unavailable"}', 403)
