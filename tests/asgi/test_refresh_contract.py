"""The refresh-token rows of the HTTP contract, over TLS on uvicorn, on every store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.redis.conftest import fresh_prefixes
from tests.services import REDIS_URL, require_redis
from tests.sqlalchemy.conftest import make_db
from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    generate_api_key,
    new_user,
    open_async_store,
)
from tokenauth.testing import FrozenClock
from tokenauth_asgi import Receive, Scope, Send, TokenAuthApp, authenticated

from .support import FAST_HASHER, PEPPER, TLS, basic, serve

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
KEYS = KeySet.generate("ES256")
STORES = ["memory", "sqlite", "postgresql", "mariadb", "redis"]


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    found = authenticated(scope)
    assert found is not None
    body = found.principal.subject.encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


class Server:
    def __init__(self, auth: AsyncTokenAuth, clock: FrozenClock, https: str, http: str) -> None:
        self.auth, self.clock = auth, clock
        self.https, self.http = https, http


@pytest.fixture(params=STORES)
def server(request: pytest.FixtureRequest, tls: TLS, tmp_path: Path) -> Iterator[Server]:
    name = request.param
    cleanup: list[Any] = []
    if name == "memory":
        shared = AsyncMemoryStore()
        stores: list[Any] = [shared, shared]
    elif name == "redis":
        url = require_redis(REDIS_URL)
        prefixes = fresh_prefixes(url, redis.Redis.from_url(url))
        cleanup.append(prefixes)
        store_url = prefixes.__enter__()()
        stores = [open_async_store(store_url), open_async_store(store_url)]
    else:
        db = make_db(name, tmp_path)
        cleanup.append(db)
        # One store per server: each uvicorn runs its own event loop, where an
        # async driver's connections must stay.
        stores = [open_async_store(db.async_url), open_async_store(db.async_url)]
    clock = FrozenClock(1_800_000_000)
    users, api_keys = MemoryUserRegistry(), MemoryApiKeyRegistry()
    users.add_user(new_user("alice", "correct horse", now=1, hasher=FAST_HASHER))
    _key, record = generate_api_key(subject="billing", name="cron", pepper=PEPPER, now=1)
    api_keys.add_key(record)
    doors = [
        AsyncTokenAuth(
            keys=KEYS,
            store=store,
            users=users,
            api_keys=api_keys,
            pepper=PEPPER,
            hasher=FAST_HASHER,
            clock=clock,
            refresh_ttl=600,
            session_lifetime=3600,
        )
        for store in stores
    ]
    apps = [_closing(door) for door in doors]
    try:
        with serve(apps[0], tls=tls) as https, serve(apps[1], tls=None) as http:
            yield Server(doors[0], clock, https, http)
            with httpx.Client(base_url=https, verify=tls.client_context) as closer:
                closer.post("/test-close")
            if stores[1] is not stores[0]:
                with httpx.Client(base_url=http) as closer:
                    closer.post("/test-close")
    finally:
        for item in cleanup:
            if hasattr(item, "drop"):
                item.drop()
                item.engine.dispose()
            else:
                item.__exit__(None, None, None)


def _closing(auth: AsyncTokenAuth) -> Any:
    secured = TokenAuthApp(auth, whoami)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # The store closes on the server's own event loop, where its connections live.
        if scope["type"] == "http" and scope["path"] == "/test-close":
            await auth.store.aclose()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await secured(scope, receive, send)

    return app


@pytest.fixture
def client(server: Server, tls: TLS) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.https, verify=tls.client_context, timeout=10) as client:
        yield client


def login(client: httpx.Client) -> dict[str, Any]:
    answer = client.post("/token", headers={"Authorization": basic("alice", "correct horse")})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def refresh(client: httpx.Client, token: str, **extra: str) -> httpx.Response:
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


def check_no_store(answer: httpx.Response) -> None:
    assert answer.headers["cache-control"] == "no-store"


def test_refresh_valid_rotates(client: httpx.Client) -> None:
    """200, a new access token and a new refresh token; the old refresh token stops working."""
    first = login(client)
    assert set(first) == {"token", "token_type", "expires_in", "refresh_token"}
    answer = refresh(client, first["refresh_token"])
    assert answer.status_code == 200, answer.text
    check_no_store(answer)
    body = answer.json()
    assert set(body) == {"token", "token_type", "expires_in", "refresh_token"}
    assert body["refresh_token"] != first["refresh_token"]
    assert body["token_type"] == "Bearer"
    used = client.get("/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert used.status_code == 200
    assert used.text == "alice"
    again = refresh(client, first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_reuse_revokes_the_whole_session(client: httpx.Client) -> None:
    """A reused refresh token: 400 invalid_grant, and every token of its login stops working."""
    first = login(client)
    other = login(client)
    second = refresh(client, first["refresh_token"]).json()
    third = refresh(client, second["refresh_token"]).json()
    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    check_no_store(reused)
    for token in (first["token"], second["token"], third["token"]):
        answer = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, "an access token outlived its session"
    assert refresh(client, third["refresh_token"]).status_code == 400
    mine = client.get("/me", headers={"Authorization": f"Bearer {other['token']}"})
    assert mine.status_code == 200, "another login of the same user was ended"


def test_unknown_and_expired_refresh_tokens(client: httpx.Client, server: Server) -> None:
    """Unknown or expired: 400 invalid_grant, the same body."""
    first = login(client)
    unknown = refresh(client, first["refresh_token"][:-4] + "AAAA")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_grant"
    server.clock.advance(601)
    expired = refresh(client, first["refresh_token"])
    assert expired.status_code == 400
    assert expired.json() == unknown.json()


@pytest.mark.parametrize(
    ("content", "headers", "error"),
    [
        (b"grant_type=refresh_token&refresh_token=a&refresh_token=b", FORM, "invalid_request"),
        (b"grant_type=refresh_token", FORM, "invalid_request"),
        (b"grant_type=password&username=alice", FORM, "unsupported_grant_type"),
        (b"grant_type=refresh_token&refresh_token=" + b"x" * 5000, FORM, "invalid_request"),
        (b"grant_type=refresh_token&refresh_token=%zz", FORM, "invalid_request"),
        (b'{"grant_type": "refresh_token"}', {"Content-Type": "application/json"},
         "invalid_request"),
    ],
)  # fmt: skip
def test_malformed_token_requests(
    client: httpx.Client, content: bytes, headers: dict[str, str], error: str
) -> None:
    """Malformed bodies: 400 with the RFC 6749 section 5.2 error, never cached."""
    answer = client.post("/token", content=content, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error
    check_no_store(answer)


def test_plain_http_refuses_and_revokes_the_session(client: httpx.Client, server: Server) -> None:
    """Over plain HTTP: 403 https_required, and the exposed refresh token's session ends."""
    first = login(client)
    with httpx.Client(base_url=server.http, timeout=10) as plain:
        answer = refresh(plain, first["refresh_token"])
    assert answer.status_code == 403
    assert answer.json()["error"] == "https_required"
    assert refresh(client, first["refresh_token"]).status_code == 400
    mine = client.get("/me", headers={"Authorization": f"Bearer {first['token']}"})
    assert mine.status_code == 401


def test_fastapi_router_serves_refresh(tls: TLS) -> None:
    """FastAPI's auth_router: the token route takes a refresh as TokenEndpoints does."""
    from fastapi import FastAPI

    from tokenauth_asgi.fastapi import auth_router, install

    users = MemoryUserRegistry()
    users.add_user(new_user("alice", "correct horse", now=1, hasher=FAST_HASHER))
    auth = AsyncTokenAuth(
        keys=KEYS, store=AsyncMemoryStore(), users=users, hasher=FAST_HASHER, refresh_ttl=True
    )
    app = FastAPI()
    install(app)
    app.include_router(auth_router(auth))
    with (
        serve(app, tls=tls) as https,
        httpx.Client(base_url=https, verify=tls.client_context, timeout=10) as client,
    ):
        first = login(client)
        answer = refresh(client, first["refresh_token"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        reused = refresh(client, first["refresh_token"])
        assert reused.status_code == 400
        assert reused.json() == {
            "error": "invalid_grant",
            "error_description": "The refresh token is invalid, expired or revoked.",
        }
        wrong = client.post("/token", content=b"grant_type=x", headers=FORM)
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "unsupported_grant_type"


def test_the_plain_http_listener_ends_an_exposed_session(tls: TLS) -> None:
    """HttpsRequiredApp (a plain-HTTP port): 403, and a refresh token in the body is ended."""
    from tokenauth_asgi import HttpsRequiredApp

    users = MemoryUserRegistry()
    users.add_user(new_user("alice", "correct horse", now=1, hasher=FAST_HASHER))
    auth = AsyncTokenAuth(
        keys=KEYS, store=AsyncMemoryStore(), users=users, hasher=FAST_HASHER, refresh_ttl=True
    )
    with (
        serve(TokenAuthApp(auth, whoami), tls=tls) as https,
        serve(HttpsRequiredApp(auth), tls=None) as http,
        httpx.Client(base_url=https, verify=tls.client_context, timeout=10) as client,
        httpx.Client(base_url=http, timeout=10) as plain,
    ):
        first = login(client)
        refused = refresh(plain, first["refresh_token"])
        assert refused.status_code == 403
        assert refused.json()["error"] == "https_required"
        assert refresh(client, first["refresh_token"]).status_code == 400
