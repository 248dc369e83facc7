"""The refresh-token rows of the HTTP contract through WSGI, Flask and Django, over TLS.

Each framework is served by cheroot over TLS (and plain HTTP), on every store.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.redis.conftest import fresh_prefixes
from tests.services import REDIS_URL, require_redis
from tests.sqlalchemy.conftest import make_db
from tests.wsgi.apps import PASSWORD, make_auth
from tests.wsgi.conftest import Site
from tokenauth import MemoryStore, TokenAuth, open_store
from tokenauth.testing import FrozenClock

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
STORES = ["memory", "sqlite", "postgresql", "mariadb", "redis"]


@pytest.fixture(params=STORES)
def auth(request: pytest.FixtureRequest, site: Site, tmp_path: Path) -> Iterator[TokenAuth]:
    db = prefixes = None
    if request.param == "memory":
        store: Any = MemoryStore()
    elif request.param == "redis":
        url = require_redis(REDIS_URL)
        prefixes = fresh_prefixes(url, redis.Redis.from_url(url))
        store = open_store(prefixes.__enter__()())
    else:
        db = make_db(request.param, tmp_path)
        store = open_store(db.url)
    try:
        yield site.mount(
            make_auth(store, FrozenClock(1_800_000_000), refresh_ttl=600, session_lifetime=3600)
        )
    finally:
        store.close()
        if db is not None:
            db.drop()
            db.engine.dispose()
        if prefixes is not None:
            prefixes.__exit__(None, None, None)


def login(client: httpx.Client, site: Site) -> dict[str, Any]:
    basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    answer = client.post(f"{site.https}/token", headers={"Authorization": basic})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def refresh(client: httpx.Client, base: str, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return client.post(f"{base}/token", data=data)


def me(client: httpx.Client, site: Site, token: str) -> int:
    return client.get(
        f"{site.https}/api/me", headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_refresh_rotates_and_reuse_ends_the_session(
    client: httpx.Client, site: Site, auth: TokenAuth
) -> None:
    """200 with a new pair; the old token then is a reuse: 400 and the session ends."""
    first = login(client, site)
    assert "refresh_token" in first
    answer = refresh(client, site.https, first["refresh_token"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    second = answer.json()
    assert set(second) == {"token", "token_type", "expires_in", "refresh_token"}
    assert me(client, site, second["token"]) == 200
    reused = refresh(client, site.https, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert me(client, site, second["token"]) == 401
    assert me(client, site, first["token"]) == 401
    assert refresh(client, site.https, second["refresh_token"]).status_code == 400


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"grant_type=refresh_token&refresh_token=a&refresh_token=b", "invalid_request"),
        (b"grant_type=client_credentials", "unsupported_grant_type"),
        (b"grant_type=refresh_token&refresh_token=" + b"x" * 5000, "invalid_request"),
        (b"grant_type=refresh_token&refresh_token=tkr_unknown", "invalid_grant"),
    ],
)
def test_bad_token_requests(
    client: httpx.Client, site: Site, auth: TokenAuth, content: bytes, error: str
) -> None:
    """Each is a 400 with its RFC 6749 section 5.2 error, never cached."""
    answer = client.post(f"{site.https}/token", content=content, headers=FORM)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error
    assert answer.headers["cache-control"] == "no-store"


def test_plain_http_refuses_and_ends_the_session(
    client: httpx.Client, site: Site, auth: TokenAuth
) -> None:
    """403 over plain HTTP, and the refresh token it exposed no longer works."""
    first = login(client, site)
    answer = refresh(client, site.http, first["refresh_token"])
    assert answer.status_code == 403
    assert answer.json()["error"] == "https_required"
    assert refresh(client, site.https, first["refresh_token"]).status_code == 400
    assert me(client, site, first["token"]) == 401
