"""The 429, shed-503 and step-up rows of the HTTP contract, through the ASGI binding over TLS."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import require_redis
from tokenauth import Limit, LoginThrottle, MemoryCounters, StepUpRequired, open_async_counters
from tokenauth_asgi import Receive, Scope, Send, TokenAuthApp, authenticated

from .support import TLS, World, basic, make_world, serve

JSON = "application/json"


def _counters(kind: str, folder: Path) -> Any:
    if kind == "memory":
        return MemoryCounters()
    if kind == "sqlite":
        from tokenauth_sqlalchemy import init_db

        init_db(f"sqlite:///{folder / 'counters.db'}")
        return open_async_counters(f"sqlite+aiosqlite:///{folder / 'counters.db'}")
    url = require_redis()
    return open_async_counters(f"{url}?prefix=tokenauth-test:{uuid.uuid4().hex}:")


def _app(world: World, loops: list[asyncio.AbstractEventLoop] | None = None) -> Any:
    async def sensitive(scope: Scope, receive: Receive, send: Send) -> None:
        """A path that needs a login at most 60 seconds old."""
        found = authenticated(scope)
        assert found is not None
        outcome = world.auth.authorize(found, max_age=60)
        status, headers, body = 200, [(b"content-type", b"text/plain")], b"ok"
        if isinstance(outcome, StepUpRequired):
            status = outcome.status
            headers = [(k.lower().encode(), v.encode()) for k, v in outcome.headers]
            body = outcome.body
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    app = TokenAuthApp(world.auth, sensitive)

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        # The server's event loop, to close async counters on at the end.
        if loops is not None and not loops:
            loops.append(asyncio.get_running_loop())
        await app(scope, receive, send)

    return recording


@pytest.fixture(params=["memory", "redis", "sqlite"])
def throttled(request: pytest.FixtureRequest, tls: TLS, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server whose logins are throttled at 3 per account, counters in memory, Redis or SQL."""
    counters = _counters(request.param, tmp_path)
    world = make_world(throttle=LoginThrottle(counters, per_account=Limit(3, 60)))
    loops: list[asyncio.AbstractEventLoop] = []
    with (
        serve(_app(world, loops), tls=tls) as url,
        httpx.Client(base_url=url, verify=tls.client_context, timeout=10) as client,
    ):
        client.get("/sensitive")  # the server's event loop, for closing the counters on it
        yield client
        if hasattr(counters, "aclose"):
            asyncio.run_coroutine_threadsafe(counters.aclose(), loops[0]).result(5)


def test_a_fourth_failure_gets_429_with_retry_after(throttled: httpx.Client) -> None:
    """Three wrong passwords are 401; the next login is 429 with Retry-After, even a good one."""
    for _ in range(3):
        assert (
            throttled.post("/token", headers={"Authorization": basic("alice", "no")}).status_code
            == 401
        )
    response = throttled.post("/token", headers={"Authorization": basic("alice", "correct horse")})
    assert response.status_code == 429
    assert response.headers["content-type"] == JSON
    assert response.headers["cache-control"] == "no-store"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "www-authenticate" not in response.headers
    assert response.json()["error"] == "too_many_requests"


def test_unknown_accounts_get_the_same_429(throttled: httpx.Client) -> None:
    """An account that does not exist is throttled with the same bytes as one that does."""
    answers = []
    for user in ("alice", "nobody-here"):
        for _ in range(3):
            throttled.post("/token", headers={"Authorization": basic(user, "no")})
        answers.append(throttled.post("/token", headers={"Authorization": basic(user, "no")}))
    real, made_up = answers
    assert real.status_code == made_up.status_code == 429
    assert real.content == made_up.content
    assert real.headers["retry-after"] == made_up.headers["retry-after"]


@pytest.fixture
def shedding(tls: TLS) -> Iterator[tuple[httpx.Client, World]]:
    """A server that has learned a password hash takes 10 s: past the 3 s bound."""
    world = make_world(max_login_wait=3.0)
    for _ in range(100):
        world.auth.hash_queue.observe(10.0)
    with (
        serve(_app(world), tls=tls) as url,
        httpx.Client(base_url=url, verify=tls.client_context, timeout=10) as client,
    ):
        yield client, world


def test_a_shed_login_gets_503_with_retry_after_and_validation_goes_on(
    shedding: tuple[httpx.Client, World],
) -> None:
    """Password logins get 503 at once; API-key logins and validations are not shed."""
    client, world = shedding
    response = client.post("/token", headers={"Authorization": basic("alice", "correct horse")})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    granted = client.post("/token", headers={"Authorization": basic(world.api_key)})
    assert granted.status_code == 200
    token = granted.json()["token"]
    assert client.get("/sensitive", headers={"Authorization": f"Bearer {token}"}).text == "ok"


def test_an_old_login_gets_the_rfc_9470_challenge(tls: TLS) -> None:
    """A path needing a login at most 60 s old answers an older one with 401 and max_age."""
    world = make_world()
    with (
        serve(_app(world), tls=tls) as url,
        httpx.Client(base_url=url, verify=tls.client_context, timeout=10) as client,
    ):
        token = client.post("/token", headers={"Authorization": basic(world.api_key)}).json()[
            "token"
        ]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/sensitive", headers=bearer).status_code == 200
        world.clock.advance(61)
        response = client.get("/sensitive", headers=bearer)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="test-api", error="insufficient_user_authentication"')
    assert challenge.endswith('max_age="60"')
    assert json.loads(response.content)["error"] == "insufficient_user_authentication"
